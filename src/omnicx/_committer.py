"""The group-commit writer of the webhook server.

Requests arrive concurrently on the event loop; each is verified and parsed
there (`omnicx._group.prepare`), then queued here. One writer thread per
process stores a group at a time in one transaction
(`omnicx._group.store_group`); while it commits, the requests that arrive
queue on the loop, and the moment it is done they are handed over as the
next group (up to ``max_items`` requests; gathering stops once ``max_bytes``
of bodies are in). Each request's future is resolved only after its group's
commit, with that request's own outcome: the answer a provider gets means
"durable", exactly as with one `History.receive` per request, but the commit
is paid once per group.

A commit running while requests keep arriving is what makes groups grow,
so under light load every group is one request and nothing waits for a
timer; under heavy load groups grow until the commit cost is shared.

Why a thread of its own rather than a task handing each group to
``asyncio.to_thread``: at one request at a time the hand-over is on every
request's path. Here a group is one ``put`` on a queue the thread already
waits on, and its answers are one ``call_soon_threadsafe`` back to the loop;
the task, the executor's futures and the loop iterations between them are
gone. The group is still gathered on the loop, as before: the requests that
arrived during a commit, up to the moment its answers are handed back (the
thread would take them earlier, in smaller groups, costing a commit more
often under load). The store never runs on the event loop: a commit that
waits (an fsync, a lock held by another process, a round trip to
PostgreSQL) never stalls arrivals, health checks or the parsing of other
requests. The thread ends after ``idle`` seconds without work and starts
again with the next group, so an app no longer used holds no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Sequence

from ._errors import OmnicxError
from ._group import Outcome, Prepared, store_group
from ._history import History
from ._identity import regional

__all__ = ["GroupWriter"]

log = logging.getLogger("omnicx.server")

_Item = tuple[Prepared, "asyncio.Future[Outcome]"]
_Group = tuple[asyncio.AbstractEventLoop, list[_Item]]
_STOP = None  # queued by `stop`, and read on an idle timeout: end if nothing follows


class GroupWriter:
    """Stores queued `Prepared` requests in groups, one transaction per group."""

    def __init__(self, history: History, *, max_items: int = 256,
                 max_bytes: int = 8 * 1024 * 1024, idle: float = 10.0) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("max_items and max_bytes must be at least 1")
        self._history = history
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._idle = idle
        # On the loop: the requests waiting for the next group, and whether a group is
        # with the thread (then the next one is handed over when it comes back).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Item] = []
        self._busy = False
        self._drained: asyncio.Event | None = None
        # The thread's side. The lock guards starting the thread against its ending:
        # a group queued while the thread decides to end is seen by it, or starts a new one.
        self._groups: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fault: BaseException | None = None
        self.groups = 0  # committed groups and requests, for logs and tests
        self.requests = 0

    @property
    def alive(self) -> bool:
        """Whether the writer runs (or will start at the next request)."""
        return self._fault is None

    def start(self) -> None:
        """Start the writer thread unless it runs (lifespan startup; requests do it too)."""
        with self._lock:
            if self._thread is None:
                self._fault = None
                self._thread = threading.Thread(target=self._run, name="omnicx-group-writer",
                                                daemon=True)
                self._thread.start()

    async def stop(self) -> None:
        """Store what is queued, then stop (lifespan shutdown)."""
        if self._busy and self._loop is asyncio.get_running_loop():
            self._drained = asyncio.Event()
            await self._drained.wait()
            self._drained = None
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._groups.put(_STOP)
        await asyncio.to_thread(thread.join)

    async def submit(self, item: Prepared) -> Outcome:
        """Queue ``item``; return its outcome once its group is committed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run several): what was queued is gone
            self._loop, self._pending, self._busy = loop, [], False
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((item, future))
        if not self._busy:
            self._busy = True
            # After the callbacks already due: the requests that arrived together
            # make one group.
            loop.call_soon(self._hand_over)
        # A client that goes away does not cancel the store: the item is queued and
        # will be committed (cancelling the future only drops its answer), and the
        # provider's retry is then a duplicate.
        return await future

    # -- on the loop ------------------------------------------------------------------
    def _hand_over(self) -> None:
        """Give the thread the next group, or note that none is waiting."""
        pending = self._pending
        if not pending:
            self._busy = False
            if self._drained is not None:
                self._drained.set()
            return
        taken = size = 0
        while taken < len(pending) and taken < self.max_items and size < self.max_bytes:
            size += pending[taken][0].size
            taken += 1
        group, self._pending = pending[:taken], pending[taken:]
        assert self._loop is not None
        self._groups.put((self._loop, group))
        self.start()  # after the put, under the lock: a thread that is ending sees the group

    def _done(self, group: Sequence[_Item], outcomes: Sequence[Outcome]) -> None:
        """A group is committed (or failed as a whole): answer it, hand over the next."""
        if asyncio.get_running_loop() is self._loop:
            self._hand_over()  # first: the next commit starts while these are answered
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if not future.done():  # done: cancelled, its client went away
                future.set_result(outcome)

    # -- in the thread ------------------------------------------------------------------
    def _run(self) -> None:
        work: _Group | None = None
        try:
            while True:
                try:
                    work = self._groups.get(timeout=self._idle)
                except queue.Empty:
                    work = _STOP
                if work is _STOP:
                    with self._lock:
                        if self._groups.empty():  # nothing came in meanwhile: end
                            self._thread = None
                            return
                    self._groups.put(_STOP)  # end after what came in meanwhile
                    continue
                loop, group = work
                outcomes = self._commit(group)
                work = None
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                    loop.call_soon_threadsafe(self._done, group, outcomes)
        except BaseException as exc:  # not a failure `_commit` answers: the thread ends
            with self._lock:
                self._fault = exc  # readiness says so until the next group starts a thread
                self._thread = None
            log.critical("the group-commit writer stopped", exc_info=exc)
            if work is not None:  # its requests must not wait forever
                loop, group = work
                lost: list[Outcome] = [OmnicxError("internal error (the writer stopped)")]
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                    loop.call_soon_threadsafe(self._done, group, lost * len(group))
            raise

    def _commit(self, group: Sequence[_Item]) -> list[Outcome]:
        try:
            with regional(self._history.default_region):
                outcomes = store_group(self._history, [prepared for prepared, _ in group])
        except Exception as exc:  # a bug: every waiting request still gets an answer
            log.exception("group commit failed")
            outcomes = [OmnicxError(f"internal error ({type(exc).__name__})")] * len(group)
        self.groups += 1
        self.requests += len(group)
        return outcomes
