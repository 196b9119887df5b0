"""Attributes discovered in a pool of prompts: phrases, their clusters, one operator each.

``audit search --discover-attributes`` (issue 26) takes attributes from the seeds (or a
user's pool, such as a training mix's prompts), not only from the scan:

1. ``extract_attributes``: candidate phrases, offline: leading clauses ("In the ledger,
   ..."), labels ("Context:"), opening and closing sentences that state rather than ask or
   instruct (a question or an instruction is the request itself; inserted, it asks
   something else), and short adverbial phrases
   (2-6 words: "according to the old almanac", "per hour") that recur in several prompts
   across topics. A phrase whose prompts share other words beyond chance carries their
   topic ("in the busy beehive") and scores low (``Phrase.spread``); a phrase with a digit
   carries the task's data ("she buys 5 more coins") and is no candidate.
2. ``cluster_attributes``: the phrases embedded (the offline MiniLM) and clustered
   (faiss k-means, seeded), each cluster named after its most central phrase.
3. ``cluster_mutation``: one operator per cluster (``cluster:<slug>``) that inserts one of
   its phrases, drawn from the stream, where its shape fits, with a placebo
   (``placebo:cluster:<slug>``): a neutral phrase of the same shape and about its length
   at the same place, with the same draws. ``register_clusters`` makes the names known
   to ``mutations.get_mutation``.

The search draws combinations of clusters with ``em_weights.EMWeights``.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from datasets_registry.phrasing import (
    close_sentence,
    insert_naturally,
    is_instruction,
    lower_first,
    sentence_case,
)
from datasets_registry.stats import stop_word_set
from datasets_registry.term_overlap import term_regex
from surf_search.em_weights import ClusterWeight, EMWeights
from surf_search.mutations import Mutation, register_resolver

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "AttributeCluster",
    "ClusterWeight",
    "EMWeights",
    "Phrase",
    "cluster_attributes",
    "cluster_mutation",
    "discovered_mutation",
    "extract_attributes",
    "register_clusters",
    "restore_clusters",
]

#: How a phrase goes into a prompt: "Context: ...", "In the ledger, ...", "Quick question.
#: ...", "... Thanks in advance.", "Per the report, ..." / "... (per the report)."
SHAPES = ("label", "lead", "opening", "closing", "phrase")
MIN_PROMPTS = 3  # prompts of the pool a phrase must occur in
MAX_PHRASES = 3000  # candidates kept, by score
MIN_SPREAD = 0.35  # below: the phrase's prompts share a topic (a fixed template: ~0.5)
MAX_CLUSTERS = 48
MIN_CLUSTERS = 16
MAX_LABEL_WORDS, MAX_LEAD_WORDS, MAX_SENTENCE_WORDS, NGRAM_WORDS = 3, 8, 12, (2, 6)
MIN_FINAL = 0.25  # share of an inner phrase's occurrences that must end a clause
CLOSED = 0.8  # a phrase inside a longer one carried by this share of its prompts is dropped
COHESION_SAMPLE = 40  # carrying prompts read to measure a phrase's topic cohesion
MAX_CHARS = 2000  # characters of a prompt read for inner phrases

#: First words of an adverbial phrase, which reads as an aside anywhere ("per the report",
#: "according to the old almanac", "in simple terms"); other inner phrases qualify only
#: when mostly set off by punctuation (", in my experience,").
PHRASE_OPENERS = frozenset(
    ("according", "per", "as", "in", "on", "at", "for", "with", "without", "by", "from",
     "under", "over", "during", "after", "before", "like", "using", "via", "within", "based",
     "given", "if", "when", "while", "unless", "assuming", "regarding", "into", "through",
     "throughout", "across", "among", "between", "since", "until", "just", "only", "also")
)  # fmt: skip
_QUESTION_WORDS = frozenset(
    ("what", "which", "who", "whom", "whose", "how", "why", "where", "did", "does", "do")
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”]+|\s[-–—]+\s|\n")
_LEAD = re.compile(r"^\s*([A-Za-z][^,:.?!\n]{0,80}?)\s*([,:])\s+(?=\S)")
_SENTENCES = re.compile(r"(?<=[.!?])\s+")
_TITLE = re.compile(r"(?i)(?:^|\s)(?:mr|mrs|ms|dr|prof|st|jr|sr|vs|etc|e\.g|i\.e|no)\.$")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*$")


@dataclass(frozen=True)
class Phrase:
    """A candidate attribute: its usual spelling, shape, and provenance in the pool."""

    text: str
    shape: str  # one of SHAPES
    prompts: int  # prompts of the pool carrying it
    spread: float  # 1 - topic cohesion of those prompts' other words (1: no shared topic)
    examples: tuple[int, ...] = ()  # indices of the first carrying prompts

    @property
    def score(self) -> float:
        """Carrying prompts discounted by topic cohesion: the ranking of candidates."""
        return self.prompts * self.spread


def _key(words: Iterable[str]) -> str:
    return " ".join(w.lower() for w in words)


def _sentences(text: str) -> list[str]:
    """``text`` split after ., ! or ? and a space, not after a title ("Mr. Smith")."""
    out: list[str] = []
    for piece in _SENTENCES.split(text):
        if out and _TITLE.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def _occurrences(prompt: str) -> dict[str, tuple[str, str]]:
    """Each candidate key in ``prompt``: (shape, spelling); structural shapes first."""
    found: dict[str, tuple[str, str]] = {}
    text = prompt.strip()
    lead = _LEAD.match(text)
    words = _WORD.findall(lead.group(1)) if lead else []
    if lead and words and lead.group(2) == ":" and len(words) <= MAX_LABEL_WORDS:
        found[_key(words)] = ("label", f"{lead.group(1)}:")
    elif lead and words and lead.group(2) == "," and len(words) <= MAX_LEAD_WORDS:
        found[_key(words)] = ("lead", lead.group(1))
    sentences = _sentences(text)
    if len(sentences) > 1:
        for shape, sentence in (("opening", sentences[0]), ("closing", sentences[-1])):
            words = _WORD.findall(sentence)
            if (
                0 < len(words) <= MAX_SENTENCE_WORDS
                and _SENTENCE_END.search(sentence)
                and not _asks(sentence)
            ):
                found.setdefault(_key(words), (shape, sentence))
    low, high = NGRAM_WORDS
    for place, segment in enumerate(_BREAK.split(text[:MAX_CHARS])):
        words = _WORD.findall(segment)
        for n in range(low, min(high, len(words)) + 1):
            for start in range(len(words) - n + 1):
                span = words[start : start + n]
                final = start + n == len(words)  # ends its clause: not a fragment of one
                kind = ("clause" if place > 0 and n == len(words) else "final") if final else ""
                found.setdefault(_key(span), (kind or "phrase", " ".join(span)))
    return found


def _asks(sentence: str) -> bool:
    """Whether a sentence is the request itself (a question, "Explain why ..."): inserted
    into another prompt it asks something else, and a changed answer is no failure."""
    return sentence.rstrip("\"'”’) ").endswith("?") or is_instruction(sentence)


def _content(words: Iterable[str]) -> set[str]:
    stop = stop_word_set()
    return {w for w in words if w not in stop and any(c.isalpha() for c in w)}


def _shape(places: Counter[str]) -> str:
    """The shape of a phrase by where it occurs most (inside, ending or set off as a clause:
    an inner phrase)."""
    merged = Counter({s: n for s, n in places.items() if s in SHAPES})
    merged["phrase"] += places["clause"] + places["final"]
    return merged.most_common(1)[0][0]


def _usable(key: str, places: Counter[str]) -> bool:
    """A content word, and for an inner phrase: no function word at its end ("according to
    the"), ending its clause in ``MIN_FINAL`` of its occurrences ("from a popular" never
    does), and an adverbial opening ("per the report") or mostly set off as a clause."""
    words = key.split()
    if not _content(words) or any(c.isdigit() for c in key):
        return False  # no content word, or the task's own data ("he buys 5 more coins")
    if _shape(places) != "phrase":
        return True
    if words[-1] in stop_word_set() or _QUESTION_WORDS.intersection(words):
        return False  # "according to the" is a fragment, "how many are left" a question
    total = places.total()
    if places["clause"] + places["final"] < MIN_FINAL * total:
        return False
    return words[0] in PHRASE_OPENERS or 2 * places["clause"] >= total


def _closed(keys: dict[str, int]) -> set[str]:
    """Keys not inside a longer key carried by at least ``CLOSED`` of their prompts ("on the
    role" inside "take on the role": the longer one is the unit, insertable or not)."""
    longest: dict[str, int] = defaultdict(int)
    for key, count in keys.items():
        words = key.split()
        for n in range(1, len(words)):
            for start in range(len(words) - n + 1):
                sub = " ".join(words[start : start + n])
                if sub in keys:
                    longest[sub] = max(longest[sub], count)
    return {key for key, count in keys.items() if longest[key] < CLOSED * count}


def _spread(key: str, carriers: Sequence[int], content: list[set[str]], df: Counter) -> float:
    """1 - the share of the carriers' other content words shared beyond chance."""
    step = max(1, len(carriers) // COHESION_SAMPLE)
    sample = carriers[::step][:COHESION_SAMPLE]
    own = set(key.split())
    counts: Counter[str] = Counter()
    for row in sample:
        counts.update(content[row] - own)
    total = sum(counts.values())
    if not total:
        return 1.0
    scale = len(sample) / len(content)
    excess = sum(max(0.0, k - 1 - scale * df[w]) for w, k in counts.items())
    return 1.0 - excess / total


def _spelling(shape: str, spellings: Counter[str]) -> str:
    text = spellings.most_common(1)[0][0].strip()
    if shape == "phrase":
        return lower_first(text)
    if shape in ("opening", "closing"):
        return sentence_case(text)
    return text


def extract_attributes(
    prompts: Sequence[str],
    min_prompts: int = MIN_PROMPTS,
    max_phrases: int = MAX_PHRASES,
    min_spread: float = MIN_SPREAD,
) -> list[Phrase]:
    """Candidate attribute phrases of a pool of prompts, best ``score`` first (offline).

    A candidate occurs in at least ``min_prompts`` prompts, has a content word, is not a
    part of a longer candidate carried by nearly the same prompts, and its prompts do not
    share a topic (``spread`` >= ``min_spread``). Its shape is where it mostly occurs."""
    df: Counter[str] = Counter()
    for prompt in prompts:
        df.update(_occurrences(prompt).keys())
    kept = {key: n for key, n in df.items() if n >= min_prompts}
    carriers: dict[str, list[int]] = defaultdict(list)
    places: dict[str, Counter[str]] = defaultdict(Counter)
    spellings: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    content: list[set[str]] = []
    for row, prompt in enumerate(prompts):
        content.append(_content(w.lower() for w in _WORD.findall(prompt[:MAX_CHARS])))
        for key, (place, spelling) in _occurrences(prompt).items():
            if key in kept:
                carriers[key].append(row)
                places[key][place] += 1
                spellings[key, place if place in SHAPES else "phrase"][spelling] += 1
    words_df: Counter[str] = Counter(w for words in content for w in words)
    phrases = []
    for key in sorted(k for k in _closed(kept) if _usable(k, places[k])):
        shape = _shape(places[key])
        spread = _spread(key, carriers[key], content, words_df)
        if spread >= min_spread:
            text = _spelling(shape, spellings[key, shape])
            phrases.append(
                Phrase(text, shape, len(carriers[key]), spread, tuple(carriers[key][:5]))
            )
    phrases.sort(key=lambda p: (-p.score, p.text))
    return phrases[:max_phrases]


# -- clusters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeCluster:
    """Phrases close in meaning; the most central first. Its operator is ``cluster:<slug>``."""

    slug: str
    members: tuple[Phrase, ...]

    @property
    def name(self) -> str:
        """The operator's name."""
        return f"cluster:{self.slug}"

    @property
    def size(self) -> int:
        """Member phrases."""
        return len(self.members)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready record (``from_dict`` rebuilds it: a run records its clusters)."""
        return {"slug": self.slug, "members": [asdict(p) for p in self.members]}

    @classmethod
    def from_dict(cls, record: dict) -> AttributeCluster:
        """The cluster of a ``to_dict`` record."""
        members = tuple(
            Phrase(**(m | {"examples": tuple(m.get("examples", ()))})) for m in record["members"]
        )
        return cls(record["slug"], members)


def default_k(n_phrases: int) -> int:
    """Clusters for ``n_phrases``: about sqrt(n / 2), at least ``MIN_CLUSTERS`` (a small
    pool keeps its few phrases apart: one cluster of four unrelated asides would insert
    the one that matters a quarter of the time), at most ``MAX_CLUSTERS``."""
    return max(1, min(MAX_CLUSTERS, n_phrases, max(MIN_CLUSTERS, round((n_phrases / 2) ** 0.5))))


def _slug(text: str, taken: set[str]) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())[:5] or ["phrase"]
    base = "_".join(words)[:40].strip("_")
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}_{n}"
    taken.add(slug)
    return slug


def cluster_attributes(
    phrases: Sequence[Phrase],
    k: int | None = None,
    encoder: SentenceTransformer | None = None,
    seed: int = 0,
) -> list[AttributeCluster]:
    """Phrases embedded (``encoder``: the offline MiniLM by default) and clustered with
    seeded spherical faiss k-means (one thread: deterministic), largest total score first."""
    if not phrases:
        return []
    import faiss

    from datasets_registry.sentence_encoder import embed, offline_minilm

    vectors = embed(encoder or offline_minilm(), [p.text for p in phrases])
    k = min(k or default_k(len(phrases)), len(phrases))
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        kmeans = faiss.Kmeans(
            vectors.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False,
            min_points_per_centroid=1, max_points_per_centroid=len(phrases),
        )  # fmt: skip
        kmeans.train(vectors)
        _, labels = kmeans.index.search(vectors, 1)
    finally:
        faiss.omp_set_num_threads(threads)
    centroids = kmeans.centroids / np.linalg.norm(kmeans.centroids, axis=1, keepdims=True)
    labels = labels[:, 0]
    centrality = np.einsum("ij,ij->i", vectors, centroids[labels])
    groups = []
    for label in range(k):
        rows = sorted(np.flatnonzero(labels == label), key=lambda r: (-centrality[r], r))
        if rows:
            groups.append(tuple(phrases[r] for r in rows))
    groups.sort(key=lambda g: (-sum(p.score for p in g), g[0].text))
    taken: set[str] = set()
    return [AttributeCluster(_slug(group[0].text, taken), group) for group in groups]


# -- operators -----------------------------------------------------------------------------

#: Neutral phrases of each shape, by word count: the placebo inserts the one nearest in
#: length to the drawn phrase (none asks for a style, a length or a stance).
NEUTRAL: dict[str, tuple[str, ...]] = {
    "label": ("Question:", "Request:", "Next question:", "The next request:"),
    "lead": (
        "So", "Okay", "For now", "Next up", "For this one", "In this case",
        "With that in mind", "For the next one", "With all that in mind",
        "Moving on to the next one", "With all of that in mind",
        "And now moving on to the next one", "As the next item on this short list",
    ),
    "opening": (
        "Hello.", "Quick question.", "Here is my question.", "I have a question for you.",
        "Here is the next question for you.", "This is the next question on my list.",
        "I have one more question that I would like answered.",
    ),
    "closing": (
        "Thanks.", "Thank you.", "Thanks in advance.", "Thank you for your time.",
        "I look forward to your answer.", "Thanks for taking a look at this.",
        "I appreciate you taking the time to answer this.",
    ),
    "phrase": (
        "for now", "in this case", "for this one", "at this point", "for the time being",
        "as of this moment", "for the purposes of this", "for the purposes of this question",
    ),
}  # fmt: skip


def _insert(prompt: str, text: str, shape: str, rng: random.Random) -> str | None:
    """``text`` put into ``prompt`` as its shape fits; one draw (start or end) for a phrase."""
    if not prompt.strip():
        return None
    if shape == "label":
        return f"{text} {sentence_case(prompt.strip())}"
    if shape == "lead":
        return f"{sentence_case(text)}, {lower_first(prompt.strip())}"
    if shape == "opening":
        return f"{close_sentence(sentence_case(text))} {sentence_case(prompt.strip())}"
    if shape == "closing":
        return f"{close_sentence(prompt)} {close_sentence(sentence_case(text))}"
    return insert_naturally(prompt, text, rng, where=rng.choice(("start", "end")))


def _pattern(members: Sequence[Phrase]) -> str:
    return "(?i)(?:" + "|".join(term_regex(p.text).removeprefix("(?i)") for p in members) + ")"


def _neutral(phrase: Phrase, pattern: str) -> str:
    """The neutral phrase of ``phrase``'s shape nearest it in words (ties: fixed by it)."""
    size = len(phrase.text.split())
    options = [t for t in NEUTRAL[phrase.shape] if not re.search(pattern, t)]
    if not options:  # every neutral phrase is a member: a made-up one
        return {"label": "Item:", "opening": "Item.", "closing": "Item."}.get(phrase.shape, "item")
    gap = min(abs(len(t.split()) - size) for t in options)
    nearest = [t for t in options if abs(len(t.split()) - size) == gap]
    return random.Random(f"placebo:{phrase.text}").choice(nearest)


def cluster_mutation(cluster: AttributeCluster) -> Mutation:
    """``cluster:<slug>``: inserts one member, drawn from the stream, where its shape fits.

    Its placebo (``placebo:cluster:<slug>``) draws the member alike, then inserts that
    member's neutral phrase (``NEUTRAL``: same shape, nearest length) at the same place:
    it fits the same prompts and draws the same numbers (``Mutation.placebo``)."""
    members = cluster.members
    pattern = _pattern(members)
    neutral = [Phrase(_neutral(p, pattern), p.shape, 0, 0.0) for p in members]

    def apply(prompt: str, rng: random.Random) -> str | None:
        member = members[rng.randrange(len(members))]
        return _insert(prompt, member.text, member.shape, rng)

    def control_apply(prompt: str, rng: random.Random) -> str | None:
        phrase = neutral[rng.randrange(len(members))]
        return _insert(prompt, phrase.text, phrase.shape, rng)

    top = members[0].text
    more = f" (or one of {len(members) - 1} more like it)" if len(members) > 1 else ""
    control = Mutation(
        f"placebo:{cluster.name}",
        f"inserts a neutral phrase where {cluster.name} inserts one of its phrases",
        control_apply,
    )
    return Mutation(
        cluster.name,
        f"inserts '{top}'{more}, found in the prompts",
        apply,
        None,  # re-tested with a member and place drawn afresh on held-out seeds
        (pattern,),
        lambda: control,
    )


# -- the registry of discovered clusters ---------------------------------------------------

_DISCOVERED: dict[str, Mutation] = {}


def register_clusters(clusters: Iterable[AttributeCluster]) -> list[Mutation]:
    """Make the clusters' operators (and placebos) known by name to ``get_mutation``."""
    made = [cluster_mutation(c) for c in clusters]
    _DISCOVERED.update((m.name, m) for m in made)
    return made


def discovered_mutation(name: str) -> Mutation | None:
    """A registered cluster's operator or placebo by name (None: not a registered one)."""
    if name.startswith("placebo:cluster:"):
        found = _DISCOVERED.get(name.removeprefix("placebo:"))
        return found.placebo() if found is not None else None
    return _DISCOVERED.get(name)


register_resolver(discovered_mutation)


def restore_clusters(args: Mapping[str, object]) -> None:
    """Make a search run's discovered attributes (its ``discovered`` argument) known by name
    again, for the stages that repeat its findings (verify, prune, attribute)."""
    records = args.get("discovered") or []
    if isinstance(records, list) and records:
        register_clusters(AttributeCluster.from_dict(r) for r in records)
