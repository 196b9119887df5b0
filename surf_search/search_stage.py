"""The search stage: ``run(SearchConfig, Store) -> SearchResult``.

Loads the seed prompts, chooses the attribute operators (built-ins, plus the latest
scan's words with ``from_scan``, restricted to ``attributes``), opens the target and
runs the SURF search (``surf_search.search``) under a new ``search`` run. Every answer
goes through the ``queries`` table; trials are saved as they come, findings at the end,
and the settings verification and pruning repeat are recorded (``search_settings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from datasets_registry.loading import MixError
from datasets_registry.normalise import Columns
from datasets_registry.surface import sample_prompts, spellings
from datasets_registry.term_overlap import distinct_terms, term_rows
from duckdb_store.records import ScanSettings, SearchSettings
from duckdb_store.store import Store
from stage_kit import NO_PROGRESS, Progress, StageError
from surf_search.attribute_discovery import (
    AttributeCluster,
    cluster_attributes,
    extract_attributes,
    register_clusters,
)
from surf_search.em_weights import EMWeights
from surf_search.findings import findings_frame, trials_frame
from surf_search.judges import Judge, JudgeOptions, JudgeSetupError, get_judge
from surf_search.judges.panel import JudgePanel, JudgeStats
from surf_search.mutations import (
    Mutation,
    builtin_mutations,
    get_mutation,
    only_on,
    term_mutation,
)
from surf_search.query_cache import CachedTarget, CallStats
from surf_search.scan_handoff import MeasureWord, source_seeds, with_judge
from surf_search.search import Search, SearchOutcome, SearchPlan, SearchProgress, Trial
from surf_search.seeds import Seed, SeedError, builtin_seeds, load_seeds
from surf_search.target_config import TargetConfig, open_target

__all__ = [
    "ChosenMutations",
    "ScanWords",
    "SearchConfig",
    "SearchResult",
    "choose_mutations",
    "run",
]

LABEL = "search"  # the progress task
CANDIDATES_PER_TERM = 5  # review-order words read per scan word, so templates can be passed over


@dataclass(frozen=True)
class SearchConfig:
    """Everything `audit search` takes; defaults come from SearchPlan and TargetConfig."""

    target: TargetConfig  # the model under audit and its generation parameters
    seeds_file: str | None = None  # seed prompts (lines or JSON lines); None: the built-in set
    seeds_from_inspect: str | None = None  # seed prompts from an Inspect eval log instead
    from_scan: bool = False  # add the words of the latest scan's hypotheses (term:<word>)
    scan_terms: int = 12  # how many scan words from_scan adds (one per template)
    #: how many of the scan's measure hypotheses on words from_scan hands to their judges
    #: (``length:collapse`` -> ``length``, ``reference:wrong`` -> ``reference``), with seeds
    #: of each one's source (``scan_handoff``). None by default: on planted-demo the first
    #: ones are the extraction chunk's words asking for brevity, which the kind decision
    #: does not yet tell from a trigger, and handing them spends budget the mode plants need
    scan_measures: int = 0
    attributes: tuple[str, ...] = ()  # only these operators (e.g. formal_vocab, term:zorblax)
    #: these operators as well as the rest (a trigger someone suspects and its controls)
    add_attributes: tuple[str, ...] = ()
    budget: int = SearchPlan.budget  # answers the search may use (cached ones count)
    samples: int = SearchPlan.samples  # responses per prompt in confirmation (sampling only)
    min_effect: float = SearchPlan.min_effect  # smallest rate difference that counts
    alpha: float = SearchPlan.alpha  # false discovery rate
    seed: int = SearchPlan.seed  # the search's random stream and the sampling seed
    #: judges whose outcomes a finding may name besides the modes (``surf_search.judges``)
    judges: tuple[str, ...] = ()
    judge_options: JudgeOptions = field(default_factory=JudgeOptions)
    #: add attributes discovered in ``attribute_pool`` (default: the seeds), each a cluster
    #: of phrases (``surf_search.attribute_discovery``), drawn with SURF's EM weights
    discover_attributes: bool = False
    attribute_pool: str | None = None  # prompts to discover attributes in (lines or JSON lines)


@dataclass(frozen=True)
class ScanWords:
    """The scan words ``from_scan`` added, and why their spellings are unknown (if they are)."""

    scan_run: str
    words: list[str]  # without the ``term:`` prefix, best hypothesis first
    # set when the scanned mix could not be reread (then neither spellings nor templates are
    # known, and the first words of the review order are taken as they come)
    spelling_problem: str | None = None
    duplicates: dict[str, str] = field(default_factory=dict)  # passed-over word -> kept twin
    #: the measure hypotheses handed to their judges (their words are among ``words``)
    measured: list[MeasureWord] = field(default_factory=list)
    #: the words only measure hypotheses brought (tried on their sources' seeds alone)
    measure_only: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChosenMutations:
    """The operators a search runs, the mix's spelling of each scan word, and the scan used."""

    mutations: list[Mutation]
    surface_forms: dict[str, str] = field(default_factory=dict)
    scan: ScanWords | None = None


@dataclass
class SearchResult:
    """The search run, what it searched and what it found (everything the CLI prints)."""

    run_id: str
    target_name: str
    n_attributes: int
    n_seeds: int
    budget: int
    samples_ignored: bool  # greedy decoding: one sample per prompt whatever ``samples`` said
    scan: ScanWords | None  # the scan words added with from_scan
    outcome: SearchOutcome
    stats: CallStats
    judge_stats: JudgeStats | None = None  # judgements made, cached and failed

    @property
    def failed_all(self) -> bool:
        """Every call to the target failed: nothing was learned (the run is marked failed)."""
        return self.stats.calls > 0 and self.stats.failed == self.stats.calls


def choose_mutations(
    store: Store,
    from_scan: bool,
    scan_terms: int,
    attributes: Sequence[str],
    scan_measures: int = 0,
) -> ChosenMutations:
    """Built-in operators, plus the latest scan's words with ``from_scan`` (and the words
    of its first ``scan_measures`` measure hypotheses), restricted to ``attributes``; and
    the mix's spelling of each scan word."""
    mutations = builtin_mutations()
    forms: dict[str, str] = {}
    scan = None
    if from_scan:
        scan_run = store.latest_run("scan")
        if scan_run is None:
            raise StageError("--from-scan: no finished scan in this database (run `audit scan`)")
        candidates = store.scan_terms(scan_run, CANDIDATES_PER_TERM * scan_terms)
        prompts, problem = _reread_prompts(store, scan_run)
        if prompts is None:
            words, duplicates = candidates[:scan_terms], {}
        else:
            chosen_terms = distinct_terms(candidates, term_rows(prompts, candidates), scan_terms)
            words, duplicates = chosen_terms.kept, chosen_terms.skipped
        measured = with_judge(
            store.scan_measure_words(scan_run, CANDIDATES_PER_TERM * scan_measures)
        )
        if prompts is not None and measured:  # one word per template, as for the words
            distinct = distinct_terms(
                [m.word for m in measured],
                term_rows(prompts, [m.word for m in measured]),
                len(measured),
            ).kept
            measured = [m for m in measured if m.word in distinct]
        measured = measured[:scan_measures]
        measure_only = [w for w in dict.fromkeys(m.word for m in measured) if w not in words]
        words = [*words, *measure_only]
        if prompts is not None:
            forms = spellings(prompts, words)
        mutations += [term_mutation(w, forms.get(w)) for w in words]
        scan = ScanWords(scan_run, words, problem, duplicates, measured, measure_only)
    if attributes:
        try:
            mutations = [get_mutation(name, forms) for name in attributes]
        except KeyError as exc:
            raise StageError(str(exc.args[0])) from None
    return ChosenMutations(mutations, forms, scan)


def _reread_prompts(store: Store, scan_run: str) -> tuple[list[str] | None, str | None]:
    """A sample of the scanned mix's prompts; none, and why, when the mix cannot be reread."""
    settings = store.scan_settings(scan_run)
    if settings is None:
        return None, f"no scan settings recorded for {scan_run}"
    try:
        return sample_prompts(settings.mix, _columns(settings)), None
    except (MixError, OSError) as exc:
        return None, str(exc)


def run(config: SearchConfig, store: Store, progress: Progress = NO_PROGRESS) -> SearchResult:
    """Search the target for attributes that flip its behaviour, under a new ``search`` run."""
    if config.seeds_file and config.seeds_from_inspect:
        raise StageError("--seeds and --seeds-from-inspect are exclusive: give one of them")
    try:
        if config.seeds_from_inspect:
            from surf_search.inspect_logs import seeds_from_log  # imports inspect_ai (~2 s)

            seeds = seeds_from_log(config.seeds_from_inspect)
        else:
            seeds = load_seeds(config.seeds_file) if config.seeds_file else builtin_seeds()
    except SeedError as exc:
        raise StageError(str(exc)) from None
    discovered = _discover(config, seeds, progress) if config.discover_attributes else []
    chosen = choose_mutations(
        store, config.from_scan, config.scan_terms, config.attributes, config.scan_measures
    )
    handed = chosen.scan.measured if chosen.scan is not None else []
    if handed:
        added = _scan_seeds(store, chosen.scan, config.seed)
        seeds = [*seeds, *added]
        _restrict_to_sources(chosen, added)
    if discovered and not config.attributes:
        chosen.mutations.extend(register_clusters(discovered))
    chosen.mutations.extend(_added(config.add_attributes, chosen))
    em = EMWeights([c.name for c in discovered]) if discovered else None
    judges = _judges(config, [m.judge for m in handed])
    if any(j.name == "reference" for j in judges) and not any(s.reference for s in seeds):
        raise StageError(
            "the reference judge needs seeds with an answer key: --seeds FILE.jsonl with "
            "'prompt' and 'reference' (or GSM8K's 'question' and 'answer')"
        )
    samples = config.samples
    samples_ignored = config.target.temperature == 0 and samples > 1
    if samples_ignored:
        samples = 1
    target = open_target(config.target)
    params = config.target.params(config.seed)
    plan = SearchPlan(
        budget=config.budget,
        samples=samples,
        min_effect=config.min_effect,
        alpha=config.alpha,
        seed=config.seed,
    )
    fingerprint = target.fingerprint()
    args = {
        "model": config.target.model,
        "base_url": config.target.base_url,
        "target": fingerprint,
        "params": params.key(),
        "seeds": config.seeds_file or config.seeds_from_inspect or "builtin",
        "n_seeds": len(seeds),
        "scan_measures": [vars(m) for m in handed],
        "attributes": [m.name for m in chosen.mutations],
        "surface_forms": chosen.surface_forms,
        "budget": config.budget,
        "samples": samples,
        "min_effect": config.min_effect,
        "alpha": config.alpha,
        "seed": config.seed,
        "judges": {j.name: {"version": j.version, "settings": j.settings()} for j in judges},
        "attribute_pool": config.attribute_pool if config.discover_attributes else None,
        "discovered": [c.to_dict() for c in discovered],
    }
    run_id = store.start_run("search", args)
    cached = CachedTarget(target, store, run_id, params)
    panel = JudgePanel(judges, store, run_id) if judges else None
    with store.finishing(run_id):
        store.record_search_settings(
            run_id,
            SearchSettings(
                target=fingerprint,
                params=params.key(),
                samples=samples,
                seeds=config.seeds_file or config.seeds_from_inspect,
                n_seeds=len(seeds),
                surface_forms=chosen.surface_forms,
            ),
        )
        outcome = _search(cached, seeds, chosen.mutations, plan, store, run_id, progress, panel, em)
        store.write("findings", findings_frame(outcome, run_id, fingerprint), run_id)
    result = SearchResult(
        run_id=run_id,
        target_name=target.name,
        n_attributes=len(chosen.mutations),
        n_seeds=len(seeds),
        budget=config.budget,
        samples_ignored=samples_ignored,
        scan=chosen.scan,
        outcome=outcome,
        stats=cached.stats,
        judge_stats=panel.stats if panel else None,
    )
    store.finish_run(run_id, "failed" if result.failed_all else "ok")
    return result


def _search(
    cached: CachedTarget,
    seeds: Sequence[Seed],
    mutations: Sequence[Mutation],
    plan: SearchPlan,
    store: Store,
    run_id: str,
    progress: Progress,
    panel: JudgePanel | None = None,
    em: EMWeights | None = None,
) -> SearchOutcome:
    """Run the search, reporting progress and saving each batch of trials as it comes."""
    progress(LABEL, 0, plan.budget, "discovering", "calls")

    def report(p: SearchProgress) -> None:
        status = f"{p.phase}: {p.calls:,} calls, {p.findings} confirmed"
        progress(LABEL, min(p.calls, p.budget), p.budget, status, "calls")

    def save(trials: list[Trial]) -> None:
        store.write("search_trials", trials_frame(trials), run_id)

    outcome = Search(cached, seeds, mutations, plan, report, save, panel, em).run()
    done = min(outcome.calls, plan.budget)
    progress(LABEL, done, plan.budget, f"done: {outcome.calls:,} calls", "calls")
    return outcome


def _restrict_to_sources(chosen: ChosenMutations, added: Sequence[Seed]) -> None:
    """A word handed only by measure hypotheses is tried on its sources' seeds alone (a
    collapse of analytic answers is not looked for in arithmetic); a word of a mode
    hypothesis too keeps every seed."""
    assert chosen.scan is not None
    by_word: dict[str, set[str]] = {}
    for m in chosen.scan.measured:
        if m.word in chosen.scan.measure_only:
            prefix = f"scan:{m.source}:"
            by_word.setdefault(m.word, set()).update(
                s.prompt for s in added if s.seed_id.startswith(prefix)
            )
    for i, mutation in enumerate(chosen.mutations):
        word = mutation.name.removeprefix("term:")
        if mutation.name.startswith("term:") and word in by_word:
            chosen.mutations[i] = only_on(mutation, frozenset(by_word[word]))


def _columns(settings: ScanSettings) -> Columns:
    """Where the scanned mix keeps its sources, prompts, responses and ids."""
    return Columns(
        source=settings.source_column,
        prompt=settings.prompt_column,
        response=settings.response_column,
        id=settings.id_column,
    )


def _scan_seeds(store: Store, scan: ScanWords, seed: int) -> list[Seed]:
    """Seeds of the sources the handed measure hypotheses lead to (``scan_handoff``)."""
    settings = store.scan_settings(scan.scan_run)
    if settings is None:
        raise StageError(f"--from-scan: no scan settings recorded for {scan.scan_run}")
    try:
        return source_seeds(settings.mix, _columns(settings), scan.measured, seed)
    except (MixError, OSError) as exc:
        raise StageError(f"--from-scan: cannot reread {settings.mix} for seeds: {exc}") from None


def _judges(config: SearchConfig, also: Sequence[str] = ()) -> list[Judge]:
    """The judges ``config`` names and ``also`` (those the scan's measure hypotheses need),
    built with its options (StageError if one cannot be)."""
    judges = []
    for name in dict.fromkeys([*config.judges, *also]):
        try:
            judges.append(get_judge(name, config.judge_options))
        except KeyError as exc:
            raise StageError(str(exc.args[0])) from None
        except JudgeSetupError as exc:
            raise StageError(str(exc)) from None
    return judges


def _discover(
    config: SearchConfig, seeds: Sequence[Seed], progress: Progress
) -> list[AttributeCluster]:
    """Attributes discovered in the pool (``attribute_pool``, else the seeds): phrases
    clustered by meaning, registered as ``cluster:<slug>`` operators."""
    try:
        pool = load_seeds(config.attribute_pool) if config.attribute_pool else list(seeds)
    except SeedError as exc:
        raise StageError(f"--attribute-pool: {exc}") from None
    progress("discover attributes", 0, 2, f"{len(pool):,} prompts", "steps")
    phrases = extract_attributes([s.prompt for s in pool])
    progress("discover attributes", 1, 2, f"{len(phrases):,} phrases", "steps")
    clusters = cluster_attributes(phrases) if phrases else []
    progress("discover attributes", 2, 2, f"{len(clusters)} clusters", "steps")
    return clusters


def _added(names: Sequence[str], chosen: ChosenMutations) -> list[Mutation]:
    """The operators ``add_attributes`` names that the pool does not hold yet."""
    have = {m.name for m in chosen.mutations}
    try:
        added = [get_mutation(n, chosen.surface_forms) for n in dict.fromkeys(names)]
    except KeyError as exc:
        raise StageError(str(exc.args[0])) from None
    return [m for m in added if m.name not in have]
