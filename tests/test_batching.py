"""Micro-batching: concurrent requests share one model call, errors stay with their request, and a
full queue fails fast."""

import asyncio
import threading

import pytest

from app.batching import MicroBatcher, Overloaded


def _batcher(run, **options):
    return MicroBatcher(run, **options)


def test_concurrent_requests_are_merged_into_one_call():
    calls = []
    gate = threading.Event()

    def run(requests, times):
        gate.wait(5)  # the first call blocks, so the other requests queue up meanwhile
        calls.append(list(requests))
        with times.stage("double"):
            return [2 * request for request in requests]

    async def scenario():
        batcher = _batcher(run)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.submit(n)) for n in range(1, 6)]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(first, *rest)
        batcher.close()
        return results

    results = asyncio.run(scenario())
    assert [r.result for r in results] == [0, 2, 4, 6, 8, 10]
    assert calls == [[0], [1, 2, 3, 4, 5]]
    assert [r.batch_size for r in results] == [1, 5, 5, 5, 5, 5]
    assert "double" in results[1].stages and results[1].queue_seconds > 0


def test_an_error_result_fails_only_its_request():
    def run(requests, times):
        return [ValueError(f"bad {r}") if r < 0 else r for r in requests]

    async def scenario():
        batcher = _batcher(run)
        outcomes = await asyncio.gather(batcher.submit(1), batcher.submit(-1), return_exceptions=True)
        batcher.close()
        return outcomes

    good, bad = asyncio.run(scenario())
    assert good.result == 1 and isinstance(bad, ValueError)


def test_a_full_queue_fails_fast():
    gate = threading.Event()

    def run(requests, times):
        gate.wait(5)
        return list(requests)

    async def scenario():
        batcher = _batcher(run, max_queue=3, max_batch=1)
        running = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.05)  # 0 is running; 1 and 2 wait: three of three
        queued = [asyncio.create_task(batcher.submit(n)) for n in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):
            await batcher.submit(3)
        gate.set()
        await asyncio.gather(running, *queued)
        batcher.close()

    asyncio.run(scenario())
