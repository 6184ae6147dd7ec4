"""DynamicBatcher: grouping, ordering, errors to the right item, bounded waits."""

import threading
import time

import pytest

from tfcaption.web.dynamic_batcher import (BatcherClosedError, BatcherFullError,
                                           DynamicBatcher)

TIMEOUT = 10


def doubling(calls):
    def process(key, items):
        calls.append((key, list(items)))
        return [(key, 2 * item) for item in items]
    return process


def test_concurrent_items_are_grouped_and_results_never_mixed_up():
    calls = []
    batcher = DynamicBatcher(doubling(calls), max_batch_size=8, max_wait_s=0.05)
    results, barrier = {}, threading.Barrier(40)

    def client(i):
        barrier.wait(TIMEOUT)
        key = "a" if i % 2 else "b"
        results[i] = batcher.submit(key, i).result(TIMEOUT)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    batcher.close(TIMEOUT)
    assert results == {i: ("a" if i % 2 else "b", 2 * i) for i in range(40)}
    assert all(len(items) <= 8 for _, items in calls)
    assert all((i % 2 == 1) == (key == "a") for key, items in calls for i in items)
    assert sum(len(items) for _, items in calls) == 40
    assert len(calls) < 40  # grouped: fewer calls than items
    assert sum(batcher.batch_sizes.values()) == len(calls)


def test_a_lone_item_does_not_wait():
    batcher = DynamicBatcher(doubling([]), max_batch_size=32, max_wait_s=30)
    start = time.monotonic()
    assert batcher.submit("k", 3).result(TIMEOUT) == ("k", 6)
    assert time.monotonic() - start < 5
    batcher.close(TIMEOUT)


def test_a_burst_from_several_threads_waits_for_its_group():
    calls = []
    batcher = DynamicBatcher(doubling(calls), max_batch_size=2, max_wait_s=5)
    start = time.monotonic()
    assert batcher.submit("k", 1).result(TIMEOUT) == ("k", 2)  # alone: no wait
    assert time.monotonic() - start < 2.5
    second = {}
    thread = threading.Thread(target=lambda: second.update(f=batcher.submit("k", 2)))
    thread.start()  # another thread, right after: a burst, so its group waits to fill
    thread.join(TIMEOUT)
    time.sleep(0.2)
    assert not second["f"].done()
    third = batcher.submit("k", 3)  # fills the group of two
    assert [second["f"].result(TIMEOUT), third.result(TIMEOUT)] == [("k", 4), ("k", 6)]
    assert calls == [("k", [1]), ("k", [2, 3])]
    batcher.close(TIMEOUT)


def test_one_threads_items_alone_do_not_wait():
    calls = []
    batcher = DynamicBatcher(doubling(calls), max_batch_size=32, max_wait_s=30)
    start = time.monotonic()
    futures = [batcher.submit("k", i) for i in range(3)]  # one request's three images
    assert [f.result(TIMEOUT) for f in futures] == [("k", 0), ("k", 2), ("k", 4)]
    assert time.monotonic() - start < 5
    batcher.close(TIMEOUT)


def test_a_full_group_does_not_wait():
    batcher = DynamicBatcher(doubling([]), max_batch_size=2, max_wait_s=30)
    start = time.monotonic()
    futures = [batcher.submit("k", i) for i in range(2)]
    assert [f.result(TIMEOUT) for f in futures] == [("k", 0), ("k", 2)]
    assert time.monotonic() - start < 5
    batcher.close(TIMEOUT)


def test_errors_go_to_their_items_only():
    def process(key, items):
        if key == "broken":
            raise RuntimeError("decoder failed")
        return [ValueError(f"bad item {i}") if i < 0 else i for i in items]

    batcher = DynamicBatcher(process, max_batch_size=4, max_wait_s=0.05)
    good, bad, broken = (batcher.submit("ok", 1), batcher.submit("ok", -1),
                         batcher.submit("broken", 5))
    assert good.result(TIMEOUT) == 1
    with pytest.raises(ValueError, match="bad item -1"):
        bad.result(TIMEOUT)
    with pytest.raises(RuntimeError, match="decoder failed"):
        broken.result(TIMEOUT)
    assert batcher.submit("ok", 7).result(TIMEOUT) == 7  # the worker survived
    batcher.close(TIMEOUT)


def test_a_wrong_number_of_results_fails_the_group():
    batcher = DynamicBatcher(lambda key, items: items[:-1], max_batch_size=4,
                             max_wait_s=0.2)
    futures = [batcher.submit("k", i) for i in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError, match="returned 2 results for 3 items"):
            future.result(TIMEOUT)
    batcher.close(TIMEOUT)


def test_oldest_key_first_so_no_key_starves():
    calls, release = [], threading.Event()

    def process(key, items):
        release.wait(TIMEOUT)
        calls.append(key)
        return items

    batcher = DynamicBatcher(process, max_batch_size=4, max_wait_s=0)
    first = batcher.submit("x", 0)  # occupies the worker
    time.sleep(0.1)
    futures = [batcher.submit("y", 1), batcher.submit("x", 2), batcher.submit("z", 3),
               batcher.submit("y", 4)]
    release.set()
    first.result(TIMEOUT)
    assert [f.result(TIMEOUT) for f in futures] == [1, 2, 3, 4]
    assert calls == ["x", "y", "x", "z"]
    batcher.close(TIMEOUT)


def test_max_pending_and_close():
    release = threading.Event()
    batcher = DynamicBatcher(lambda key, items: (release.wait(TIMEOUT), items)[1],
                             max_batch_size=1, max_wait_s=0, max_pending=2)
    running = batcher.submit("k", 0)
    time.sleep(0.1)  # taken by the worker
    waiting = [batcher.submit("k", 1), batcher.submit("k", 2)]
    with pytest.raises(BatcherFullError, match="max_pending 2"):
        batcher.submit("k", 3)
    closer = threading.Thread(target=batcher.close, args=(TIMEOUT,))
    closer.start()
    for future in waiting:
        with pytest.raises(BatcherClosedError):
            future.result(TIMEOUT)
    release.set()
    closer.join(TIMEOUT)
    assert running.result(TIMEOUT) == 0
    with pytest.raises(BatcherClosedError):
        batcher.submit("k", 4)


@pytest.mark.parametrize("kwargs, message", [({"max_batch_size": 0}, "max_batch_size"),
                                             ({"max_wait_s": -1}, "max_wait_s"),
                                             ({"max_pending": 0}, "max_pending")])
def test_bad_limits_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DynamicBatcher(lambda key, items: items, **kwargs)
