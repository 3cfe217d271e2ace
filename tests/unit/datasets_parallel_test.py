"""The ordered map across worker processes: input order whatever the timing, large messages both
ways, and failures that say what happened instead of hanging."""

import io
import os
import time

import pytest

from od_tools.common.errors import UserError
from od_tools.datasets.writing import parallel


def uneven(item: int) -> tuple[int, int]:
    """Slow for some items, so workers finish out of order."""
    if item % 7 == 0:
        time.sleep(0.002)
    return item, os.getpid()


def echo_bigger(data: bytes) -> bytes:
    return data * 2


def fail_on_13(item: int) -> int:
    if item == 13:
        raise ValueError("thirteen")
    return item


def die_on_13(item: int) -> int:
    if item == 13:
        os._exit(3)
    return item


@pytest.mark.parametrize("workers", [2, 3])
def test_results_come_back_in_input_order_from_every_worker(workers):
    items = list(range(1000))
    with parallel.ordered_map(workers, io.StringIO()) as ordered:
        results = list(ordered(uneven, items))
    assert [item for item, _ in results] == items
    pids = {pid for _, pid in results}
    assert len(pids) == workers and os.getpid() not in pids


def test_one_pool_maps_several_inputs_one_after_the_other():
    with parallel.ordered_map(2, io.StringIO()) as ordered:
        assert [i for i, _ in ordered(uneven, range(50))] == list(range(50))
        assert [i for i, _ in ordered(uneven, range(50, 53))] == [50, 51, 52]
        assert list(ordered(uneven, [])) == []


def test_one_worker_maps_in_this_process():
    with parallel.ordered_map(1, io.StringIO()) as ordered:
        assert ordered is map


def test_large_tasks_and_results_do_not_block_each_other():
    """Every chunk queued to a worker is far larger than a pipe holds, and so is every result."""
    items = [bytes([i]) * 600_000 for i in range(40)]
    with parallel.ordered_map(2, io.StringIO()) as ordered:
        results = list(ordered(echo_bigger, items))
    assert results == [item * 2 for item in items]


def test_a_failing_function_raises_here_with_the_workers_traceback():
    with pytest.raises(RuntimeError, match="(?s)a worker process failed.*ValueError: thirteen"):
        with parallel.ordered_map(2, io.StringIO()) as ordered:
            list(ordered(fail_on_13, range(100)))


def test_a_worker_that_dies_is_a_one_line_error_not_a_hang():
    with pytest.raises(UserError, match=r"a worker process stopped unexpectedly \(exit code 3\); retry with") as caught:
        with parallel.ordered_map(2, io.StringIO()) as ordered:
            list(ordered(die_on_13, range(100)))
    assert "\n" not in str(caught.value)


def unpicklable(item: int):
    return (lambda: item) if item == 5 else item


def test_a_result_that_cannot_travel_back_is_reported_like_any_failure():
    with pytest.raises(RuntimeError, match="(?s)a worker process failed.*pickle"):
        with parallel.ordered_map(2, io.StringIO()) as ordered:
            list(ordered(unpicklable, range(40)))


def test_worker_count_leaves_small_inputs_in_one_process():
    assert parallel.worker_count(4, 1000) == 4
    assert parallel.worker_count(4, 20) == 2      # at least MIN_ITEMS_PER_WORKER items each
    assert parallel.worker_count(4, 3) == 1
    assert parallel.worker_count(0, 10_000) == parallel.available_cores()
