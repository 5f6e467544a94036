"""The gatherer batches as TorchServe does: what waited while the model was busy forms the next batch."""

from __future__ import annotations

import asyncio

import pytest

from handler.inference.gathering import Gatherer


def test_requests_that_wait_while_a_batch_runs_form_the_next_batch() -> None:
    batches: list[list[int]] = []

    async def handle(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.05)  # the model is busy; more requests arrive meanwhile
        return [i * 10 for i in items]

    async def main() -> list[int]:
        gatherer = Gatherer(handle, max_size=4, max_delay_s=0.001)
        first = asyncio.ensure_future(gatherer.submit(0))
        await asyncio.sleep(0.01)  # the first batch (one request) is running
        rest = [asyncio.ensure_future(gatherer.submit(i)) for i in range(1, 10)]
        return list(await asyncio.gather(first, *rest))

    assert asyncio.run(main()) == [i * 10 for i in range(10)]  # each caller gets its own answer
    assert batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]  # full batches, in arrival order


def test_a_lone_request_waits_the_delay_for_batch_mates_then_goes() -> None:
    batches: list[list[str]] = []

    async def handle(items: list[str]) -> list[str]:
        batches.append(items)
        return items

    async def main() -> None:
        gatherer = Gatherer(handle, max_size=8, max_delay_s=0.05)
        loop = asyncio.get_running_loop()
        began = loop.time()
        first = asyncio.ensure_future(gatherer.submit("a"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(gatherer.submit("b"))  # within the delay: same batch
        assert await asyncio.gather(first, second) == ["a", "b"]
        assert loop.time() - began >= 0.045

    asyncio.run(main())
    assert batches == [["a", "b"]]


def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    async def handle(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky batch")
        return items

    async def main() -> None:
        gatherer = Gatherer(handle, max_size=2, max_delay_s=0.01)
        failing = asyncio.gather(gatherer.submit(13), gatherer.submit(1))
        with pytest.raises(ValueError, match="unlucky"):
            await failing
        assert await gatherer.submit(2) == 2

    asyncio.run(main())
