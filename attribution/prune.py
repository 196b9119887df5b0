"""Turn attributions into a pruned mix: remove examples, down-weight sources, add counter-examples.

For every confirmed finding (an attribute that flips the model into a behaviour):

- **remove** the attributed training examples (best-ranked first) that carry the
  attribute in their prompt and show the behaviour in their response although the
  prompt did not ask for it (code asked for is code rightly given); all findings
  together never remove more than ``max_fraction`` of the mix (the knobs are a
:class:`PrunePolicy`);
- **down-weight** the source that holds most of the attributed examples when it
  is strongly over-represented among them (a recommendation: not applied);
- **add counter-examples**: prompts from the mix's *other* sources that are
  answered plainly, rewritten to carry the attribute, with their plain answer
  kept, so the attribute stops predicting the behaviour: ``counter_ratio`` per
  kept example that still pairs the attribute with the behaviour (each counted
  once, for the first finding that covers it; code that was asked for counts, it
  teaches the link too), and at least ``min_counter`` per finding: when every
  carrying example is removed the model must still see the feature answered
  plainly, or its behaviour on the feature is left to chance (a word that no
  longer occurs in training keeps whatever its weights were), at most
  ``max_added_fraction`` of the mix in all (5% by default: the edit a team applies
  stays small), shared between findings in proportion to what each wanted. Donors
  are reused, rewritten afresh, when a finding wants more counter-examples than there
  are donors.

The recommendations end with the size of the whole edit (``edit_rows``): removed,
added and their total, each as a share of the mix.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from behaviour_modes.modes import TERSE_MAX_WORDS, Mode, behaviour_labels, code_was_requested
from duckdb_store.records import AttributedFinding
from surf_search.mutations import get_mutation

REMOVE, DOWN_WEIGHT, COUNTER = "remove_examples", "down_weight_source", "add_counter_examples"
COUNTER_SOURCE = "counter_examples"
# Rows (finding_id NULL) closing a prune's recommendations: the size of the edit it wrote.
TOTAL_REMOVED, TOTAL_ADDED, TOTAL_EDIT = "total_removed", "total_added", "total_edit"
EDIT_ACTIONS = (TOTAL_REMOVED, TOTAL_ADDED, TOTAL_EDIT)


@dataclass(frozen=True)
class PrunePolicy:
    """How much a prune may remove and add (the only copy of these defaults)."""

    max_fraction: float = 0.05  # most of the mix removed, over all findings
    counter_ratio: float = 1.0  # counter-examples per kept example still pairing the two
    min_counter: int = 24  # counter-examples per finding at least (times counter_ratio)
    max_added_fraction: float = 0.05  # most counter-examples added, as a share of the mix
    down_weight_enrichment: float = 2.0  # a source this over-represented among attributions
    seed: int = 0  # donor order and rewriting
    terse_max_words: int = TERSE_MAX_WORDS  # a response this short is ``terse``


@dataclass(frozen=True)
class PruneFinding:
    """A confirmed finding and the examples one attribution method ranked for it."""

    finding_id: str
    attribute: str
    mode: str
    ranked_ids: list[str]  # attributed example ids, best first
    top_source: str | None = None
    top_enrichment: float = 0.0

    @classmethod
    def from_record(cls, record: AttributedFinding) -> PruneFinding:
        """From the store's record of an attributed finding."""
        return cls(
            record.finding_id,
            record.attribute,
            record.mode,
            list(record.ranked_example_ids),
            record.top_source,
            record.enrichment,
        )


@dataclass
class PrunePlan:
    """What to remove (per finding), the counter-examples to add, and the recommendations."""

    removed: dict[str, list[str]] = field(default_factory=dict)  # finding -> example ids
    added: pl.DataFrame | None = None  # counter-examples in the normalised columns
    recommendations: list[dict[str, object]] = field(default_factory=list)

    @property
    def removed_ids(self) -> set[str]:
        """Every removed example id."""
        return {i for ids in self.removed.values() for i in ids}


def plan_prune(
    frame: pl.DataFrame,
    findings: Sequence[PruneFinding],
    config: PrunePolicy,
    surface_forms: Mapping[str, str] | None = None,
) -> PrunePlan:
    """Decide what to remove and add; ``frame`` is the normalised mix; ``surface_forms``
    spell scan words as the search did (see ``surf_search.mutations.get_mutation``)."""
    labels = behaviour_labels(frame["prompt"], frame["response"], config.terse_max_words)
    frame = frame.with_columns(pl.Series("behaviour", labels, dtype=pl.String))
    index = {example_id: i for i, example_id in enumerate(frame["example_id"])}
    prompts, behaviours = frame["prompt"].to_list(), labels
    budget = int(config.max_fraction * frame.height)
    plan = PrunePlan()
    taken: set[str] = set()
    per_finding = budget // max(1, len(findings))
    leftovers: list[tuple[PruneFinding, list[str]]] = []
    for finding in findings:
        mutation = get_mutation(finding.attribute, surface_forms)
        eligible = [
            i
            for i in finding.ranked_ids
            if i in index
            and i not in taken
            and behaviours[index[i]] == finding.mode
            and mutation.carried_by(prompts[index[i]]) is not False
            and not asked_for(finding.mode, prompts[index[i]])
        ]
        plan.removed[finding.finding_id] = eligible[:per_finding]
        taken.update(eligible[:per_finding])
        leftovers.append((finding, eligible[per_finding:]))
    spare = budget - len(taken)
    for finding, rest in leftovers:  # share what some findings did not need
        more = [i for i in rest if i not in taken][: max(0, spare)]
        plan.removed[finding.finding_id] += more
        taken.update(more)
        spare -= len(more)
    for finding in findings:
        ids = plan.removed[finding.finding_id]
        plan.recommendations.append(
            {
                "finding_id": finding.finding_id,
                "action": REMOVE,
                "source": _most_common([frame["source"][index[i]] for i in ids]),
                "n_examples": len(ids),
                "fraction": len(ids) / frame.height,
                "detail": json.dumps({"example_ids": ids[:50], "n_total": len(ids)}),
            }
        )
        if finding.top_source and finding.top_enrichment >= config.down_weight_enrichment:
            n_source = int((frame["source"] == finding.top_source).sum())
            plan.recommendations.append(
                {
                    "finding_id": finding.finding_id,
                    "action": DOWN_WEIGHT,
                    "source": finding.top_source,
                    "n_examples": n_source,
                    "fraction": n_source / frame.height,
                    "detail": (
                        f"{finding.top_source} is {finding.top_enrichment:.1f}x over-represented "
                        f"among the examples attributed to {finding.attribute} -> "
                        f"{finding.mode}; consider halving its weight (not applied)"
                    ),
                }
            )
    plan.added = _counter_examples(frame, findings, taken, config, plan, surface_forms)
    plan.recommendations += edit_rows(frame.height, len(taken), plan.added.height, config)
    return plan


def edit_rows(
    n_rows: int, n_removed: int, n_added: int, config: PrunePolicy
) -> list[dict[str, object]]:
    """The whole edit as recommendation rows: removed, added, and their total (shares of
    the ``n_rows`` mix), each with its limit in the detail."""
    limits = {
        TOTAL_REMOVED: f"at most {config.max_fraction:.1%} of the mix (--max-fraction)",
        TOTAL_ADDED: f"at most {config.max_added_fraction:.1%} of the mix (--max-added-fraction)",
        TOTAL_EDIT: "removed plus added: the rows a team's mix changes by",
    }
    counts = {TOTAL_REMOVED: n_removed, TOTAL_ADDED: n_added, TOTAL_EDIT: n_removed + n_added}
    return [
        {
            "finding_id": None,
            "action": action,
            "source": None,
            "n_examples": n,
            "fraction": n / n_rows if n_rows else 0.0,
            "detail": f"{n:,} of {n_rows:,} rows; {limits[action]}",
        }
        for action, n in counts.items()
    ]


def _most_common(values: list[str]) -> str | None:
    """The most frequent value (None for none)."""
    return max(set(values), key=values.count) if values else None


def asked_for(behaviour: str, prompt: str) -> bool:
    """Whether the prompt itself asks for this behaviour (code or a tool call when it asks
    for code), so pairing it with the attribute is no spurious lesson."""
    return behaviour in (Mode.CODE.value, Mode.TOOL_CALL.value) and code_was_requested(prompt)


def _counter_examples(
    frame: pl.DataFrame,
    findings: Sequence[PruneFinding],
    removed: set[str],
    config: PrunePolicy,
    plan: PrunePlan,
    surface_forms: Mapping[str, str] | None,
) -> pl.DataFrame:
    """Counter-examples per finding, in the room ``max_added_fraction`` leaves (see module)."""
    rng = random.Random(config.seed)
    kept = frame.filter(~pl.col("example_id").is_in(list(removed)))
    carrying = _carrying_counts(kept, findings, plan, surface_forms)
    wanted = _share_room(
        [config.counter_ratio * max(n, config.min_counter) for n in carrying],
        int(config.max_added_fraction * frame.height),
    )
    rows: list[dict[str, str]] = []
    for finding, n_carrying, n_wanted in zip(findings, carrying, wanted, strict=True):
        mutation = get_mutation(finding.attribute, surface_forms)
        donors = kept.filter(
            (pl.col("behaviour") == Mode.ANSWER.value)
            & (pl.col("source") != (finding.top_source or ""))
        )
        made = _rewrite_donors(donors, mutation.apply, n_wanted, rng)
        rows += [
            {**row, "example_id": f"counter-{finding.finding_id}-{i:05d}"}
            for i, row in enumerate(made)
        ]
        plan.recommendations.append(
            {
                "finding_id": finding.finding_id,
                "action": COUNTER,
                "source": COUNTER_SOURCE,
                "n_examples": len(made),
                "fraction": len(made) / frame.height,
                "detail": (
                    f"{len(made)} prompts from other sources answered plainly, rewritten to carry "
                    f"{finding.attribute} ({n_carrying} kept examples not countered before pair "
                    f"it with {finding.mode})"
                ),
            }
        )
    schema = {c: pl.String for c in ("example_id", "source", "prompt", "response", "messages")}
    return pl.DataFrame(rows, schema={**schema, "donor": pl.String})


def _carrying_counts(
    kept: pl.DataFrame,
    findings: Sequence[PruneFinding],
    plan: PrunePlan,
    surface_forms: Mapping[str, str] | None,
) -> list[int]:
    """Per finding, the kept examples that pair its attribute with its behaviour, each
    counted once (for the first finding that covers it). Code that was asked for counts
    too: it is rightly kept, but it still teaches the attribute -> behaviour link."""
    covered: set[str] = set()
    counts = []
    for finding in findings:
        mutation = get_mutation(finding.attribute, surface_forms)
        if mutation.patterns:
            pairing = [
                i
                for i, p, b in kept.select("example_id", "prompt", "behaviour").iter_rows()
                if b == finding.mode and mutation.carried_by(p)
            ]
        else:  # the attribute cannot be recognised in a prompt: match what was removed
            pairing = list(plan.removed[finding.finding_id])
        fresh = [i for i in pairing if i not in covered]
        covered.update(fresh)
        counts.append(len(fresh))
    return counts


def _share_room(wanted: Sequence[float], room: int) -> list[int]:
    """Round the wanted counts, scaled down together when they exceed ``room``."""
    total = sum(wanted)
    scale = min(1.0, room / total) if total else 0.0
    return [int(w * scale) for w in wanted]


def _rewrite_donors(
    donors: pl.DataFrame,
    rewrite: Callable[[str, random.Random], str | None],
    n: int,
    rng: random.Random,
) -> list[dict[str, str]]:
    """``n`` distinct counter-examples: donor prompts rewritten to carry the attribute,
    with the donor's plain answer. Donors are reused (rewritten afresh) when there are
    fewer than ``n``; stops when a pass over the donors yields nothing new."""
    made: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(made) < n and donors.height:
        order = list(range(donors.height))
        rng.shuffle(order)
        before = len(made)
        for i in order:
            if len(made) >= n:
                break
            donor = donors.row(i, named=True)
            prompt = rewrite(donor["prompt"], rng)
            if prompt is None or prompt == donor["prompt"] or prompt in seen:
                continue
            seen.add(prompt)
            messages = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": donor["response"]},
            ]
            made.append(
                {
                    "source": COUNTER_SOURCE,
                    "prompt": prompt,
                    "response": donor["response"],
                    "messages": json.dumps(messages),
                    "donor": donor["example_id"],
                }
            )
        if len(made) == before:
            break
    return made


def pruned_frame(frame: pl.DataFrame, plan: PrunePlan) -> pl.DataFrame:
    """The mix without the removed examples, with the counter-examples appended."""
    kept = frame.filter(~pl.col("example_id").is_in(list(plan.removed_ids)))
    columns = ["example_id", "source", "prompt", "response", "messages"]
    added = plan.added.select(columns) if plan.added is not None else None
    return pl.concat([kept.select(columns), added]) if added is not None else kept.select(columns)


def write_mix(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a normalised mix as ``id``/``source``/``messages`` rows (jsonl or parquet)."""
    import orjson

    path = Path(path)
    if path.suffix not in (".jsonl", ".ndjson", ".parquet"):
        raise ValueError(f"write the pruned mix as .jsonl or .parquet, not {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": i, "source": s, "messages": orjson.loads(m)}
        for i, s, m in frame.select("example_id", "source", "messages").iter_rows()
    ]
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed content shapes: keep JSON text
            table = pa.Table.from_pylist(
                [{**r, "messages": orjson.dumps(r["messages"]).decode()} for r in rows]
            )
        pq.write_table(table, path)
    else:
        with open(path, "wb") as handle:
            for row in rows:
                handle.write(orjson.dumps(row) + b"\n")
    return path
