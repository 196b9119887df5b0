"""Gradient featurisation on Ray: one actor per GPU (or ``ray_workers`` CPU actors).

Each actor loads the model once and builds the same gradient computer and seeded
projector as the single-process path (:meth:`GradientMethod.featuriser`), then
featurises whole store shards (row ranges) with the same code
(:func:`featurise_rows`). The actors send the projected features back (a shard of
4096 rows x 512 dims is 8 MiB) and the driver writes each shard into the feature
store as it arrives, so the store needs no shared filesystem and an interrupted
run resumes with the shards still missing. A dead actor is restarted and its
shard retried.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from attribution.feature_store import FeatureStore
from attribution.methods import Progress, TrainingSet, featurise_rows
from datasets_registry.ray_cluster import MAX_RETRIES, cluster_gpus, ray_session, task_errors

if TYPE_CHECKING:
    from attribution.methods import GradientMethod


class ShardFeaturiser:
    """A Ray actor: the model loaded once, projected gradients of any number of row ranges."""

    def __init__(self, method: GradientMethod) -> None:
        self.computer, self.projector = method.featuriser()

    def featurise(
        self, index: int, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[int, np.ndarray]:
        return index, featurise_rows(self.computer, self.projector, prompts, responses)


def featurise_on_ray(
    method: GradientMethod,
    train: TrainingSet,
    store: FeatureStore,
    missing: Sequence[int],
    progress: Progress | None = None,
) -> int:
    """Fill the ``missing`` shards of ``store`` on Ray; returns the rows featurised."""
    assert method.ray_address is not None
    total = sum(store.shard_range(i)[1] - store.shard_range(i)[0] for i in missing)
    done = 0
    # The actors' copy of the method: no driver-side model, store or Ray address.
    recipe = dataclasses.replace(method, ray_address=None, store=None)
    for attribute in ("computer", "projector", "preconditioner"):
        recipe.__dict__.pop(attribute, None)
    with ray_session(method.ray_address) as ray:
        from ray.util import ActorPool

        gpus = cluster_gpus(ray)
        resources: dict[str, Any] = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        actor_class = ray.remote(
            max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES, **resources
        )(ShardFeaturiser)
        n_actors = min(gpus or method.ray_workers, len(missing))
        # The recipe goes inline (not ray.put): a restarted actor needs its arguments again.
        actors = [actor_class.remote(recipe) for _ in range(n_actors)]
        pool = ActorPool(actors)

        def submit(actor: Any, index: int) -> Any:
            start, stop = store.shard_range(index)
            prompts, responses = train.prompts[start:stop], train.responses[start:stop]
            return actor.featurise.remote(index, prompts, responses)

        with task_errors(ray):
            for index, features in pool.map_unordered(submit, list(missing)):
                store.write_shard(index, features)
                start, stop = store.shard_range(index)
                done += stop - start
                if progress is not None:
                    progress("gradient features (Ray)", done, total)
        for actor in actors:
            ray.kill(actor)
    return done
