"""What one `od_tools.train` run was asked to do, as one typed object: flags in, the trainer and
evaluation read it, and the chief writes it into the model_dir beside pipeline.config, so the
folder says how it was made (`train_settings.json`, rewritten by each run that trains in it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

from od_tools.common.files import write_text_atomic

SETTINGS_FILE = "train_settings.json"


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    pipeline_config_path: str
    model_dir: str
    overrides: Sequence[str] = ()
    config_override: str = ""
    num_train_steps: int | None = None   # None: train_config.num_steps
    checkpoint_every_n: int = 1000
    max_to_keep: int = 7
    record_summaries: bool = True
    tpu: str | None = None               # a TPU name ('local' on a TPU VM); None: CPU/GPU
    num_workers: int = 1
    strict: bool = False
    seed: int | None = None
    deterministic: bool = False
    eval_on_end: bool = True
    sample_1_of_n_eval_examples: int = 1

    @property
    def use_tpu(self) -> bool:
        return bool(self.tpu)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["overrides"] = list(self.overrides)
        return data


def write_settings(settings: TrainSettings, directory: str) -> str:
    """`train_settings.json` in `directory` (a bucket too); returns its path."""
    path = os.path.join(directory, SETTINGS_FILE)
    write_text_atomic(path, json.dumps(settings.to_json(), indent=2, sort_keys=True) + "\n")
    return path
