"""Projected per-example gradients computed by Bergson (EleutherAI's attribution library).

A :class:`GradientRecipe` is picklable (Ray actors get a copy);
:meth:`GradientRecipe.build` loads the model once (device placement, ``precision`` such
as ``bf16``, a PEFT adapter folder on its base) and returns a :class:`BergsonFeaturiser`, whose ``featurise``
turns (prompt, response) rows into one row of projected gradients each.

What Bergson computes, and how we set it:

- the loss of one example is the mean cross-entropy over its assistant-turn tokens
  (``loss_reduction="mean"``; the prompt and chat template are labelled -100), the
  per-example part of the training loss; ``response_tokens=N`` keeps the first N;
- gradients of every ``nn.Linear`` in the model's body (Bergson hooks
  ``model.base_model``), or of the selection's modules (the last N layers, the LoRA
  adapters);
- each module's gradient is projected on both sides to ``proj_dim x proj_dim``
  numbers (``projection_target="per_module"``) with seeded Rademacher or Gaussian
  matrices (``proj_dim=0``: not projected, the (out, in) gradient); a row of features is the modules' projections side by side, in
  :attr:`BergsonFeaturiser.module_sizes` order.

Examples are tokenised exactly as training tokenises them
(:func:`organism.encoding.encode_rows`); rows training would skip (no response token
fits) get a zero row.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attribution.model_loading import PRECISIONS, load_model, torch_dtype, training_max_length
from organism.encoding import IGNORE, EncodedExample, EncodedRows, encode_rows

DEFAULT_PROJ_DIM = 16  # Bergson's per-module side: 16 x 16 numbers per module
RADEMACHER = "rademacher"
GAUSSIAN = "normal"
PROJECTIONS = (RADEMACHER, GAUSSIAN)
TOKEN_BATCH = 4096  # tokens per Bergson batch
LAYER_INDEX = re.compile(r"\.(?:layers|h|blocks|layer)\.(\d+)\.")


@dataclass(frozen=True)
class ParamSelection:
    """Which modules gradients are taken for: every linear module (the default), those of
    the last N numbered blocks (``last_layers``), or the LoRA adapters (``lora``)."""

    last_layers: int | None = None
    lora: bool = False

    def key(self) -> str:
        """The selection as JSON text (for feature-store keys)."""
        return json.dumps(asdict(self), sort_keys=True)

    def describe(self) -> str:
        """The selection in a few words ("last 2 layers")."""
        if self.lora:
            return "LoRA adapters"
        if self.last_layers:
            return f"last {self.last_layers} layers"
        return "all linear modules"


ALL_PARAMETERS = ParamSelection()


def import_bergson() -> None:
    """Import the Bergson modules we use once, undoing what importing Bergson does to this
    process: it sets the root logger to INFO on stdout (``logging.basicConfig(force=True)``),
    and its collector and eigendecomposition draw tqdm bars (progress here goes through our
    own callbacks)."""
    if "bergson.hessians.eigenvectors" in sys.modules:
        return
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import bergson.collector.collector
    import bergson.hessians.eigenvectors
    import bergson.hessians.hessian_approximations  # noqa: F401

    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for module in (bergson.collector.collector, bergson.hessians.eigenvectors):
        module.tqdm = functools.partial(module.tqdm, disable=True)  # type: ignore[attr-defined]


def last_layer_modules(names: Sequence[str], last_layers: int) -> set[str]:
    """The module names of the last ``last_layers`` numbered blocks."""
    layers = {int(m.group(1)) for n in names if (m := LAYER_INDEX.search(f".{n}."))}
    if not layers:
        raise ValueError("the model has no numbered layers to select the last ones from")
    first = max(layers) - last_layers + 1
    return {n for n in names if (m := LAYER_INDEX.search(f".{n}.")) and int(m.group(1)) >= first}


@dataclass(frozen=True)
class GradientRecipe:
    """How rows become projected gradients (the same in every process that builds it)."""

    model_path: str
    selection: ParamSelection = ALL_PARAMETERS
    proj_dim: int = DEFAULT_PROJ_DIM
    projection: str = RADEMACHER
    seed: int = 0
    response_tokens: int | None = None  # the loss on the first N response tokens (None: all)
    precision: str = "fp32"
    token_batch: int = TOKEN_BATCH

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, not {self.projection!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")

    def index_config(self) -> Any:
        """Bergson's ``IndexConfig`` for this recipe (gradients stay in memory: ``run_path``
        is set per call to a scratch folder)."""
        import_bergson()
        from bergson import IndexConfig

        return IndexConfig(
            run_path="",
            model=str(self.model_path),
            precision=self.precision,  # type: ignore[arg-type]
            projection_dim=self.proj_dim,
            projection_type=self.projection,  # type: ignore[arg-type]
            projection_target="per_module",
            projection_seed=self.seed,
            loss_reduction="mean",
            token_batch_size=self.token_batch,
        )

    def key(self) -> dict[str, object]:
        """Everything that determines the features but the model and the mix."""
        import_bergson()
        import bergson

        out: dict[str, object] = asdict(self)
        out.pop("model_path")
        out.pop("token_batch")
        out["selection"] = self.selection.key()
        out["bergson"] = bergson.__version__
        out["loss"] = "mean response-token cross-entropy"
        return out

    def build(self, device: str | None = None) -> BergsonFeaturiser:
        """Load the model (on ``device``; None: CUDA when there is one) and fix the modules
        and the projection."""
        import_bergson()
        return BergsonFeaturiser(self, device)


class BergsonFeaturiser:
    """A loaded model and Bergson's gradient processor: rows -> projected gradients."""

    def __init__(self, recipe: GradientRecipe, device: str | None = None) -> None:
        from bergson.collector.collector import HookCollectorBase
        from bergson.utils.worker_utils import extract_peft_target_modules, processor_for

        self.recipe = recipe
        self.cfg = recipe.index_config()
        # Loaded as Bergson's ``setup_model_and_peft`` does (frozen weights, the input
        # embeddings trainable so every hooked module gets a backward pass), but from the
        # local folder only (Bergson's loader asks the hub whether a folder is an adapter).
        self.model, self.tokenizer = load_model(
            recipe.model_path, device, torch_dtype(recipe.precision)
        )
        self.model.requires_grad_(False)
        self.model.get_input_embeddings().requires_grad_(True)
        self.device = str(self.model.device)
        self.max_length = training_max_length(recipe.model_path)
        self.processor = processor_for(self.cfg)
        self.target_modules: set[str] | None = None
        if hasattr(self.model, "peft_config"):  # an adapter: its LoRA modules, as Bergson does
            self.target_modules = extract_peft_target_modules(self.model)
        elif recipe.selection.lora:
            raise ValueError("--lora needs a PEFT adapter folder as the model")
        info = HookCollectorBase.discover_targets(
            self.model.base_model, self.target_modules, False, None
        )
        if recipe.selection.last_layers:
            self.target_modules = last_layer_modules(list(info), recipe.selection.last_layers)
            info = {n: v for n, v in info.items() if n in self.target_modules}
        if not info:
            raise ValueError(f"no module matches the selection ({recipe.selection.describe()})")
        self.module_shapes = {
            name: (int(shape[0]), int(shape[1])) for name, (_, shape, _) in info.items()
        }
        side = recipe.proj_dim  # 0: unprojected, each module's whole (out, in) gradient
        self.module_sizes = {
            name: side * side if side else int(shape.numel())
            for name, (_, shape, _) in info.items()
        }

    @property
    def dim(self) -> int:
        """Numbers in one row of features (every module's projection)."""
        return sum(self.module_sizes.values())

    def key(self) -> dict[str, object]:
        """Everything that determines the features but the model and the mix."""
        return {
            **self.recipe.key(),
            "max_length": self.max_length,
            "modules": list(self.module_sizes),
        }

    def _dataset(self, examples: Sequence[EncodedExample]) -> Any:
        """Bergson's input: token ids, labels (-100 but on the trained tokens), length."""
        from datasets import Dataset

        first = self.recipe.response_tokens
        ids, labels = [], []
        for e in examples:
            trained = e.ids[e.n_given :]
            if first is not None:
                trained = trained[:first] + [IGNORE] * max(len(trained) - first, 0)
            ids.append(e.ids)
            labels.append([IGNORE] * e.n_given + list(trained))
        return Dataset.from_dict(
            {"input_ids": ids, "labels": labels, "length": [len(i) for i in ids]}
        )

    def module_gradients(
        self, examples: Sequence[EncodedExample], progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Module name -> (len(examples), size) tensor of projected gradients, in order."""
        from bergson.collector.collector import CollectorComputer
        from bergson.collector.in_memory_collector import InMemoryCollector

        class Collector(InMemoryCollector):
            def process_batch(self, indices: list[int], **kwargs: Any) -> None:
                super().process_batch(indices, **kwargs)
                if progress is not None:
                    progress(len(indices))

        data = self._dataset(examples)
        with self.scratch() as cfg:
            collector = Collector(
                model=self.model.base_model,
                cfg=cfg,
                processor=self.processor,
                target_modules=self.target_modules,
                data=data,
            )
            CollectorComputer(
                model=self.model,
                data=data,
                collector=collector,
                batches=self._batches(data),
                cfg=cfg,
            ).run_with_collector_hooks(desc="gradients")
        missing = set(self.module_sizes) - set(collector.gradients)
        if missing:
            raise RuntimeError(f"Bergson returned no gradients for {sorted(missing)[:3]}")
        return {name: collector.gradients[name] for name in self.module_sizes}

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Any]:
        """The index config pointed at a scratch folder: Bergson writes a row count under
        ``<run_path>.part`` (the gradients themselves stay in memory)."""
        with tempfile.TemporaryDirectory(prefix="bergson-") as folder:
            self.cfg.run_path = str(Path(folder) / "run")
            self.cfg.partial_run_path.mkdir()
            yield self.cfg

    def _batches(self, data: Any) -> list[list[int]]:
        """Bergson's batches of about ``token_batch`` tokens each."""
        from bergson.data import allocate_batches

        return allocate_batches(data["length"][:], self.recipe.token_batch)

    def gradients(
        self, examples: Sequence[EncodedExample], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """(len(examples), dim) projected gradients, in order."""
        if not examples:
            return np.zeros((0, self.dim), np.float32)
        parts = self.module_gradients(examples, progress)
        out = [g.float().numpy() for g in parts.values()]
        return np.ascontiguousarray(np.concatenate(out, axis=1), dtype=np.float32)

    def encode(self, prompts: Sequence[str], responses: Sequence[str]) -> EncodedRows:
        """The rows tokenised as training tokenised them (skipped rows: ``None``)."""
        return encode_rows(self.tokenizer, prompts, responses, self.max_length)

    def featurise(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Projected gradients of rows; rows training would skip stay zero (counted done)."""
        encoded = self.encode(prompts, responses)
        kept = encoded.kept
        out = np.zeros((len(prompts), self.dim), np.float32)
        present = [e for e in encoded.examples if e is not None]
        out[kept] = self.gradients(present, progress)
        if progress is not None and len(prompts) > len(kept):
            progress(len(prompts) - len(kept))
        return out
