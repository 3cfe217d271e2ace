"""OD API learning-rate schedules, mapped onto Model Garden's, give the OD API's rates."""

from __future__ import annotations

import math

import pytest
from official.modeling import optimization

from od_tools.config import Pipeline, parse_pipeline_text
from od_tools.config.ledger import Ledger
from od_tools.config.mapping import _learning_rate

PREFIX = "model { ssd { num_classes: 1 } } train_config { optimizer { momentum_optimizer { learning_rate { "


def schedule(text: str):
    config = parse_pipeline_text(PREFIX + text + " } } } }")
    lr = config.train_config.optimizer.momentum_optimizer.learning_rate
    mapped = _learning_rate(lr, "lr", Ledger(config))
    factory = optimization.OptimizerFactory(optimization.OptimizationConfig(
        {"optimizer": {"type": "sgd"}, **mapped}))
    built = factory.build_learning_rate()  # a schedule, or a float when constant
    return lambda step: float(built(step) if callable(built) else built)


def od_api_cosine(step, base, total, warmup_lr, warmup_steps, hold=0):
    """The OD API's cosine_decay_with_warmup, written out from its documentation."""
    if step < warmup_steps:
        return warmup_lr + (base - warmup_lr) * step / warmup_steps
    if step < warmup_steps + hold:
        return base
    if step > total:
        return 0.0
    return 0.5 * base * (1 + math.cos(math.pi * (step - warmup_steps - hold) / (total - warmup_steps - hold)))


@pytest.mark.parametrize("step", [0, 1, 50, 99, 100, 101, 500, 999, 1000, 1200])
def test_cosine_decay_with_warmup(step):
    rate = schedule("cosine_decay_learning_rate { learning_rate_base: 0.08 total_steps: 1000 "
                    "warmup_learning_rate: 0.02 warmup_steps: 100 }")
    assert rate(step) == pytest.approx(od_api_cosine(step, 0.08, 1000, 0.02, 100), abs=1e-6)


@pytest.mark.parametrize("step, expected", [(0, 0.1), (99, 0.1), (100, 0.01), (199, 0.01), (200, 0.001), (900, 0.001)])
def test_manual_steps_switch_at_the_boundary(step, expected):
    rate = schedule("manual_step_learning_rate { initial_learning_rate: 0.1 "
                    "schedule { step: 100 learning_rate: 0.01 } schedule { step: 200 learning_rate: 0.001 } }")
    assert rate(step) == pytest.approx(expected)


@pytest.mark.parametrize("step", [0, 25, 50, 150])
def test_manual_steps_with_warmup_interpolate_to_the_first(step):
    rate = schedule("manual_step_learning_rate { initial_learning_rate: 0.0 warmup: true "
                    "schedule { step: 50 learning_rate: 0.1 } schedule { step: 100 learning_rate: 0.01 } }")
    expected = 0.1 * step / 50 if step < 50 else (0.1 if step < 100 else 0.01)
    assert rate(step) == pytest.approx(expected)


@pytest.mark.parametrize("step", [0, 999, 1000, 2500])
def test_exponential_staircase(step):
    rate = schedule("exponential_decay_learning_rate { initial_learning_rate: 0.004 decay_steps: 1000 "
                    "decay_factor: 0.95 }")
    assert rate(step) == pytest.approx(0.004 * 0.95 ** (step // 1000))


def test_constant():
    assert schedule("constant_learning_rate { learning_rate: 0.03 }")(12345) == pytest.approx(0.03)
