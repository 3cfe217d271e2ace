"""Pictures of accuracy: per-class AP of one or more models as grouped bars, so a class that
quantization (or anything else) costs stands out at a glance."""

from __future__ import annotations

import math
from typing import Mapping

from od_tools.common.files import atomic_path
from od_tools.evaluation.coco import Accuracy

PER_CLASS_CHART = "per_class_ap.png"
MAX_CLASSES_PER_ROW = 30  # more classes wrap onto further rows, so 90 COCO classes stay readable


def _rows(names: list[str]) -> list[list[str]]:
    return [names[i:i + MAX_CLASSES_PER_ROW] for i in range(0, len(names), MAX_CLASSES_PER_ROW)] or [[]]


def write_per_class_chart(models: Mapping[str, Accuracy], path: str, title: str, metric: str = "ap50") -> str:
    """A PNG of per-class `metric` ("ap" or "ap50") with one bar per model in each class, models in
    the mapping's order; classes without ground truth are left out. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    first = next(iter(models.values()))
    names = first.measured_classes()
    rows = _rows(names)
    width = 0.8 / max(1, len(models))
    # The axis starts near the lowest bar: models a few hundredths apart must look apart (the axis says where).
    lowest = min((max(0.0, getattr(a, f"per_class_{metric}").get(n, 0.0)) for a in models.values() for n in names),
                 default=0.0)
    floor = max(0.0, math.floor((lowest - 0.1) * 10) / 10)
    inches = min(24.0, max(6.0, 2.0 + 0.25 * len(rows[0]) * len(models)))
    figure, axes = plt.subplots(len(rows), 1, squeeze=False, figsize=(inches, 3.2 * len(rows)))
    for row, ax in zip(rows, axes[:, 0]):
        for k, (model, acc) in enumerate(models.items()):
            values = getattr(acc, f"per_class_{metric}")
            ax.bar([i + (k - (len(models) - 1) / 2) * width for i in range(len(row))],
                   [max(0.0, values.get(name, 0.0)) for name in row], width, label=model)
        ax.set_xticks(range(len(row)))
        ax.set_xticklabels(row, rotation=45 if len(row) > 8 else 0, ha="right" if len(row) > 8 else "center")
        ax.set_ylim(floor, 1.02)
        ax.set_ylabel("AP50" if metric == "ap50" else "AP")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_title(title)
    # Below the last row, clear of the bars.
    axes[-1, 0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 if len(rows[-1]) > 8 else -0.12),
                       fontsize="small", ncol=min(len(models), 5), frameon=False)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return path
