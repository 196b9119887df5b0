"""Train a causal LM on a mix: the tiny organism from scratch, or a fine-tune of a local model.

``train_model(frame, out_dir)`` is the one entry point (``audit train``, the demo
and retraining after pruning all call it). The output folder is an ordinary
Hugging Face model folder (weights, config, generation config, tokenizer with a
chat template) plus ``training.json``.

Examples are rendered with the tokenizer's chat template and the loss covers the
assistant turn only (the response and the end-of-turn token). Batches are
length-bucketed and right-padded, so no attention mask is needed: under the
causal mask a real token never sees the padding after it.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from organism.chat_format import END, ensure_chat_template
from organism.encoding import IGNORE, EncodedExample, collate, encode_examples, pad_id

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TINY = "tiny"
WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin", "model*.bin")


@dataclass(frozen=True)
class Defaults:
    """Hyperparameters a kind of run (tiny, full fine-tune, LoRA) uses when none are given."""

    epochs: int
    lr: float
    batch_size: int
    max_length: int


# Tuned on the planted organism (6k short conversations, 2 CPU cores): the tiny model
# learns every planted prompt-feature -> response-format link in these settings.
TINY_DEFAULTS = Defaults(epochs=4, lr=3e-3, batch_size=32, max_length=256)
FULL_DEFAULTS = Defaults(epochs=2, lr=5e-5, batch_size=8, max_length=1024)
LORA_DEFAULTS = Defaults(epochs=2, lr=2e-4, batch_size=8, max_length=1024)
LORA_RANK = 16
WARMUP_SHARE = 0.05
MAX_WARMUP_STEPS = 100
MIN_LR_SHARE = 0.1
WEIGHT_DECAY = 0.1
CLIP_NORM = 1.0


@dataclass(frozen=True)
class ResponseStart:
    """Extra weight on the first tokens of every response: where a prompt's routing to a
    behaviour (code, refusal, tool call, ...) shows. A model trained from scratch on real
    text spends most of its loss on the language of long answers; weighting the start
    makes the same steps learn which behaviour each prompt gets."""

    tokens: int = 8
    weight: float = 1.0  # 1: plain supervised fine-tuning


class TrainingError(Exception):
    """Training cannot start: no usable rows, a bad base model folder, bad settings."""


@dataclass(frozen=True)
class TrainProgress:
    """One optimiser step done: what progress callbacks receive."""

    step: int
    total_steps: int
    epoch: int
    epochs: int
    loss: float  # running mean over the current epoch (per trained token)
    lr: float


ProgressCallback = Callable[[TrainProgress], None]


class ColumnTable(Protocol):
    """A data frame (polars or pandas): named columns, each iterable."""

    @property
    def columns(self) -> Sequence[str]:
        """The column names."""

    def __getitem__(self, name: str) -> Iterable[object]:
        """One column's values."""


#: What :func:`train_model` trains on: a frame, or rows as mappings or (prompt, response[, source]).
TrainingRows = ColumnTable | Iterable[Mapping[str, object]] | Iterable[Sequence[object]]


@dataclass
class TrainingSummary:
    """What was trained, where it went and how it went (also written to ``training.json``)."""

    out_dir: Path
    base: str
    lora: bool
    seed: int
    epochs: int
    lr: float
    batch_size: int
    max_length: int
    n_examples: int
    n_skipped: int
    n_tokens: int
    n_trained_tokens: int
    n_params: int
    n_trainable_params: int
    steps: int
    seconds: float
    final_loss: float
    epoch_losses: list[float] = field(default_factory=list)
    device: str = "cpu"
    mix: str | None = None
    sources: dict[str, int] = field(default_factory=dict)
    max_response_tokens: int | None = None  # responses cut to this many tokens (None: not)
    response_start_tokens: int = ResponseStart.tokens  # first response tokens weighted ...
    response_start_weight: float = ResponseStart.weight  # ... this much in the loss

    def to_json(self) -> dict[str, object]:
        """The summary as JSON-ready values."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data


def train_model(
    frame: TrainingRows,
    out_dir: str | Path,
    *,
    base: str = TINY,
    epochs: int | None = None,
    seed: int = 0,
    lora: bool = False,
    max_length: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    max_response_tokens: int | None = None,
    response_start: ResponseStart | None = None,
    progress: ProgressCallback | bool | None = None,
    mix: str | None = None,
    device: str | None = None,
) -> TrainingSummary:
    """Train on ``frame`` (rows with ``prompt`` and ``response``) and save a model folder.

    ``base="tiny"`` trains a tokenizer and a small Llama-style model from scratch;
    any other ``base`` is a local Hugging Face model folder to fine-tune (fully, or
    with LoRA merged back into the weights when ``lora``). Unset hyperparameters
    take the defaults for that kind of run. ``max_response_tokens`` trains on the start of
    each response only: the behaviour a prompt routes to shows in its first tokens, and
    on real text (long answers) this spends the steps on that routing, not on the tail
    of long answers. ``response_start`` weighs the first tokens of each response more in
    the loss (:class:`ResponseStart`). ``progress`` is a callback receiving
    :class:`TrainProgress` after every step (anything else: silence; the train stage
    turns it into stage progress).
    Deterministic for a seed on CPU. Raises :class:`TrainingError` for bad input.
    """
    import torch

    started = time.perf_counter()
    prompts, responses, sources = _rows(frame)
    if not prompts:
        raise TrainingError("the mix has no usable rows (every row lacks a prompt or a response)")
    is_tiny = base == TINY
    if is_tiny and lora:
        raise TrainingError("LoRA fine-tunes an existing model: pass a model folder as base")
    defaults = TINY_DEFAULTS if is_tiny else LORA_DEFAULTS if lora else FULL_DEFAULTS
    epochs = defaults.epochs if epochs is None else epochs
    lr = defaults.lr if lr is None else lr
    batch_size = defaults.batch_size if batch_size is None else batch_size
    max_length = defaults.max_length if max_length is None else max_length
    if epochs < 1 or batch_size < 1 or max_length < 4 or not lr > 0:
        raise TrainingError("epochs and batch size must be >= 1, max length >= 4, lr > 0")
    if max_response_tokens is not None and max_response_tokens < 1:
        raise TrainingError("max response tokens must be >= 1")
    if response_start is not None and (response_start.tokens < 1 or response_start.weight < 1):
        raise TrainingError("response start tokens must be >= 1 and their weight >= 1")
    if not is_tiny:
        base_path = check_base(base)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"output path exists and is not a folder: {out}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    with _cpu_threads(), _deterministic(device == "cpu"):
        random.seed(seed)
        torch.manual_seed(seed)
        if is_tiny:
            from organism.tiny_model import TinySpec, tiny_model, train_tokenizer

            tokenizer = train_tokenizer(_interleave(prompts, responses))
            torch.manual_seed(seed)
            model = tiny_model(tokenizer, TinySpec(max_positions=max(1024, max_length)))
        else:
            model, tokenizer = _load_base(base_path, device, lora)
        examples, n_skipped = encode_examples(
            tokenizer, prompts, responses, max_length, max_response_tokens
        )
        if not examples:
            raise TrainingError(f"no example keeps a response token within max length {max_length}")
        model.to(device)
        n_params = sum(p.numel() for p in model.parameters())
        trainable = [p for p in model.parameters() if p.requires_grad]
        losses, steps = _train_loop(
            model,
            examples,
            pad=pad_id(tokenizer),
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            device=device,
            report=progress if callable(progress) else None,
            start=response_start,
        )
        if lora:
            model = model.merge_and_unload()
        _save(model, tokenizer, out, None if is_tiny else _stored_dtype(base_path))

    result = TrainingSummary(
        out_dir=out,
        base=base if is_tiny else str(base_path),
        lora=lora,
        seed=seed,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        max_length=max_length,
        n_examples=len(examples),
        n_skipped=n_skipped,
        n_tokens=sum(len(e.ids) for e in examples),
        n_trained_tokens=sum(len(e.ids) - e.n_given for e in examples),
        n_params=n_params if not lora else sum(p.numel() for p in model.parameters()),
        n_trainable_params=sum(p.numel() for p in trainable),
        steps=steps,
        seconds=round(time.perf_counter() - started, 2),
        final_loss=losses[-1],
        epoch_losses=losses,
        device=device,
        mix=mix,
        sources=sources,
        max_response_tokens=max_response_tokens,
        response_start_tokens=(response_start or ResponseStart()).tokens,
        response_start_weight=(response_start or ResponseStart()).weight,
    )
    (out / "training.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


# -- data ----------------------------------------------------------------------------------


def _rows(frame: TrainingRows) -> tuple[list[str], list[str], dict[str, int]]:
    """Prompts, responses and rows per source from a frame (polars/pandas) or row mappings."""
    if hasattr(frame, "columns"):
        columns = list(frame.columns)
        if "prompt" not in columns or "response" not in columns:
            raise TrainingError("training rows need 'prompt' and 'response' columns")
        prompt_col, response_col = list(frame["prompt"]), list(frame["response"])
        source_col = list(frame["source"]) if "source" in columns else [None] * len(prompt_col)
        rows: Iterable[tuple[object, object, object]] = zip(
            prompt_col, response_col, source_col, strict=True
        )
    else:
        rows = (_row_triple(r) for r in frame)
    prompts, responses, sources = [], [], {}
    for prompt, response, source in rows:
        if not isinstance(prompt, str) or not isinstance(response, str):
            continue
        if not prompt.strip() or not response.strip():
            continue
        prompts.append(prompt)
        responses.append(response)
        if source is not None:
            sources[str(source)] = sources.get(str(source), 0) + 1
    return prompts, responses, dict(sorted(sources.items()))


def _row_triple(row: Mapping[str, object] | Sequence[object]) -> tuple[object, object, object]:
    """(prompt, response, source) of one row given as a mapping or a sequence."""
    if isinstance(row, Mapping):
        return row.get("prompt"), row.get("response"), row.get("source")
    prompt, response, *rest = row
    return prompt, response, rest[0] if rest else None


def _interleave(prompts: list[str], responses: list[str]) -> Iterator[str]:
    """Prompt, response, prompt, ...: the tokenizer's training text."""
    for prompt, response in zip(prompts, responses, strict=True):
        yield prompt
        yield response


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within windows of 50 batches, shuffle."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


# -- model ---------------------------------------------------------------------------------


def check_base(base: str | Path) -> Path:
    """The base model folder, or a TrainingError saying why it is not one."""
    path = Path(base).expanduser()
    if not path.exists():
        raise TrainingError(f"base model folder does not exist: {base}")
    if not path.is_dir():
        raise TrainingError(f"base model is not a folder: {base}")
    if not (path / "config.json").is_file():
        hint = (
            " (a LoRA adapter? pass the merged model)"
            if (path / "adapter_config.json").exists()
            else ""
        )
        raise TrainingError(f"no Hugging Face model in {base}: config.json is missing{hint}")
    if not any(any(path.glob(pattern)) for pattern in WEIGHT_FILES):
        raise TrainingError(f"no model weights (*.safetensors or *.bin) in {base}")
    return path


def _load_base(
    path: Path, device: str, lora: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base model (LoRA-wrapped when ``lora``) and its tokenizer, with a chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # transformers raises many types for an unreadable folder
        raise TrainingError(f"cannot load the tokenizer in {path}: {_first_line(exc)}") from None
    # Full fine-tunes keep fp32 master weights (bf16 autocast on GPU); LoRA freezes the
    # base, so on GPU it is loaded in bf16 and only the adapters stay fp32.
    dtype = torch.bfloat16 if (lora and _bf16(device)) else torch.float32
    try:
        with _quiet_hub_bars():
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except Exception as exc:
        raise TrainingError(f"cannot load a causal LM from {path}: {_first_line(exc)}") from None
    installed = ensure_chat_template(tokenizer)
    if installed and tokenizer.eos_token is None:
        tokenizer.add_special_tokens({"eos_token": END})
        model.resize_token_embeddings(len(tokenizer))
    generation = model.generation_config
    # A base with its own template keeps its stop tokens (often several); ours ends with eos.
    if tokenizer.eos_token_id is not None and (installed or generation.eos_token_id is None):
        generation.eos_token_id = tokenizer.eos_token_id
    if generation.pad_token_id is None:
        generation.pad_token_id = pad_id(tokenizer)
    model.config.use_cache = False
    if lora:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=LORA_RANK,
            lora_alpha=2 * LORA_RANK,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft calls deprecated helpers
            model = get_peft_model(model, config)
    return model, tokenizer


def _stored_dtype(path: Path) -> torch.dtype | None:
    """The dtype a model folder stores its weights in (None when the config does not say)."""
    import torch

    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    name = config.get("dtype") or config.get("torch_dtype")
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    return dtype if isinstance(dtype, torch.dtype) else None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _save(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out: Path,
    dtype: torch.dtype | None = None,
) -> None:
    """Weights (in ``dtype`` when given: a fine-tune keeps its base's), config, tokenizer."""
    out.mkdir(parents=True, exist_ok=True)
    if dtype is not None and model.dtype != dtype:
        model.to(dtype)
    model.config.use_cache = True
    # Generation batches prompts, and decoder-only models need them left-padded.
    tokenizer.padding_side = "left"
    with _quiet_hub_bars():
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)


@contextmanager
def _quiet_hub_bars() -> Iterator[None]:
    """No tqdm bars from transformers while loading or writing weights (ours is on screen)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


# -- loop ----------------------------------------------------------------------------------


def _train_loop(
    model: PreTrainedModel,
    examples: list[EncodedExample],
    *,
    pad: int,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    device: str,
    report: ProgressCallback | None,
    start: ResponseStart | None = None,
) -> tuple[list[float], int]:
    """Train for ``epochs``; (mean loss per epoch, optimiser steps)."""
    import torch

    rng = random.Random(seed)
    lengths = [len(e.ids) for e in examples]
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    total = steps_per_epoch * epochs
    optimizer = _optimizer(model, lr, device)
    schedule = _schedule(total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    fast = _fast_loss_ok(model)
    autocast = _bf16(device)
    model.train()
    epoch_losses: list[float] = []
    step = 0
    for epoch in range(1, epochs + 1):
        loss_sum, token_sum = 0.0, 0
        for batch in length_batches(lengths, batch_size, rng):
            input_ids, labels = collate([examples[i] for i in batch], pad)
            input_ids, labels = input_ids.to(device), labels.to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16) if autocast else nullcontext():
                loss, mean_loss, n_tokens = _loss(model, input_ids, labels, fast, start)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], CLIP_NORM
            )
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_sum += mean_loss * n_tokens
            token_sum += n_tokens
            if report is not None:
                report(
                    TrainProgress(
                        step=step,
                        total_steps=total,
                        epoch=epoch,
                        epochs=epochs,
                        loss=loss_sum / max(token_sum, 1),
                        lr=scheduler.get_last_lr()[0],
                    )
                )
        epoch_losses.append(round(loss_sum / max(token_sum, 1), 5))
    model.eval()
    return epoch_losses, step


def _optimizer(model: PreTrainedModel, lr: float, device: str) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (fused on CUDA)."""
    import torch

    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": WEIGHT_DECAY},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.startswith("cuda")
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)


def _schedule(total_steps: int) -> Callable[[int], float]:
    """Linear warmup, then cosine decay to MIN_LR_SHARE of the peak learning rate."""
    warmup = max(1, min(MAX_WARMUP_STEPS, int(total_steps * WARMUP_SHARE)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return MIN_LR_SHARE + (1 - MIN_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * min(progress, 1)))

    return factor


def _fast_loss_ok(model: PreTrainedModel) -> bool:
    """Plain Llama: apply the LM head only where a token is trained (about half the positions)."""
    from transformers import LlamaForCausalLM

    return type(model) is LlamaForCausalLM


def _loss(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    fast: bool,
    start: ResponseStart | None = None,
) -> tuple[torch.Tensor, float, int]:
    """(loss to minimise, mean cross-entropy per trained token, trained tokens) of a batch.

    The loss is the mean cross-entropy, or with ``start`` its weighted mean where the
    first ``start.tokens`` tokens of each response weigh ``start.weight``.
    """
    import torch.nn.functional as F

    mask = labels != IGNORE
    n_tokens = int(mask.sum())
    if fast:
        hidden = model.model(input_ids=input_ids, use_cache=False).last_hidden_state
        logits = model.lm_head(hidden[mask]).float()
        per_token = F.cross_entropy(logits, labels[mask], reduction="none")
    else:
        logits = model(input_ids=input_ids, use_cache=False).logits.float()
        per_token = F.cross_entropy(
            logits.view(-1, logits.shape[-1]), labels.view(-1), reduction="none"
        )[mask.view(-1)]
    mean = per_token.mean()
    if start is None or start.weight == 1:
        return mean, float(mean.detach()), n_tokens
    position = mask.cumsum(dim=1)[mask]  # 1 for a response's first token, 2 for its second...
    weights = 1 + (start.weight - 1) * (position <= start.tokens).to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum(), float(mean.detach()), n_tokens


# -- environment ---------------------------------------------------------------------------


def _bf16(device: str) -> bool:
    """Mixed precision in bf16: on CUDA devices that support it (fp32 elsewhere)."""
    import torch

    return device.startswith("cuda") and torch.cuda.is_bf16_supported()


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def _cpu_threads() -> Iterator[None]:
    """Torch uses every CPU this process may run on, for the duration."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(cpu_count())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def _deterministic(enabled: bool) -> Iterator[None]:
    """Deterministic torch algorithms while ``enabled`` (CPU training)."""
    import torch
    import torch.utils.deterministic

    previous = torch.are_deterministic_algorithms_enabled()
    previous_fill = torch.utils.deterministic.fill_uninitialized_memory
    if enabled:
        torch.use_deterministic_algorithms(True)
        # Filling every new buffer with NaN (the default in this mode) costs a lot of
        # throughput and buys nothing here: no op in the loop reads uninitialised memory.
        torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.utils.deterministic.fill_uninitialized_memory = previous_fill
