"""The threads that run the hot routes' transactions (privacy.deps.Transaction).

A request hands its whole transaction to one of a few long-lived threads and awaits the
result on the event loop. This does what `loop.run_in_executor(ThreadPoolExecutor)` does,
with less per call: no `concurrent.futures.Future` (a Condition and its own callbacks)
chained to the asyncio future, only a queue and one `call_soon_threadsafe` back. On the
record routes the event loop is the busier of the two threads, and that chaining was a
twentieth of its work.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")

# (the caller's loop, its future, its context, the function, its arguments)
_Job = tuple[
    asyncio.AbstractEventLoop,
    asyncio.Future[Any],
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
]


class TransactionThreads:
    def __init__(self, workers: int, *, name: str = "privacy-tx") -> None:
        self.workers = workers
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """`fn(*args)` on one of the threads, in a copy of the caller's context (its log
        context goes along). If the caller is cancelled, `fn` still runs to its end (a
        transaction commits or rolls back as a whole); its result is dropped."""
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, contextvars.copy_context(), fn, args))
        return await future

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the transaction threads have been shut down")
            while len(self._threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, context, fn, args = job
            try:
                outcome: tuple[Any, BaseException | None] = (context.run(fn, *args), None)
            except BaseException as exc:  # handed to the awaiting request, as an executor would
                outcome = (None, exc)
            # RuntimeError: the loop has closed, so nobody is waiting any more.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, *outcome)

    def shutdown(self) -> None:
        """Let queued work finish, then stop the threads."""
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
