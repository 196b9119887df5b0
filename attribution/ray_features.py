"""Gradient featurisation on Ray: one actor per GPU (or ``workers`` CPU actors).

Each actor gets the :class:`~attribution.bergson_gradients.GradientRecipe`, loads the
model once and builds the same Bergson featuriser (modules, seeded projection) as the
single-process path, then featurises whole store shards (row ranges) with the same
code. We scale out with Ray shards of the training set, not Bergson's
torch.distributed launcher: the query side is a few hundred rows scored against one
store, the shards need no shared filesystem or rendezvous, a dead actor costs one
shard, and the same Ray cluster already runs ``audit scan --ray``.
The actors send the projected features back (a shard of 4096 rows x 512 dims is
8 MiB) and the driver writes each shard into the feature store as it arrives, so
the store needs no shared filesystem and an interrupted run resumes with the
shards still missing. A dead actor is restarted and its shard retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from attribution.bergson_gradients import GradientRecipe
from attribution.feature_store import DEFAULT_ROWS_PER_SHARD, FeatureStore
from attribution.inputs import TrainingSet
from datasets_registry.ray_cluster import MAX_RETRIES, cluster_gpus, ray_session, task_errors
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from ray import ObjectRef
    from ray.actor import ActorHandle

DEFAULT_RAY_WORKERS = 2  # CPU actors when the cluster has no GPU (else one actor per GPU)
LABEL = "gradient features (Ray)"


def ray_rows_per_shard(n_rows: int, workers: int) -> int:
    """Store shard size for Ray: about four shards per worker, 64 to 4096 rows each."""
    return max(64, min(DEFAULT_ROWS_PER_SHARD, -(-n_rows // (4 * max(workers, 1)))))


class ShardFeaturiser:
    """A Ray actor: the model loaded once, projected gradients of any number of row ranges."""

    def __init__(self, recipe: GradientRecipe) -> None:
        self.featuriser = recipe.build()

    def featurise(
        self, index: int, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[int, np.ndarray]:
        """(shard index, projected gradients of its rows)."""
        return index, self.featuriser.featurise(prompts, responses)


def featurise_on_ray(
    recipe: GradientRecipe,
    train: TrainingSet,
    store: FeatureStore,
    missing: Sequence[int],
    *,
    address: str,
    workers: int = DEFAULT_RAY_WORKERS,
    progress: Progress = NO_PROGRESS,
) -> int:
    """Fill the ``missing`` shards of ``store`` on the Ray at ``address``; the rows featurised."""
    total = sum(store.shard_range(i)[1] - store.shard_range(i)[0] for i in missing)
    done = 0
    with ray_session(address) as ray:
        from ray.util import ActorPool

        gpus = cluster_gpus(ray)
        resources: dict[str, int] = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        actor_class = ray.remote(
            max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES, **resources
        )(ShardFeaturiser)
        n_actors = min(gpus or workers, len(missing))
        # The recipe goes inline (not ray.put): a restarted actor needs its arguments again.
        actors = [actor_class.remote(recipe) for _ in range(n_actors)]
        pool = ActorPool(actors)

        def submit(actor: ActorHandle, index: int) -> ObjectRef:
            start, stop = store.shard_range(index)
            prompts, responses = train.prompts[start:stop], train.responses[start:stop]
            return actor.featurise.remote(index, prompts, responses)

        with task_errors(ray):
            for index, features in pool.map_unordered(submit, list(missing)):
                store.write_shard(index, features)
                start, stop = store.shard_range(index)
                done += stop - start
                progress(LABEL, done, total)
        for actor in actors:
            ray.kill(actor)
    return done
