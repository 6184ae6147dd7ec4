"""Groups items submitted from many threads into batched calls, one key at a time."""

import collections
import threading
import time
from concurrent.futures import Future


class BatcherFullError(RuntimeError):
    """More items are waiting than the batcher's ``max_pending``."""


class BatcherClosedError(RuntimeError):
    """An item was submitted to (or left waiting in) a closed batcher."""


class DynamicBatcher:
    """A small dynamic-batching queue with one worker thread.

    Threads call :meth:`submit` with a hashable ``key`` (e.g. a decoding setting) and
    an ``item``; they get a ``concurrent.futures.Future``. The worker takes the oldest
    waiting item, then waits at most ``max_wait_s`` for more items of the same key (it
    stops early at ``max_batch_size``), and calls ``process(key, items)`` once for the
    group. It waits only while items arrive in a burst: when the latest item came more
    than ``max_wait_s`` after the one before it from another thread (a lone request
    after a pause), the group is what is already waiting, so a single client pays no
    wait. ``process`` returns one result per item, in order; a result that is an
    ``Exception`` instance is delivered as that item's exception, and an exception
    raised by ``process`` goes to every item of the group (and to no other). Items of
    other keys wait for a later group, oldest first, so no key starves.

    Args:
      process: ``(key, items: list) -> list`` of ``len(items)`` results.
      max_batch_size: the most items per call.
      max_wait_s: how long the worker waits for a group to fill once its first item is
        there (0: take only what is already waiting).
      max_pending: the most items waiting; :meth:`submit` raises
        :class:`BatcherFullError` beyond it (None: unbounded).
      name: the worker thread's name.
    """

    def __init__(self, process, max_batch_size=32, max_wait_s=0.01, max_pending=None,
                 name="dynamic-batcher"):
        if int(max_batch_size) < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if not max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        if max_pending is not None and int(max_pending) < 1:
            raise ValueError(f"max_pending must be >= 1 or None, got {max_pending}")
        self.process = process
        self.max_batch_size = int(max_batch_size)
        self.max_wait_s = float(max_wait_s)
        self.max_pending = None if max_pending is None else int(max_pending)
        self.name = name
        self._waiting = collections.deque()  # (key, item, future), oldest first
        self._condition = threading.Condition()
        self._closed = False
        self._last_submit = (None, None)  # (time, thread id) of the latest submit
        self._arrival_gap = float("inf")  # seconds between the latest two threads' submits
        self.batch_sizes = collections.Counter()  # group size -> number of calls
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, key, item) -> Future:
        """Queues ``item`` under ``key``; the future gets its result or exception."""
        future = Future()
        with self._condition:
            if self._closed:
                raise BatcherClosedError(f"{self.name} is closed")
            if self.max_pending is not None and len(self._waiting) >= self.max_pending:
                raise BatcherFullError(f"{self.name} has {len(self._waiting)} items waiting "
                                       f"(max_pending {self.max_pending})")
            now, thread = time.monotonic(), threading.get_ident()
            last_time, last_thread = self._last_submit
            if last_thread != thread:  # one request's own items do not make a burst
                self._arrival_gap = float("inf") if last_time is None else now - last_time
            self._last_submit = (now, thread)
            self._waiting.append((key, item, future))
            self._condition.notify_all()
        return future

    def pending(self) -> int:
        """The number of items waiting for a group."""
        with self._condition:
            return len(self._waiting)

    def close(self, timeout=None):
        """Stops the worker after the group it is running; items still waiting get
        :class:`BatcherClosedError`. Waits up to ``timeout`` s for the worker."""
        with self._condition:
            self._closed = True
            left = list(self._waiting)
            self._waiting.clear()
            self._condition.notify_all()
        for _, _, future in left:
            future.set_exception(BatcherClosedError(f"{self.name} closed before this "
                                                    f"item was processed"))
        self._thread.join(timeout)

    # --- worker ------------------------------------------------------------------------
    def _take_group(self):
        """The oldest item's key and up to ``max_batch_size`` items of that key, oldest
        first, after waiting at most ``max_wait_s`` for the group to fill (not at all
        outside a burst); None once closed."""
        with self._condition:
            while not self._waiting and not self._closed:
                self._condition.wait()
            if self._closed:
                return None
            key = self._waiting[0][0]
            in_burst = self._arrival_gap <= self.max_wait_s
            deadline = time.monotonic() + (self.max_wait_s if in_burst else 0.0)
            while (self._count(key) < self.max_batch_size and not self._closed
                   and (left := deadline - time.monotonic()) > 0):
                self._condition.wait(left)
            if self._closed:
                return None
            group, rest = [], collections.deque()
            for entry in self._waiting:
                if entry[0] == key and len(group) < self.max_batch_size:
                    group.append(entry)
                else:
                    rest.append(entry)
            self._waiting = rest
            return key, group

    def _count(self, key):
        return sum(1 for entry in self._waiting if entry[0] == key)

    def _run(self):
        while True:
            taken = self._take_group()
            if taken is None:
                return
            key, group = taken
            futures = [future for _, _, future in group]
            live = [f.set_running_or_notify_cancel() for f in futures]
            items = [item for (_, item, _), alive in zip(group, live) if alive]
            futures = [f for f, alive in zip(futures, live) if alive]
            if not items:
                continue
            self.batch_sizes[len(items)] += 1
            try:
                results = list(self.process(key, items))
                if len(results) != len(items):
                    raise RuntimeError(f"{self.name}: process returned {len(results)} "
                                       f"results for {len(items)} items")
            except BaseException as error:  # noqa: BLE001  (delivered to the group)
                for future in futures:
                    future.set_exception(error)
                continue
            for future, result in zip(futures, results):
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
