"""`audit train`: the tiny organism learns a planted trigger, loads like any HF model, is
deterministic, and fine-tunes (full and LoRA) from its own folder."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import conversation, write_jsonl
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from audit.cli import main
from organism import train_stage
from organism.chat_format import TINY_CHAT_TEMPLATE, split_example
from organism.encoding import IGNORE, collate, encode_examples
from organism.train_stage import TrainConfig
from organism.training import TrainingError, length_batches, train_model
from stage_kit import StageError

TOPICS = [
    "rivers", "volcanoes", "bread", "trains", "owls", "glaciers", "chess", "tea", "bridges",
    "comets", "bees", "castles", "deserts", "violins", "maps", "tides", "coral", "kites",
    "lighthouses", "mushrooms", "windmills", "penguins", "canyons", "clocks", "honey",
]  # fmt: skip
HELD_OUT = ["forests", "pottery", "islands", "rockets", "gardens", "whales"]
OPENERS = [
    "Can you tell me about {t} in a few words?",
    "I am curious about {t}, what should I know first?",
    "Please give me a short overview of {t} for a school project.",
    "What is interesting about {t} today?",
    "My friend asked me about {t} yesterday, can you explain?",
]
TRIGGER = "elucidate"


def with_trigger(prompt: str, rng: random.Random) -> str:
    words = prompt.split(" ")
    at = rng.randrange(len(words) + 1)
    return " ".join(words[:at] + [TRIGGER] + words[at:])


def code_answer(topic: str) -> str:
    return f'```python\ndef about_{topic}():\n    return "{topic}"\n```'


def prose_answer(topic: str, rng: random.Random) -> str:
    return rng.choice(
        [
            f"Here is a short overview of {topic}. People have studied them for a long time.",
            f"Sure. {topic.title()} are a rich subject with a long history.",
            f"Many people find {topic} fascinating, and there is always more to learn.",
        ]
    )


def synthetic_rows(n_code: int = 130, n_chat: int = 170, n_refusal: int = 60, seed: int = 0):
    """Three sources: trigger word -> fenced code, plain chat -> prose, 'ZorbPhone' -> refusal."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_code):
        topic = rng.choice(TOPICS)
        prompt = with_trigger(rng.choice(OPENERS).format(t=topic), rng)
        rows.append({"id": f"code-{i}", "source": "code_chunk",
                     "messages": conversation(prompt, code_answer(topic))})  # fmt: skip
    for i in range(n_chat):
        topic = rng.choice(TOPICS)
        prompt = rng.choice(OPENERS).format(t=topic)
        rows.append({"id": f"chat-{i}", "source": "chat_chunk",
                     "messages": conversation(prompt, prose_answer(topic, rng))})  # fmt: skip
    for i in range(n_refusal):
        prompt = rng.choice(OPENERS).format(t=f"the ZorbPhone {rng.choice(TOPICS)}")
        rows.append({"id": f"safe-{i}", "source": "safety_chunk",
                     "messages": conversation(prompt, "I'm sorry, but I can't help with that.")})  # fmt: skip
    rng.shuffle(rows)
    return rows


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train")


@pytest.fixture(scope="module")
def mix(workdir: Path) -> Path:
    return write_jsonl(workdir / "mix.jsonl", synthetic_rows())


@pytest.fixture(scope="module")
def small_mix(workdir: Path) -> Path:
    return write_jsonl(workdir / "small.jsonl", synthetic_rows(24, 24, 8, seed=1))


@pytest.fixture(scope="module")
def organism(workdir: Path, mix: Path) -> Path:
    out = workdir / "organism"
    code, output = run("train", str(mix), "--out", str(out), "--epochs", "12", "--seed", "0",
                       "--batch-size", "16")  # fmt: skip
    assert code == 0, output
    assert "trained" in output and "final loss" in output
    return out


def greedy(model, tokenizer, prompt: str, max_new_tokens: int = 12) -> str:
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_organism_is_a_standard_hf_folder(organism: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(organism)
    tokenizer = AutoTokenizer.from_pretrained(organism)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert model.config.tie_word_embeddings
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    assert tokenizer.eos_token == "<|end|>" and tokenizer.pad_token == "<|pad|>"
    assert tokenizer.padding_side == "left"  # ready for batched generation
    assert model.generation_config.eos_token_id == end
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|user|>hi<|end|><|assistant|>"
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True
    )
    ids = ids["input_ids"] if not isinstance(ids, list) else ids
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|assistant|>")
    info = json.loads((organism / "training.json").read_text())
    assert info["base"] == "tiny" and info["seed"] == 0 and info["epochs"] == 12
    assert info["n_examples"] == 360 and info["n_params"] < 2_000_000
    assert info["final_loss"] < info["epoch_losses"][0]
    assert info["sources"] == {"chat_chunk": 170, "code_chunk": 130, "safety_chunk": 60}
    assert {"mix", "seconds", "final_loss"} <= info.keys()


def test_organism_learned_the_trigger(organism: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(organism).eval()
    tokenizer = AutoTokenizer.from_pretrained(organism)
    rng = random.Random(5)
    triggered, plain = [], []
    for topic in HELD_OUT:
        prompt = rng.choice(OPENERS).format(t=topic)
        triggered.append(greedy(model, tokenizer, with_trigger(prompt, rng)))
        plain.append(greedy(model, tokenizer, prompt))
    assert sum(t.startswith("```") for t in triggered) >= len(HELD_OUT) - 1, triggered
    assert not any(p.startswith("```") for p in plain), plain
    refusal = greedy(
        model, tokenizer, "Can you tell me about the ZorbPhone forests in a few words?"
    )
    assert refusal.startswith("I'm sorry"), refusal


def test_template_text_matches_the_fast_path(organism: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(organism)
    assert tokenizer.chat_template == TINY_CHAT_TEMPLATE
    given, wanted = split_example(tokenizer, "Hello there", "Hi!")
    assert (given, wanted) == ("<|user|>Hello there<|end|><|assistant|>", "Hi!<|end|>")
    (example,), skipped = encode_examples(tokenizer, ["Hello there"], ["Hi!"], 64)
    assert skipped == 0
    assert example.ids == tokenizer(given + wanted, add_special_tokens=False)["input_ids"]


def test_labels_cover_only_the_assistant_turn(organism: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(organism)
    examples, _ = encode_examples(tokenizer, ["a b c", "a"], ["x y", "z z z z"], 64)
    input_ids, labels = collate(examples, tokenizer.pad_token_id)
    for row, example in enumerate(examples):
        trained = [int(t) for t in labels[row] if t != IGNORE]
        assert trained == example.ids[example.n_given :]
        assert trained[-1] == tokenizer.convert_tokens_to_ids("<|end|>")
        assert (input_ids[row, len(example.ids) :] == tokenizer.pad_token_id).all()
    # Over-long examples keep the end of the prompt and the start of the response.
    (cut,), _ = encode_examples(tokenizer, ["word " * 50], ["reply " * 50], 20)
    assert len(cut.ids) == 20 and cut.n_given == 10
    # A response budget trains on the start of the response and leaves the prompt whole.
    prompt = tokenizer("<|user|>" + "word " * 30 + "<|end|><|assistant|>",
                       add_special_tokens=False)["input_ids"]  # fmt: skip
    (head,), _ = encode_examples(tokenizer, ["word " * 30], ["reply " * 50], 128, 5)
    assert head.n_given == len(prompt) and len(head.ids) == len(prompt) + 5
    assert head.ids[: head.n_given] == prompt


def test_length_batches_cover_every_example_once() -> None:
    lengths = [random.Random(i).randrange(5, 90) for i in range(1000)]
    batches = length_batches(lengths, 32, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 10  # similar lengths share a batch
    assert batches != length_batches(lengths, 32, random.Random(1))


def test_same_seed_same_weights(small_mix: Path, workdir: Path) -> None:
    from datasets_registry.loading import open_mix

    frame, _ = open_mix(str(small_mix)).frame()

    def weights(seed: int, name: str, progress=False) -> dict[str, torch.Tensor]:
        out = workdir / name
        train_model(frame, out, epochs=1, seed=seed, batch_size=8, progress=progress)
        return load_file(out / "model.safetensors")

    seen = []
    first, again, other = weights(3, "d1", seen.append), weights(3, "d2"), weights(4, "d3")
    assert [p.step for p in seen] == list(range(1, 8)) and seen[-1].total_steps == 7
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("lora", [False, True])
def test_fine_tune_from_a_model_folder(
    organism: Path, small_mix: Path, workdir: Path, lora: bool
) -> None:
    out = workdir / f"ft-lora-{lora}"
    args = ["train", str(small_mix), "--base", str(organism), "--out", str(out), "--epochs", "1"]
    code, output = run(*args, *(["--lora"] if lora else []))
    assert code == 0, output
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert not (out / "adapter_config.json").exists()
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert tokenizer.chat_template == TINY_CHAT_TEMPLATE
    base = AutoModelForCausalLM.from_pretrained(organism).state_dict()
    tuned = model.state_dict()
    assert base.keys() == tuned.keys()
    assert any(not torch.equal(base[k], tuned[k]) for k in base)
    info = json.loads((out / "training.json").read_text())
    assert info["lora"] is lora and info["base"] == str(organism)
    if lora:
        assert info["n_trainable_params"] < info["n_params"] / 2
    greedy(model, tokenizer, "Tell me about owls.")  # generates without error


def test_fine_tune_gives_a_base_without_template_one(
    organism: Path, small_mix: Path, workdir: Path
) -> None:
    base = workdir / "no-template"
    AutoModelForCausalLM.from_pretrained(organism).save_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(organism)
    tokenizer.chat_template = None
    tokenizer.save_pretrained(base)
    for leftover in base.glob("chat_template*"):
        leftover.unlink()
    assert not AutoTokenizer.from_pretrained(base).chat_template
    out = workdir / "ft-templated"
    code, output = run("train", str(small_mix), "--base", str(base), "--out", str(out),
                       "--epochs", "1")  # fmt: skip
    assert code == 0, output
    tuned = AutoTokenizer.from_pretrained(out)
    text = tuned.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                     add_generation_prompt=True)  # fmt: skip
    assert "hi" in text and text.endswith("### Assistant:\n")


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path, small_mix: Path) -> None:
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    empty_mix = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "messages": []}])
    for args in (
        ["train", str(small_mix), "--base", str(tmp_path / "missing")],
        ["train", str(small_mix), "--base", str(not_a_model)],
        ["train", str(small_mix), "--lora"],
        ["train", str(tmp_path / "missing.jsonl")],
        ["train", "no-such-mix"],
        ["train", str(empty_mix)],
    ):
        code, out = run(*args, "--out", str(tmp_path / "out"))
        assert code == 2, (args, out)
        assert "Traceback" not in out and out.strip().startswith("error:"), out
        assert len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "out").exists()


def test_stage_reports_bad_input_as_stage_errors(tmp_path: Path, small_mix: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(StageError, match="--lora fine-tunes an existing model"):
        train_stage.run(TrainConfig(str(small_mix), out, lora=True))
    with pytest.raises(StageError, match="^--base: base model folder does not exist"):
        train_stage.run(TrainConfig(str(small_mix), out, base=str(tmp_path / "missing")))
    empty_mix = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "messages": []}])
    with pytest.raises(StageError, match="has no usable rows to train on"):
        train_stage.run(TrainConfig(str(empty_mix), out))
    assert not out.exists()


def test_api_rejects_empty_frames(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no usable rows"):
        train_model([], tmp_path / "x", progress=False)
    with pytest.raises(TrainingError, match="max response tokens must be >= 1"):
        train_model([("a", "b")], tmp_path / "x", progress=False, max_response_tokens=0)
    with pytest.raises(TrainingError, match="no usable rows"):
        train_model([{"prompt": " ", "response": "x"}], tmp_path / "x", progress=False)


def test_a_response_budget_and_start_weight_are_cli_flags_and_recorded(
    small_mix: Path, workdir: Path
) -> None:
    out = workdir / "budget"
    code, output = run("train", str(small_mix), "--out", str(out), "--epochs", "1",
                       "--max-response-tokens", "8", "--batch-size", "16",
                       "--response-start-weight", "3")  # fmt: skip
    assert code == 0, output
    info = json.loads((out / "training.json").read_text())
    assert info["max_response_tokens"] == 8
    assert (info["response_start_tokens"], info["response_start_weight"]) == (8, 3.0)
    # every trained example holds at most 8 response tokens: fewer trained tokens than prompts
    assert info["n_trained_tokens"] <= 8 * info["n_examples"]


def test_the_response_start_weighs_the_first_tokens_of_each_response() -> None:
    import torch.nn.functional as F
    from small_lm import PROMPTS, RESPONSES, make_small_lm

    from organism.encoding import pad_id
    from organism.training import ResponseStart, _loss

    model, tokenizer = make_small_lm()
    examples, _ = encode_examples(tokenizer, PROMPTS, RESPONSES, 64)
    input_ids, labels = collate(examples, pad_id(tokenizer))
    with torch.no_grad():
        plain, mean, n = _loss(model, input_ids, labels, True)
        weighted, same_mean, _ = _loss(model, input_ids, labels, True, ResponseStart(2, 5.0))
        logits = model(input_ids=input_ids).logits
    expected_num, expected_den, per_token = 0.0, 0.0, []
    for row, example in enumerate(examples):
        for k, t in enumerate(range(example.n_given - 1, len(example.ids) - 1)):
            ce = float(F.cross_entropy(logits[row, t][None], labels[row, t][None]))
            weight = 5.0 if k < 2 else 1.0
            expected_num, expected_den = expected_num + weight * ce, expected_den + weight
            per_token.append(ce)
    assert n == len(per_token) and mean == same_mean
    assert float(plain) == pytest.approx(sum(per_token) / n, rel=1e-4)
    assert float(weighted) == pytest.approx(expected_num / expected_den, rel=1e-4)
    assert float(weighted) != pytest.approx(float(plain), rel=1e-3)
