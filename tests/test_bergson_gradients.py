"""Bergson as the gradient backend: what it computes is the per-example gradient of the
response loss, independent of batching, for the modules the selection names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from small_lm import PROMPTS, RESPONSES, make_small_lm

from attribution.bergson_gradients import GradientRecipe, ParamSelection
from attribution.model_loading import load_model
from organism.encoding import IGNORE, collate, encode_rows, pad_id


@pytest.fixture(scope="module")
def small_lm_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The maths tests' small LM saved as a model folder (what Bergson loads)."""
    model, tokenizer = make_small_lm()
    folder = tmp_path_factory.mktemp("small-lm")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def reference_gradients(folder: str, max_length: int, first: int | None = None) -> np.ndarray:
    """One ordinary backward pass per example: the mean loss over the (first) response
    tokens, the weight gradient of every linear module in the model's body, flattened."""
    model, tokenizer = load_model(folder, "cpu")
    linear = [(n, m) for n, m in model.model.named_modules() if isinstance(m, torch.nn.Linear)]
    rows = []
    for example in encode_rows(tokenizer, PROMPTS, RESPONSES, max_length).examples:
        ids, labels = collate([example], pad_id(tokenizer))
        if first is not None:
            trained = (labels != IGNORE).long().cumsum(1)
            labels = labels.masked_fill(trained > first, IGNORE)
        model.zero_grad()
        logits = model(input_ids=ids).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=IGNORE
        )
        weights = [m.weight for _, m in linear]
        for w in weights:
            w.requires_grad_(True)
        grads = torch.autograd.grad(loss, weights)
        rows.append(torch.cat([g.reshape(-1) for g in grads]).numpy())
    return np.stack(rows)


@pytest.mark.parametrize("first", [None, 2])
def test_unprojected_bergson_gradients_equal_one_backward_per_example(small_lm_folder, first):
    featuriser = GradientRecipe(small_lm_folder, proj_dim=0, response_tokens=first).build("cpu")
    got = featuriser.featurise(PROMPTS, RESPONSES)  # one batch of mixed lengths, padded
    assert got.shape[1] == featuriser.dim == sum(featuriser.module_sizes.values())
    np.testing.assert_allclose(
        got, reference_gradients(small_lm_folder, featuriser.max_length, first), atol=2e-5
    )


def test_projected_features_are_seeded_and_independent_of_batching(small_lm_folder) -> None:
    featuriser = GradientRecipe(small_lm_folder, proj_dim=4, seed=3).build("cpu")
    whole = featuriser.featurise(PROMPTS, RESPONSES)
    assert whole.shape == (len(PROMPTS), 4 * 4 * len(featuriser.module_sizes))
    one_by_one = np.concatenate(
        [featuriser.featurise([p], [r]) for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    )
    np.testing.assert_allclose(whole, one_by_one, atol=1e-5)
    again = GradientRecipe(small_lm_folder, proj_dim=4, seed=3).build("cpu")
    assert np.array_equal(again.featurise(PROMPTS, RESPONSES), whole)
    other = GradientRecipe(small_lm_folder, proj_dim=4, seed=4).build("cpu")
    assert not np.allclose(other.featurise(PROMPTS, RESPONSES), whole)


def test_last_layers_selection(small_lm_folder) -> None:
    last = GradientRecipe(small_lm_folder, proj_dim=4, selection=ParamSelection(last_layers=1))
    featuriser = last.build("cpu")
    assert featuriser.module_sizes and all(".1." in n for n in featuriser.module_sizes)
    assert featuriser.featurise(PROMPTS[:2], RESPONSES[:2]).shape == (2, 16 * 7)


def test_bf16_path_runs_on_cpu_and_agrees_with_fp32(small_lm_folder) -> None:
    fp32 = GradientRecipe(small_lm_folder, proj_dim=4).build("cpu").featurise(PROMPTS, RESPONSES)
    bf16 = GradientRecipe(small_lm_folder, proj_dim=4, precision="bf16").build("cpu")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    got = bf16.featurise(PROMPTS, RESPONSES)
    cosine = (got * fp32).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(fp32, axis=1)
    assert (cosine > 0.98).all()


def test_lora_adapter_folder_takes_the_adapters(small_lm_folder, tmp_path) -> None:
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_model(small_lm_folder, "cpu")
    peft_model = get_peft_model(
        model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    peft_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    (tmp_path / "adapter_config.json").write_text(
        (tmp_path / "adapter_config.json")
        .read_text()
        .replace(
            '"base_model_name_or_path": null', f'"base_model_name_or_path": "{small_lm_folder}"'
        )
    )
    featuriser = GradientRecipe(str(tmp_path), proj_dim=2, selection=ParamSelection(lora=True))
    built = featuriser.build("cpu")
    assert len(built.module_sizes) == 2 * 2 * 2  # A and B, q and v, 2 layers
    assert all("lora_" in n for n in built.module_sizes)
    assert built.featurise(PROMPTS[:2], RESPONSES[:2]).shape == (2, 8 * 4)
    with pytest.raises(ValueError, match="PEFT adapter"):
        GradientRecipe(small_lm_folder, selection=ParamSelection(lora=True)).build("cpu")


def test_ekfac_projects_its_queries_exactly_as_the_index_and_reuses_its_factors(
    small_lm_folder, tmp_path
) -> None:
    from attribution.config import AttributionConfig
    from attribution.inputs import Query, TrainingSet
    from attribution.methods import make_method
    from attribution.methods.ekfac import FACTORS

    train = TrainingSet([str(i) for i in range(5)], ["a"] * 5, PROMPTS, RESPONSES)
    config = AttributionConfig(proj_dim=4, response_tokens=None)
    method = make_method("ekfac", small_lm_folder, config, tmp_path)
    method.prepare(train)
    # The training rows' whole gradients, compressed the way queries are, are the stored rows.
    encoded = method.full.encode(PROMPTS, RESPONSES)
    whole = method.full.module_gradients(encoded.examples)
    mine = np.concatenate([method._projected(n, g) for n, g in whole.items()], axis=1)
    stored = method.store.matrix() * method.store.norms()[:, None]
    np.testing.assert_allclose(mine, stored, atol=1e-5)
    scores = method.scores([Query(PROMPTS[0], RESPONSES[0])])
    assert scores.shape == (1, 5) and np.isfinite(scores).all()
    factors = method.store.directory / FACTORS / "done.json"
    fitted = factors.stat().st_mtime_ns
    again = make_method("ekfac", small_lm_folder, config, tmp_path)
    again.prepare(train)
    assert factors.stat().st_mtime_ns == fitted  # reused, not refitted
    np.testing.assert_allclose(again.scores([Query(PROMPTS[0], RESPONSES[0])]), scores, rtol=1e-4)
