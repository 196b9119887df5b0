"""How attribution runs: the methods and their settings (:class:`AttributionConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

from attribution.aggregate import DEFAULT_BOOT
from attribution.bergson_gradients import (
    ALL_PARAMETERS,
    DEFAULT_PROJ_DIM,
    RADEMACHER,
    ParamSelection,
)
from attribution.methods import default_methods
from attribution.ray_features import DEFAULT_RAY_WORKERS
from attribution.saliency import DEFAULT_RESPONSE_TOKENS
from attribution.scoring import DEFAULT_DAMPING

#: What ``--method all`` runs: every registered method but the random baseline and ekfac.
METHODS = default_methods()
#: ``audit attribute``'s default method, chosen from ``bench/lds.py`` on planted-demo: the
#: only method with recall@50 1.00 on every plant (the others 0.31-0.61 on average), the
#: right source first for each, 4.8 s per 1,000 rows; no method's LDS is above the noise
#: there (docs/benchmarks.md#attribution-quality-lds-recall-and-cost).
RECOMMENDED_METHOD = "saliency"


@dataclass(frozen=True)
class AttributionConfig:
    """The methods to run and every setting they take (the library's defaults)."""

    methods: tuple[str, ...] = METHODS
    top_k: int = 50  # training examples counted as hits per query
    keep: int = 500  # attributed examples kept per query set and method
    #: Rank examples whose response shows the finding's behaviour ahead of the rest (a
    #: response that does not show it cannot have taught it); False: by score alone.
    behaviour_first: bool = True
    proj_dim: int = DEFAULT_PROJ_DIM  # each module's gradient is projected to proj_dim^2
    projection: str = RADEMACHER  # random projection kind (rademacher or normal)
    seed: int = 0  # projection, bootstrap and random-baseline seed
    selection: ParamSelection = ALL_PARAMETERS  # modules gradients are taken for
    precondition: bool = False  # TRAK-style preconditioned gradient scores
    damping: float = DEFAULT_DAMPING  # of the preconditioner
    embedding_model: str | None = None  # sentence-transformers model (None: offline MiniLM)
    n_boot: int = DEFAULT_BOOT  # bootstrap resamples of the source shares
    precision: str = "fp32"  # model weights for gradients (bf16 / fp16 on a GPU)
    device: str | None = None  # torch device (None: CUDA when there is one)
    response_tokens: int | None = DEFAULT_RESPONSE_TOKENS  # loss on the first N (None: all)
    ray_address: str | None = None  # gradient features on Ray ("local": start one here)
    ray_workers: int = DEFAULT_RAY_WORKERS  # CPU actors on Ray when the cluster has no GPU
