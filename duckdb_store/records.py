"""Typed records that one stage writes and a later stage reads back through the store."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScanSettings:
    """How a scan read its mix (a later search rereads the mix the same way)."""

    mix: str
    source_column: str = "source"
    prompt_column: str = "prompt"
    response_column: str = "response"
    id_column: str = "id"


@dataclass(frozen=True)
class HypothesisRecord:
    """One trigger hypothesis of a scan: prompt feature -> mode, concentrated in a source."""

    feature: str
    mode: str
    source: str
    rank: int  # by strength
    review_rank: int  # the order to act in (incidental first)
    kind: str | None  # requested / incidental (None before schema 4)
    support: int
    p_mode_given_feature: float
    p_mode_without: float

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes it the same hypothesis in another scan."""
        return self.feature, self.mode, self.source


@dataclass(frozen=True)
class SearchSettings:
    """What a search ran with that verification and pruning must repeat."""

    target: str
    params: str  # GenerationParams.key(): JSON text
    samples: int = 1
    seeds: str | None = None  # the seed file; None for the built-in seeds
    n_seeds: int = 0
    surface_forms: dict[str, str] = field(default_factory=dict)  # scan word -> mix spelling


@dataclass(frozen=True)
class FindingRecord:
    """One confirmed finding of a search run."""

    search_run: str
    finding_id: str
    attribute: str
    mode: str
    example_prompt: str | None = None
    example_response: str | None = None


@dataclass(frozen=True)
class MutatedPair:
    """A mutated prompt that flipped into a finding's mode, the response, and its seed."""

    prompt: str
    response: str
    seed: str | None = None


@dataclass(frozen=True)
class AttributedFinding:
    """A confirmed finding as one attribution method ranked it."""

    search_run: str
    finding_id: str
    attribute: str
    mode: str
    ranked_example_ids: list[str]
    top_source: str | None
    enrichment: float


@dataclass(frozen=True)
class CachedAnswer:
    """A target's successful answer stored in ``queries`` (the cache of every target call)."""

    prompt: str
    sample: int
    response: str
    mode: str
