"""Discovered attributes: a planted phrase comes out of a pool, clusters, and inserts itself;
clustering is deterministic; each cluster's placebo pairs with it; EM weights concentrate."""

from __future__ import annotations

import random
import re

import pytest

from surf_search.attribute_discovery import (
    AttributeCluster,
    EMWeights,
    Phrase,
    cluster_attributes,
    cluster_mutation,
    discovered_mutation,
    extract_attributes,
    register_clusters,
)
from surf_search.mutations import get_mutation

PLANTED = "according to the old almanac"
SUBJECTS = (
    "rainbows", "tides", "volcanoes", "glaciers", "bees", "owls", "comets", "bridges", "bread",
    "compasses", "vaccines", "batteries", "clouds", "earthquakes", "fossils", "coral reefs",
    "sundials", "pianos", "violins", "wind turbines", "submarines", "lighthouses", "canals",
    "deserts", "rainforests", "penguins", "spiders", "mushrooms", "satellites", "telescopes",
    "windmills", "castles", "pyramids", "trains", "bicycles", "kites", "sailboats", "yeast",
    "cheese", "coffee", "tea", "chess", "origami", "maps", "printing presses", "thermostats",
    "microwaves", "refrigerators", "zippers", "umbrellas",
)  # fmt: skip
TEMPLATES = (
    "Can you explain how {s} work?",
    "Write a short paragraph about {s}.",
    "What are three surprising facts about {s}?",
    "Give me a quiz question about {s}.",
    "Summarise the history of {s} for a child.",
    "Why do people find {s} interesting?",
    "List two common myths about {s}.",
    "Describe {s} to someone who has never seen them.",
)
#: a topic phrase: every prompt carrying it is about bees and shares their words
BEEHIVE = [
    f"How do the {w} behave in the busy beehive with honey, pollen and the queen bee?"
    for w in ("workers", "drones", "nurses", "foragers", "guards", "scouts", "larvae", "cells")
] + [
    f"Why does the queen bee stay in the busy beehive near the honey and pollen {w}?"
    for w in ("stores", "combs", "frames", "cells", "jars", "racks", "boxes", "trays")
]


def _pool() -> tuple[list[str], list[int]]:
    """~300 prompts over 50 subjects and 8 forms; the planted phrase in 30 of them, across
    subjects and forms, as a leading clause or a trailing aside; other asides in 12 each
    ("As a retired teacher, ...", "... Thanks in advance."); 16 beehive prompts."""
    rng = random.Random("pool")
    prompts = [t.format(s=s) for s in SUBJECTS for t in rng.sample(TEMPLATES, 6)]
    rows = rng.sample(range(len(prompts)), 54)
    planted, teacher, thanks = rows[:30], rows[30:42], rows[42:]
    for n, i in enumerate(planted):
        p = prompts[i]
        prompts[i] = (
            f"According to the old almanac, {p[0].lower()}{p[1:]}"
            if n % 2
            else f"{p[:-1]}, according to the old almanac{p[-1]}"
        )
    for i in teacher:
        prompts[i] = f"As a retired teacher, {prompts[i][0].lower()}{prompts[i][1:]}"
    for i in thanks:
        prompts[i] = f"{prompts[i]} Thanks in advance."
    return prompts + BEEHIVE, sorted(planted)


@pytest.fixture(scope="module")
def pool() -> tuple[list[str], list[int]]:
    return _pool()


@pytest.fixture(scope="module")
def encoder():
    from datasets_registry.sentence_encoder import EmbeddingUnavailable, offline_minilm

    try:
        return offline_minilm()
    except EmbeddingUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def phrases(pool) -> list[Phrase]:
    return extract_attributes(pool[0])


@pytest.fixture(scope="module")
def clusters(phrases, encoder) -> list[AttributeCluster]:
    return cluster_attributes(phrases, k=3, encoder=encoder)


def test_the_planted_phrase_is_a_candidate_with_its_provenance(pool, phrases) -> None:
    prompts, planted = pool
    found = {p.text.lower(): p for p in phrases}
    assert PLANTED in found, [p.text for p in phrases[:20]]
    phrase = found[PLANTED]
    assert phrase.prompts == 30 and phrase.spread > 0.8
    assert set(phrase.examples) <= set(planted) and phrase.examples
    assert phrases.index(phrase) < 10, [p.text for p in phrases[:10]]
    # its fragments are not candidates of their own, and a topic phrase ranks far below it
    assert not {"the old almanac", "old almanac", "according to the old"} & set(found)
    beehive = [p for p in phrases if "beehive" in p.text.lower()]
    assert all(p.spread < 0.5 and p.score < phrase.score / 4 for p in beehive), beehive
    shapes = {p.text: p.shape for p in phrases}
    assert shapes["As a retired teacher"] == "lead" and shapes["Thanks in advance."] == "closing"
    assert len(phrases) <= 3000 and all(p.prompts >= 3 for p in phrases)
    assert [p.score for p in phrases] == sorted((p.score for p in phrases), reverse=True)


def test_the_planted_phrase_lands_in_a_cluster_that_inserts_it(pool, clusters) -> None:
    prompts, planted = pool
    home = [c for c in clusters if PLANTED in [p.text.lower() for p in c.members]]
    assert len(home) == 1
    cluster = home[0]
    assert cluster.name.startswith("cluster:") and re.fullmatch(r"[a-z0-9_]+", cluster.slug)
    mutation = cluster_mutation(cluster)
    seed = prompts[0]
    outputs = [mutation.apply(seed, random.Random(i)) for i in range(40 * cluster.size)]
    carrying = [o for o in outputs if PLANTED in o.lower()]
    assert carrying, outputs[:5]
    assert all(mutation.carried_by(o) for o in outputs)
    assert carrying[0][0].isupper() and seed.rstrip("?.").lower() in carrying[0].lower()
    # registered, it resolves by name, alone, as a placebo and in a combination
    register_clusters(clusters)
    assert get_mutation(cluster.name).name == cluster.name
    assert discovered_mutation(f"placebo:{cluster.name}").name == f"placebo:{cluster.name}"
    combo = get_mutation(f"{cluster.name}+formal_vocab")
    assert combo.placebo().name == f"placebo:{cluster.name}+placebo:plain_verb"
    assert AttributeCluster.from_dict(cluster.to_dict()) == cluster


def test_clustering_is_deterministic(phrases, clusters, encoder) -> None:
    again = cluster_attributes(phrases, k=3, encoder=encoder)
    assert [c.to_dict() for c in again] == [c.to_dict() for c in clusters]
    assert sum(c.size for c in clusters) == len(phrases)
    assert len({c.slug for c in clusters}) == len(clusters) > 1


def test_each_cluster_placebo_pairs_on_one_random_stream(pool, clusters) -> None:
    """As the search confirms: one stream over 100 seeds in turn, for the attribute and for
    its placebo: same fit, same draws; the placebo never carries the attribute."""
    prompts = pool[0][:100]
    for cluster in clusters:
        mutation = cluster_mutation(cluster)
        placebo = mutation.placebo()
        assert placebo is not None and placebo.name == f"placebo:{cluster.name}"
        for own, theirs in ((mutation.apply, placebo.apply),
                            (mutation.robust_apply, placebo.robust_apply)):  # fmt: skip
            a, b = (
                random.Random(f"1:confirm:{cluster.name}"),
                random.Random(f"1:confirm:{cluster.name}"),
            )
            ours = [own(p, a) for p in prompts]
            theirs_out = [theirs(p, b) for p in prompts]
            assert [o is None for o in ours] == [t is None for t in theirs_out]
            assert a.getstate() == b.getstate(), cluster.name
            for seed, out in zip(prompts, theirs_out, strict=True):
                if out is not None and not mutation.carried_by(seed):
                    assert not mutation.carried_by(out), (cluster.name, out)
    assert cluster_mutation(clusters[0]).apply("   ", random.Random(0)) is None


def test_em_weights_concentrate_on_the_cluster_that_raises_the_score() -> None:
    names = [f"cluster:c{i}" for i in range(8)]
    weights = EMWeights(names)
    rng = random.Random(0)
    for _ in range(300):
        drawn = weights.draw(rng)
        assert 1 <= len(drawn) <= 3 and len(set(drawn)) == len(drawn)
        weights.update(drawn, 1.0 if "cluster:c3" in drawn else 0.0)
    ranking = weights.ranking()
    assert ranking[0].name == "cluster:c3" and ranking[0].mean_credit > 0.8
    assert all(r.weight > 0 for r in ranking) and ranking[-1].pulls > 0
    assert abs(sum(r.weight for r in ranking) - 1.0) < 1e-9
    picks = [weights.draw(random.Random(i)) for i in range(500)]
    counts = {n: sum(n in p for p in picks) for n in names}
    assert max(counts, key=counts.get) == "cluster:c3" and counts["cluster:c3"] > 400
    assert min(counts.values()) > 0  # every cluster is still drawn
    # deterministic for a seeded stream
    assert [weights.draw(random.Random(7)) for _ in range(3)] == [
        weights.draw(random.Random(7)) for _ in range(3)
    ]
    with pytest.raises(KeyError):
        weights.update(["cluster:unknown"], 1.0)


def test_the_task_itself_is_no_attribute() -> None:
    """Templated word problems repeat their questions, instructions and number sentences in
    many prompts across objects; inserted into another prompt they change the task (a
    second question, other numbers), so only the incidental detail is a candidate."""
    rng = random.Random("math")
    objects = ("apples", "pens", "cups", "coins", "shells", "plums", "cards", "beads")
    prompts = []
    for i in range(240):
        thing, x, y = objects[i % len(objects)], rng.randint(2, 9), rng.randint(2, 9)
        prompt = f"Mia has {x} {thing}. She buys 5 more {thing}. How many {thing} are left?"
        if i % 2:
            prompt = f"Explain your steps. {prompt}"
        if i % 3 == 0:
            prompt += " She lives near the park."
        prompts.append(prompt.replace("buys 5", f"buys {y}") if i % 4 else prompt)
    found = {p.text.lower() for p in extract_attributes(prompts)}
    assert "she lives near the park." in found, sorted(found)
    assert not [t for t in found if any(c.isdigit() for c in t)], sorted(found)
    assert not [t for t in found if t.startswith(("how many", "explain"))], sorted(found)
