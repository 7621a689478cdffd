"""The group-commit writer of the webhook server.

Requests arrive concurrently on the event loop; each is verified and parsed
there (`omnicx._group.prepare`), then queued here. One writer per process
takes whatever queued up while the previous commit ran (up to
``max_items`` requests, and it stops gathering once ``max_bytes`` of bodies
are in) and stores them in one transaction in a worker thread
(`omnicx._group.store_group`). Each request's future is resolved only after
that commit, with that request's own outcome: the answer a provider gets
means "durable", exactly as with one `History.receive` per request, but the
commit is paid once per group.

A commit running while requests keep arriving is what makes groups grow,
so under light load every group is one request and nothing waits for a
timer; under heavy load groups grow until the commit cost is shared.
"""

from __future__ import annotations

import asyncio
import logging

from ._errors import OmnicxError
from ._group import Outcome, Prepared, store_group
from ._history import History

__all__ = ["GroupWriter"]

log = logging.getLogger("omnicx.server")

_Item = tuple[Prepared, "asyncio.Future[Outcome]"]


class GroupWriter:
    """Stores queued `Prepared` requests in groups, one transaction per group."""

    def __init__(self, history: History, *, max_items: int = 256,
                 max_bytes: int = 8 * 1024 * 1024) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("max_items and max_bytes must be at least 1")
        self._history = history
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self.groups = 0  # committed groups and requests, for logs and tests
        self.requests = 0

    @property
    def alive(self) -> bool:
        """Whether the writer runs (or will start at the next request)."""
        return self._task is None or not self._task.done()

    def start(self) -> None:
        """Start the writer on the running loop (again, if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._task is not None and not self._task.done():
            return
        self._loop = loop
        self._queue = asyncio.Queue()
        self._task = loop.create_task(self._run(self._queue), name="omnicx-group-writer")

    async def stop(self) -> None:
        """Store what is queued, then stop (lifespan shutdown)."""
        if self._queue is not None and self._task is not None and not self._task.done():
            await self._queue.join()
            self._task.cancel()
        self._task = None

    async def submit(self, item: Prepared) -> Outcome:
        """Queue ``item``; return its outcome once its group is committed."""
        self.start()
        assert self._loop is not None and self._queue is not None
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._queue.put_nowait((item, future))
        # A client that goes away does not cancel the store: it was queued,
        # it will be committed, and the provider's retry is then a duplicate.
        return await asyncio.shield(future)

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            group = [await queue.get()]
            size = group[0][0].size
            while len(group) < self.max_items and size < self.max_bytes and not queue.empty():
                item = queue.get_nowait()
                group.append(item)
                size += item[0].size
            try:
                outcomes = await asyncio.to_thread(
                    store_group, self._history, [prepared for prepared, _ in group])
            except Exception as exc:  # a bug: every waiting request still gets an answer
                log.exception("group commit failed")
                outcomes = [OmnicxError(f"internal error ({type(exc).__name__})")] * len(group)
            self.groups += 1
            self.requests += len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
                queue.task_done()
