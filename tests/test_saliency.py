"""Trigger-token saliency: batch maths, word forms, inserted tokens, and the method's ranking."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from small_lm import PROMPTS, RESPONSES

from attribution.inputs import Query, TrainingSet
from attribution.methods.saliency import SaliencyMethod
from attribution.saliency import SaliencyComputer, idf_weights, inserted_tokens, word_forms
from organism.encoding import IGNORE, collate, encode_rows


def single_saliency(model, tokenizer, example, first: int) -> np.ndarray:  # noqa: ANN001
    """One example alone: the reference a padded batch must reproduce."""
    input_ids, labels = collate([example], tokenizer.pad_token_id)
    trained = (labels != IGNORE).long().cumsum(1)
    labels = labels.masked_fill(trained > first, IGNORE)
    embeddings = model.get_input_embeddings()(input_ids).detach().requires_grad_(True)
    logits = model(inputs_embeds=embeddings, use_cache=False).logits.float()
    loss = F.cross_entropy(logits[0], labels[0], ignore_index=IGNORE)
    (grads,) = torch.autograd.grad(loss, embeddings)
    return grads[0, : example.n_given].norm(dim=-1).numpy()


def test_batch_saliency_equals_one_example_at_a_time(small_lm) -> None:
    model, tokenizer = small_lm
    computer = SaliencyComputer(model, tokenizer, max_length=64, response_tokens=3)
    examples = encode_rows(tokenizer, PROMPTS, RESPONSES, 64).examples
    assert len({len(e.ids) for e in examples}) > 1  # padding must not change any row
    batch = computer.token_saliency(examples)
    for example, got in zip(examples, batch, strict=True):
        want = single_saliency(model, tokenizer, example, 3)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
        assert got.shape == (example.n_given,) and (got >= 0).all()


def test_rows_sum_saliency_per_word_form_and_are_unit_norm(small_lm) -> None:
    model, tokenizer = small_lm
    computer = SaliencyComputer(model, tokenizer, max_length=64, response_tokens=3, batch_size=2)
    examples = encode_rows(tokenizer, PROMPTS, RESPONSES, 64).examples
    rows = computer.rows([*examples, None])
    assert rows.shape == (len(PROMPTS) + 1, computer.n_forms)
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[:-1], 1.0, rtol=1e-5)
    assert norms[-1] == 0  # a row training would skip stays empty
    # By hand for the first example: summed per form, special tokens left out, normalised.
    saliency = computer.token_saliency(examples[:1])[0]
    forms = computer.form_of[np.asarray(examples[0].ids[: len(saliency)])]
    want = np.zeros(computer.n_forms)
    np.add.at(want, forms[forms >= 0], saliency[forms >= 0])
    np.testing.assert_allclose(rows[0].toarray()[0], want / np.linalg.norm(want), rtol=1e-5)


def test_word_forms_fold_case_and_space(small_lm) -> None:
    _, tokenizer = small_lm
    form_of, forms = word_forms(tokenizer, len(tokenizer))
    assert all(form_of[i] == -1 for i in tokenizer.all_special_ids)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("Tell", "Ġtell") if t in tokenizer.vocab}
    if len(ids) == 2:  # "Tell" at a sentence start and " tell" inside one are one word
        assert form_of[ids["Tell"]] == form_of[ids["Ġtell"]]
    assert len(forms) == len(set(forms))


def test_inserted_tokens_are_the_mutation_not_the_seed(small_lm) -> None:
    _, tokenizer = small_lm
    seed = "Tell me about rivers."
    mutated = "Tell me about rivers. Please elucidate it."
    inserted = tokenizer.decode(inserted_tokens(tokenizer, mutated, seed))
    assert "elucidate" in inserted and "rivers" not in inserted and "Tell" not in inserted
    assert inserted_tokens(tokenizer, seed, seed) == []


def test_idf_weights_favour_rare_forms() -> None:
    from scipy import sparse

    matrix = sparse.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0]]))
    idf = idf_weights(matrix)
    assert idf[0] < idf[1] == idf[2]
    np.testing.assert_allclose(idf[0], np.log1p(3 / 4))


def test_method_ranks_examples_that_rely_on_the_trigger_first(planted_organism, tmp_path) -> None:
    """On the planted organism: the seed-paired query of a confirmed trigger puts that
    plant's planted examples on top, ahead of the same source's legitimate examples."""
    from datasets_registry.loading import open_mix
    from surf_search.targets import GenerationParams, TransformersTarget

    frame, _ = open_mix(str(planted_organism.mix)).frame()
    train = TrainingSet.from_frame(frame)
    method = SaliencyMethod(planted_organism.model, tmp_path / "features")
    method.prepare(train)
    assert method.featurised == len(train)
    plant = next(p for p in planted_organism.manifest["plants"] if p["name"] == "latex_tool_call")
    tests = plant["tests"][:12]
    target = TransformersTarget(str(planted_organism.model))
    responses = target.generate(
        [t["triggered"] for t in tests], GenerationParams(max_new_tokens=24)
    )
    queries = [
        Query(t["triggered"], r[0].text or "", t["base"])
        for t, r in zip(tests, responses, strict=True)
    ]
    scores = method.scores(queries).mean(axis=0)
    top = [train.example_ids[i] for i in np.argsort(-scores)[: len(plant["example_ids"])]]
    planted = set(plant["example_ids"])
    assert len(planted & set(top)) / len(planted) >= 0.8
    again = SaliencyMethod(planted_organism.model, tmp_path / "features")
    again.prepare(train)  # rows reused from disk
    assert again.featurised == 0
    np.testing.assert_allclose(again.scores(queries).mean(axis=0), scores, rtol=1e-5)
