"""privacy.txthreads: work runs on the named threads, its result or error comes back to the
awaiting coroutine, the caller's context goes along, and shutdown finishes queued work."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from privacy.txthreads import TransactionThreads

REQUEST = contextvars.ContextVar("request", default="none")


def test_results_errors_and_context_come_back_to_the_caller():
    threads = TransactionThreads(2, name="t-test")

    def work(x: int) -> tuple[int, str, str]:
        return x * 2, threading.current_thread().name, REQUEST.get()

    def fail() -> None:
        raise ValueError("refused")

    async def main() -> None:
        REQUEST.set("req-1")
        doubled, thread, seen = await threads.run(work, 21)
        assert (doubled, seen) == (42, "req-1")
        assert thread.startswith("t-test-")
        with pytest.raises(ValueError, match="refused"):
            await threads.run(fail)
        results = await asyncio.gather(*(threads.run(work, i) for i in range(50)))
        assert [r[0] for r in results] == [2 * i for i in range(50)]
        assert {r[1] for r in results} <= {"t-test-0", "t-test-1"}

    try:
        asyncio.run(main())
    finally:
        threads.shutdown()


def test_one_worker_runs_one_job_at_a_time():
    threads = TransactionThreads(1)
    running, most = 0, 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002)
        with lock:
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(threads.run(work) for _ in range(20)))

    try:
        asyncio.run(main())
    finally:
        threads.shutdown()
    assert most == 1


def test_a_cancelled_caller_does_not_stop_its_work_and_shutdown_waits_for_it():
    threads = TransactionThreads(1)
    started, done = threading.Event(), threading.Event()

    def work() -> None:
        started.set()
        time.sleep(0.05)
        done.set()

    async def main() -> None:
        task = asyncio.create_task(threads.run(work))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    threads.shutdown()
    assert done.is_set()

    async def after() -> None:
        await threads.run(work)

    with pytest.raises(RuntimeError, match="shut down"):
        asyncio.run(after())
