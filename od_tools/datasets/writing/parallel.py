"""`map` in input order across worker processes, lean enough for items of a millisecond each.

`multiprocessing.Pool` moves every task and result through two helper threads of the calling
process; at about a millisecond per image their locking and wake-ups cost the calling process
more CPU than writing the records does (measured on 2 cores: 0.3-0.5 s against 0.08 s for 2000
images), CPU the workers then lack. Here the calling thread itself sends chunks of items to the
workers in turn and receives the results in the same turn, so they come back in input order with
no bookkeeping and no thread on this side. Each worker reads its tasks and sends its results on
threads of its own: a large task (records that carry their image bytes) never waits for a large
result or the other way round, and a worker goes on computing while its results wait for this
process to read them.

Workers are forked where the system can (they start in milliseconds instead of re-importing
everything); they leave Ctrl-C to the calling process and die at once on SIGTERM.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import threading
import traceback
from multiprocessing.reduction import ForkingPickler
from typing import IO, Callable, Iterable, Iterator, TypeVar

from od_tools.common.errors import UserError

T = TypeVar("T")
R = TypeVar("R")

Mapper = Callable[[Callable[[T], R], Iterable[T]], Iterator[R]]

CHUNK_SIZE = 8      # items per message: amortizes a message's cost, keeps the order fine-grained
CHUNKS_AHEAD = 4    # chunks queued per worker, so none waits for its next task
# Fewer items than this per worker do not repay starting a process.
MIN_ITEMS_PER_WORKER = 8

_STOP = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_count(requested: int, total_items: int) -> int:
    """`requested` processes (0: one per available core), fewer for few items."""
    wanted = requested if requested > 0 else available_cores()
    return max(1, min(wanted, total_items // MIN_ITEMS_PER_WORKER))


def start_method() -> str:
    """fork where there is one. Safe although the caller may have loaded TensorFlow (whose
    thread pools a fork does not copy): the functions mapped never call TensorFlow."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _receive_tasks(connection: multiprocessing.connection.Connection, tasks: queue.SimpleQueue) -> None:
    """A worker's reader: moves tasks off the pipe as they come, so the sender never blocks."""
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            task = _STOP
        tasks.put(task)
        if task is _STOP:
            return


def _send_replies(connection: multiprocessing.connection.Connection, replies: queue.SimpleQueue) -> None:
    """A worker's sender: a reply waits here, not in the computing thread, until this process
    has read the ones before it."""
    while (reply := replies.get()) is not _STOP:
        connection.send_bytes(reply)


def _serve(connection: multiprocessing.connection.Connection) -> None:
    """A worker's life: (function, chunk) in, ("ok", results) or ("error", traceback) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    tasks: queue.SimpleQueue = queue.SimpleQueue()
    replies: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_receive_tasks, args=(connection, tasks), daemon=True).start()
    sender = threading.Thread(target=_send_replies, args=(connection, replies), daemon=True)
    sender.start()
    while (task := tasks.get()) is not _STOP:
        function, chunk = task
        try:
            reply = ForkingPickler.dumps(("ok", [function(item) for item in chunk]))
        except Exception:  # a bug: shown with its traceback by the calling process
            reply = ForkingPickler.dumps(("error", traceback.format_exc()))
        replies.put(reply)
    replies.put(_STOP)
    sender.join()


class WorkerPool:
    """Worker processes, and `map` over them in input order (one map at a time)."""

    def __init__(self, count: int):
        context = multiprocessing.get_context(start_method())
        self._connections: list[multiprocessing.connection.Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        try:
            for _ in range(count):
                ours, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs,), daemon=True)
                process.start()
                theirs.close()
                self._connections.append(ours)
                self._processes.append(process)
        except BaseException:
            self.terminate()
            raise
        self._busy = False

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """function(item) for every item, computed by the workers, yielded in input order."""
        if self._busy:
            raise RuntimeError("WorkerPool.map: the previous map was not read to its end")
        self._busy = True
        chunks = _chunks(items, CHUNK_SIZE)
        in_flight: collections.deque[int] = collections.deque()  # worker of each chunk sent, in order
        turn = itertools.cycle(range(len(self._connections)))

        def send_next() -> None:
            chunk = next(chunks, None)
            if chunk is not None:
                worker = next(turn)
                self._connections[worker].send((function, chunk))
                in_flight.append(worker)

        for _ in range(CHUNKS_AHEAD * len(self._connections)):
            send_next()
        while in_flight:
            results = self._receive(in_flight.popleft())
            send_next()
            yield from results
        self._busy = False

    def _receive(self, worker: int) -> list:
        try:
            status, payload = self._connections[worker].recv()
        except (EOFError, OSError):
            process = self._processes[worker]
            process.join(timeout=5)
            killed = "; killed, e.g. by the system's out-of-memory killer" if process.exitcode == -9 else ""
            raise UserError(f"a worker process stopped unexpectedly (exit code {process.exitcode}{killed}); retry "
                            "with fewer --num_workers") from None
        if status == "error":
            raise RuntimeError(f"a worker process failed:\n{payload}")
        return payload

    def close(self) -> None:
        """Lets the workers finish and exit."""
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.send(_STOP)
        for process in self._processes:
            process.join(timeout=10)
        self.terminate()

    def terminate(self) -> None:
        """Stops whatever still runs, at once."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join()
        for connection in self._connections:
            connection.close()
        self._processes, self._connections = [], []


@contextlib.contextmanager
def ordered_map(num_workers: int, log: IO[str]) -> Iterator[Mapper]:
    """`map` in input order across `num_workers` processes (1: in this process)."""
    if num_workers <= 1:
        yield map
        return
    try:
        pool = WorkerPool(num_workers)
    except OSError as e:
        print(f"warning: cannot start worker processes ({e}); working in one process", file=log)
        yield map
        return
    try:
        yield pool.map
    except BaseException:
        pool.terminate()
        raise
    pool.close()
