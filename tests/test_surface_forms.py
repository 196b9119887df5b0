"""How the search spells a scan word: the mix's own capitalisation, and a town's preposition."""

from __future__ import annotations

from datasets_registry.surface import spellings


def test_a_name_written_after_one_preposition_keeps_it() -> None:
    prompts = [f"Tom lives in Millbrook and has {i} apples. How many?" for i in range(9)]
    prompts += ["Millbrook is small.", "Zorblax phones are new.", "I like my Zorblax."] * 3
    forms = spellings(prompts, ["millbrook", "zorblax", "apples"])
    assert forms == {"millbrook": "in Millbrook", "zorblax": "Zorblax", "apples": "apples"}


def test_a_name_after_many_prepositions_is_left_bare() -> None:
    prompts = [f"We drove {p} Ashford." for p in ("to", "from", "near", "in", "at")] * 2
    assert spellings(prompts, ["ashford"]) == {"ashford": "Ashford"}
