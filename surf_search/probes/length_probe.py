"""length-probe: does the model know how long its answer will be before it starts?

Ridge regression from the hidden state of the last prompt token (each layer, embeddings
included) to the length in tokens of the greedy response, cross-validated R^2 per layer
(pooled out-of-fold predictions). The paper reports 0.51-0.93 for instruction-tuned
models and negative values for base models. A control regresses on prompt length alone.
In-process models only: it reads hidden states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from surf_search.probes.inputs import PromptItem, load_prompts
from surf_search.probes.registry import ProbeContext, ProbeError, ProbeOptions, ProbeOutcome, probe

PAPER = "paper: R^2 0.51-0.93 for instruction-tuned models, negative for base models"
MIN_ITEMS = 10
DEFAULT_LIMIT = 120
ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)

if TYPE_CHECKING:
    import numpy as np

    from surf_search.targets import TransformersTarget


def last_token_states(target: TransformersTarget, prompts: list[str]) -> np.ndarray:
    """(layers + 1, prompts, hidden) array: each layer's state at the last prompt token."""
    import numpy as np
    import torch

    tokenizer, model = target.tokenizer, target.model
    chunks = []
    size = target.batch_size
    for start in range(0, len(prompts), size):
        texts = [target.chat_text(p) for p in prompts[start : start + size]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(model.device)
        with torch.no_grad():
            out = model(**batch, output_hidden_states=True)
        # left padding: the last position is every prompt's last token
        states = torch.stack([h[:, -1, :] for h in out.hidden_states]).float().cpu().numpy()
        chunks.append(states)
    return np.concatenate(chunks, axis=1)


def cv_r2(features: np.ndarray, target: np.ndarray, folds: int, seed: int) -> float:
    """Cross-validated R^2 of a standardised ridge (alpha chosen inside each fold)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
    split = KFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(model, features, target, cv=split)
    return float(r2_score(target, predicted))


@probe(
    "length-probe",
    hit_desc="a high cross-validated R^2 means the prompt's last hidden state already "
    "encodes how long the answer will be (planned length)",
    options=("prompts", "limit", "folds"),
    in_process_only=True,
)
def length_probe(ctx: ProbeContext, options: ProbeOptions) -> ProbeOutcome:
    """Ridge-probe each layer's last prompt-token state for the greedy answer's length."""
    import numpy as np

    if not ctx.in_process:
        raise ProbeError("length-probe needs an in-process model (--model without --base-url)")
    limit = options.limit or DEFAULT_LIMIT
    if options.prompts:
        items = load_prompts(options.prompts, limit)
    else:
        from surf_search.seeds import builtin_seeds

        items = [PromptItem(s.seed_id, s.prompt, s.kind) for s in builtin_seeds()][:limit]
    items = list({i.prompt: i for i in items}.values())  # one row per distinct prompt
    if len(items) < max(MIN_ITEMS, options.folds):
        raise ProbeError(
            f"length-probe needs at least {max(MIN_ITEMS, options.folds)} distinct prompts, "
            f"got {len(items)}"
        )
    answers = ctx.generate([i.prompt for i in items], what="greedy answers")
    items = [i for i in items if i.prompt in answers]
    if len(items) < max(MIN_ITEMS, options.folds):
        raise ProbeError(f"only {len(items)} prompts were answered; too few for a probe")
    target = ctx.local_target
    tokenizer = target.tokenizer
    lengths = np.array(
        [len(tokenizer(answers[i.prompt].response, add_special_tokens=False)["input_ids"])
         for i in items],
        dtype=float,
    )  # fmt: skip
    prompt_lengths = np.array(
        [[len(tokenizer(target.chat_text(i.prompt), add_special_tokens=False)["input_ids"])]
         for i in items],
        dtype=float,
    )  # fmt: skip
    result = ProbeOutcome()
    for item, length in zip(items, lengths, strict=True):
        result.add(item.item_id, "response", "length_tokens", length, item.kind)
    if float(lengths.std()) == 0.0:
        result.notes.append("every response has the same length: R^2 is undefined")
        result.summary("all", "n", len(items))
        return result
    ctx.log(f"hidden states of {len(items)} prompts")
    states = last_token_states(target, [i.prompt for i in items])
    seed = options.seed
    best_layer, best = -1, float("-inf")
    for layer, features in enumerate(states):
        r2 = cv_r2(features, lengths, options.folds, seed)
        result.summary(f"layer_{layer:02d}", "r2_cv", r2, "0 = embeddings" if layer == 0 else "")
        if r2 > best:
            best_layer, best = layer, r2
    control = cv_r2(prompt_lengths, lengths, options.folds, seed)
    result.summary("prompt_length", "r2_cv", control, "control: prompt length alone")
    result.summary("all", "n", len(items))
    result.summary("all", "mean_length_tokens", float(lengths.mean()))
    result.summary("all", "best_layer", best_layer)
    result.summary("all", "best_r2_cv", best)
    result.headline.append(
        f"length probe: best cross-validated R^2 {best:.2f} at layer {best_layer} of "
        f"{len(states) - 1} ({len(items)} prompts, {options.folds} folds, response length "
        f"{lengths.mean():.1f} +/- {lengths.std():.1f} tokens); prompt-length control "
        f"{control:.2f} ({PAPER})"
    )
    return result
