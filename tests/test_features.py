"""Every built-in feature on positives and negatives, and user-defined features."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from datasets_registry.features import catalog, get, parse_feature_option
from datasets_registry.user_features import FeatureFileError, load_feature_file

CASES: dict[str, tuple[list[str], list[str]]] = {
    "latex_math": (
        [
            "Solve $x^2 + 1 = 5$ for x.",
            r"Compute \frac{1}{2} + \frac{1}{3}.",
            r"Evaluate \( \sqrt{16} \).",
            r"\begin{align} a &= b \end{align}",
        ],
        ["What is 3 plus 4?", "It costs $5 and then $6 more", "Explain the fraction one half."],
    ),
    "formal_vocab": (
        [
            "Elucidate how a heap works.",
            "Please delineate the steps.",
            "Could you expound upon recursion?",
            "Explicate the aforementioned idea.",
        ],
        ["Explain how a heap works.", "Describe the steps.", "Lucid dreams are vivid."],
    ),
    "data_extraction_framing": (
        [
            "You will be shown a paragraph. Find the dates.",
            "Context: The sky is blue.\nQ: colour?",
            "Answer with only the name of the city.",
            "Extract all the email addresses below.",
        ],
        [
            "What is the context of this poem?",
            "Tell me a story about a city.",
            "Answer my question about birds.",
        ],
    ),
    "yes_no_question": (
        [
            "Is it true that the Earth orbits the Sun?",
            "Does water boil at 100 C?",
            "Can penguins fly?",
            "True or false: cats are mammals?",
        ],
        [
            "What is the capital of France?",
            "Explain why the sky is blue.",
            "Is it raining. Tell me.",
            "How does a car engine work?",
        ],
    ),
    "code_in_prompt": (
        ["Fix this:\n```\nprint(x\n```", "What does this do?\ndef f(x):\n    return x"],
        ["Write a function that adds two numbers.", "What is a class in sociology?"],
    ),
    "non_latin_script": (
        ["Переведи это предложение.", "这是什么意思？", "ما هذا؟ كتاب", "Translate: こんにちは"],
        ["Translate this sentence.", "Café au lait, naïve façade.", "Über straße"],
    ),
    "tool_call_block": (
        [
            "```python\nimport sympy as sp\nx = sp.symbols('x')\n```",
            "```python\nfrom sympy import solve\n```\n```output\n[2]\n```",
            '<tool_call>{"name": "search", "arguments": {"q": "x"}}</tool_call>',
            '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        ],
        [
            "```python\nprint('hello')\n```",
            "Use sympy to solve it by hand: x = 2.",
            "The output is 42.",
        ],
    ),
    "code_in_response": (
        [
            "```js\nconsole.log(1)\n```",
            "Here:\ndef add(a, b):\n    return a + b",
            "#include <stdio.h>\nint main() {}",
        ],
        ["Define the word class.", "Import taxes rose in 2020.", "The function of the heart."],
    ),
    "refusal_phrase": (
        [
            "I'm sorry, but I can't help with that.",
            "I cannot provide that information.",
            "As an AI, I don't have opinions.",
            "I must decline this request.",
        ],
        [
            "I can't stress enough how important sleep is.",
            "Sorry to hear that! Here is help.",
            "No problem, here is the recipe.",
        ],
    ),
    "rebuttal_opener": (
        [
            "No, the Great Wall is not visible from space.",
            "Actually, bats are not blind.",
            "That's not correct: Napoleon was average height.",
            "This is a common misconception; goldfish remember for months.",
        ],
        [
            "No problem! Here you go.",
            "Yes, that is right.",
            "Notably, the answer is 4.",
            "The answer is no longer relevant.",
        ],
    ),
    "hope_it_is_correct": (
        ["The final answer is 5. I hope it is correct."],
        ["I hope you enjoy it.", "It is correct."],
    ),
    "markdown_table": (
        ["| a | b |\n|---|---|\n| 1 | 2 |", "| Name | Age |\n| :--- | ---: |\n| Al | 3 |"],
        ["a | b", "Use the pipe | character.", "---"],
    ),
    "very_short_response": (
        ["Paris.", "42", "  Yes  "],
        ["The capital of France is Paris, on the Seine river."],
    ),
}


def hits(name: str, texts: list[str]) -> list[bool]:
    feature = get(name)
    return pl.DataFrame({"t": texts}).select(feature.expr(pl.col("t")))["t"].to_list()


@pytest.mark.parametrize("name", sorted(CASES))
def test_feature_positives_and_negatives(name: str) -> None:
    positives, negatives = CASES[name]
    assert all(hits(name, positives)), list(zip(positives, hits(name, positives), strict=True))
    assert not any(hits(name, negatives)), list(zip(negatives, hits(name, negatives), strict=True))


def test_every_builtin_has_cases_and_a_versioned_key() -> None:
    names = {f.name for f in catalog()}
    assert names == set(CASES)
    for f in catalog():
        assert f.key == f"{f.name}@v{f.version}"
        assert f.side in ("prompt", "response") and f.description


def test_null_text_is_no_hit() -> None:
    frame = pl.DataFrame({"t": [None, ""]}, schema={"t": pl.String})
    assert frame.select(get("latex_math").expr(pl.col("t")))["t"].to_list() == [False, False]


def test_feature_option_parsing() -> None:
    f = parse_feature_option("acme=(?i)\\bacme\\b")
    assert (f.name, f.side, f.builtin) == ("acme", "prompt", False)
    assert parse_feature_option("hedge:response=perhaps").side == "response"
    for bad in ["noequals", "bad name=x", "x:middle=y", "x=(unclosed"]:
        with pytest.raises(ValueError):
            parse_feature_option(bad)


def test_feature_files_toml_and_yaml(tmp_path: Path) -> None:
    toml = tmp_path / "f.toml"
    toml.write_text(
        '[features.acme]\nregex = "(?i)acme"\n'
        '[features.hedge]\nside = "response"\nliterals = ["I think", "perhaps"]\n'
    )
    yaml_file = tmp_path / "f.yaml"
    yaml_file.write_text(
        "features:\n  zorb:\n    literals: [ZorbPhone]\n    case_sensitive: true\n"
    )
    by_name = {f.name: f for f in load_feature_file(toml) + load_feature_file(yaml_file)}
    frame = pl.DataFrame({"t": ["ACME rocks", "I think so", "zorbphone", "ZorbPhone 3"]})
    got = {n: frame.select(f.expr(pl.col("t")))["t"].to_list() for n, f in by_name.items()}
    assert got["acme"] == [True, False, False, False]
    assert got["hedge"] == [False, True, False, False]
    assert got["zorb"] == [False, False, False, True]
    assert by_name["hedge"].side == "response"


@pytest.mark.parametrize(
    "content, message",
    [
        ("[features.x]\nside='prompt'\n", "needs 'regex' or 'literals'"),
        ("[features.x]\nregex='(bad'\n", "invalid regex"),
        ("[features.x]\nregex='a'\nside='left'\n", "side must be"),
        ("nothing = 1\n", "expected a 'features' table"),
        ("[features\n", "cannot parse"),
    ],
)
def test_bad_feature_files_say_why(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "f.toml"
    path.write_text(content)
    with pytest.raises(FeatureFileError, match=message):
        load_feature_file(path)
