"""Which tf.distribute strategy a run uses, decided from the machine and the environment.

- `--tpu=NAME` (or a grpc:// address; `--use_tpu --tpu_name=NAME` as model_main_tf2 says it):
  TPUStrategy.
- `--num_workers` above 1, or TF_CONFIG naming more than one worker (Vertex AI and other clusters
  set it): one MultiWorkerMirroredStrategy process per worker, the same code everywhere.
- several local GPUs: MirroredStrategy.
- otherwise the default strategy on the one device.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from od_tools.common.errors import UserError


def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"TF_CONFIG: not valid JSON ({e.msg} at {e.pos}); set it as the cluster spec") from e
    if not isinstance(config, dict):
        raise UserError("TF_CONFIG: expected a JSON object with 'cluster' and 'task'")
    return config


def create_strategy(tpu: str | None = None, num_workers: int = 1) -> tf.distribute.Strategy:
    """The strategy for this process; create it before any other TensorFlow work."""
    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu == "local" else tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    cluster = _tf_config().get("cluster", {})
    if cluster.get("ps"):
        raise UserError("TF_CONFIG: parameter-server clusters are not supported; give only 'chief'/'worker' "
                        "tasks (MultiWorkerMirroredStrategy)")
    if num_workers > 1 or len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def task_of(strategy: tf.distribute.Strategy) -> tuple[str, int]:
    """(task type, task id) of this process in TF_CONFIG; ('chief', 0) when running alone."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or isinstance(strategy, tf.distribute.TPUStrategy) or not resolver.task_type:
        return "chief", 0
    return resolver.task_type, resolver.task_id or 0


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The chief writes checkpoints and summaries: the 'chief' task, else worker 0."""
    task_type, task_id = task_of(strategy)
    if task_type == "chief":
        return True
    resolver = strategy.cluster_resolver
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def describe(strategy: tf.distribute.Strategy) -> str:
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        kind = "MultiWorkerMirroredStrategy"
    elif isinstance(strategy, tf.distribute.TPUStrategy):
        kind = "TPUStrategy"
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        kind = "MirroredStrategy"
    else:
        kind = "default strategy"
    task_type, task_id = task_of(strategy)
    lead = " (chief)" if is_chief(strategy) else ""
    where = f", this process is {task_type} {task_id}{lead}" if kind == "MultiWorkerMirroredStrategy" else ""
    return f"{kind}, {strategy.num_replicas_in_sync} replica(s){where}"
