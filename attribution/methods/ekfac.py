"""``ekfac``: Bergson's EK-FAC influence, scored against the ``gradient`` method's features.

Influence of training example ``i`` on a query: ``q^T H^-1 g_i``, ``H`` the
Gauss-Newton Hessian of the training loss approximated per module by EK-FAC (George et
al. 2018; Grosse et al. 2023): Kronecker factors of the activation and output-gradient
covariances, their eigenbases, and eigenvalues corrected on per-example gradients in
that basis. Bergson fits the factors on the training rows (two passes over the mix,
unprojected, ``fit_factored_hessians``) and applies ``H^-1`` to each query's whole
(unprojected) module gradients (``FactoredPreconditioner``). The result is projected
with the index's own seeded per-module matrices (``create_module_projection_matrix``),
so ``<P H^-1 q, P g_i>`` estimates ``q^T H^-1 g_i`` against the stored projected training
gradients (Johnson-Lindenstrauss) without storing unprojected rows: the same
compression Bergson's ``ekfac`` pipeline applies to K-FAC queries. Scores are inner
products with the raw training gradients (influence, not cosine). The factors are kept
in the feature folder and reused.

Not run by ``--method all`` (``--method ekfac`` runs it): fitting costs two more passes
over the mix, and at the default 16 x 16 projection per module the compressed influence
correlates weakly with the exact one on the demo organism (``docs/attribute.md``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from attribution.bergson_gradients import BergsonFeaturiser
from attribution.feature_store import FeatureStore
from attribution.inputs import Query, TrainingSet
from attribution.methods.gradient import GradientMethod
from attribution.methods.registry import attribution_method

FACTORS = "ekfac-factors"
QUERY_CHUNK = 16  # unprojected query gradients held at a time


@attribution_method("ekfac", default=False)
@dataclass
class EkfacMethod(GradientMethod):
    """Influence through Bergson's EK-FAC inverse Hessian."""

    hit_desc: ClassVar[str] = (
        "a training example whose gradient the inverse Hessian aligns with the query's"
    )

    full: BergsonFeaturiser | None = field(default=None, repr=False)
    inverse: Any = field(default=None, repr=False)

    def fit(self, store: FeatureStore, train: TrainingSet) -> None:
        """Fit (or reuse) the EK-FAC factors of the training rows."""
        from bergson.config import InversionConfig
        from bergson.hessians.preconditioner import FactoredPreconditioner

        self.full = full = BergsonFeaturiser(replace(self.recipe, proj_dim=0), self.device)
        path = store.directory / FACTORS
        if not (path / "done.json").exists():
            self._fit_factors(full, train, path)
        self.inverse = FactoredPreconditioner.from_path(
            path, inversion_cfg=InversionConfig(), power=-1.0, ev_correction=True
        )

    def _fit_factors(self, full: BergsonFeaturiser, train: TrainingSet, path: Any) -> None:
        """Bergson's covariance, eigendecomposition and eigenvalue-correction passes."""
        from bergson.config.config import HessianConfig
        from bergson.hessians.hessian_approximations import fit_factored_hessians

        encoded = full.encode(train.prompts, train.responses)
        data = full._dataset([e for e in encoded.examples if e is not None])
        shutil.rmtree(path, ignore_errors=True)
        part = path.with_name(path.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        with full.scratch() as cfg:
            fit_factored_hessians(
                full.model,
                data,
                cfg,
                HessianConfig(method="kfac", ev_correction=True),
                target_modules=full.target_modules,
                attention_cfgs={},
                batches=full._batches(data),
                path=str(part),
                do_eigendecomposition=True,
            )
        (part / "done.json").write_text(json.dumps({"rows": len(data)}))
        part.replace(path)

    def _projected(self, name: str, flat: Any) -> np.ndarray:
        """One module's (n, out*in) gradients -> the index's (n, p*p) projection."""
        import torch
        from bergson.collector.collector import create_module_projection_matrix

        side = self.recipe.proj_dim
        if not side:  # an unprojected index: nothing to compress
            return flat.float().numpy()
        o, i = self.full.module_shapes[name]  # type: ignore[union-attr]
        g = flat.float().view(-1, o, i)
        matrices = [
            create_module_projection_matrix(
                name, role, side, size, g.dtype, g.device, self.recipe.projection, "jl",
                self.recipe.seed,
            )
            for role, size in (("left", o), ("right", i))
        ]  # fmt: skip
        out = torch.einsum("ps,nsa,ra->npr", matrices[0], g, matrices[1])
        return out.flatten(1).numpy()

    def query_features(self, queries: Sequence[Query]) -> np.ndarray:
        """``P H^-1 q`` per query, in the stored features' layout."""
        assert self.featuriser is not None, "call prepare() first"
        assert self.full is not None and self.inverse is not None
        encoded = self.full.encode([q.prompt for q in queries], [q.response for q in queries])
        out = np.zeros((len(queries), self.featuriser.dim), np.float32)
        kept = encoded.kept
        for start in range(0, len(kept), QUERY_CHUNK):
            rows = kept[start : start + QUERY_CHUNK]
            grads = self.full.module_gradients([encoded.examples[r] for r in rows])
            grads = self.inverse.apply(grads)
            out[rows] = np.concatenate([self._projected(n, g) for n, g in grads.items()], axis=1)
        return out

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """``<P H^-1 q, P g_i>`` against the raw stored training gradients."""
        assert self.store is not None, "call prepare() first"
        q = self.query_features(queries)
        norms = self.store.norms()
        return self.store.dot(q) * norms[None, :]
