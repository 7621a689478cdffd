"""Outbound webhooks: subscriptions, a transactional outbox, signed delivery with retries.

- **Outbox.** When a change commits, so does a pending delivery for every
  active webhook whose events match it (`Transaction.append_changes`): a
  change that committed is never without its deliveries, and none is made
  for a change that rolled back.
- **Signed.** Each request follows the Standard Webhooks specification
  (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), signed
  with the `standardwebhooks` package (``pip install 'omnicx[webhooks]'``);
  the receiver checks it with ``standardwebhooks.Webhook(secret).verify``.
  ``webhook-id`` is stable across retries (``msg_<change position>``), so a
  receiver can drop the repeats that at-least-once delivery brings.
- **Retries.** A delivery that fails (no answer, a timeout, a non-2xx
  status) is retried with exponential backoff and jitter (`RetryPolicy`)
  until its retry window ends; then it is dead: listed by
  `Webhooks.dead`, sent again by `Webhooks.resend`. A ``410 Gone`` turns the
  webhook off, as the specification asks.
- **Order.** Deliveries of one contact to one webhook go out in feed order:
  one that waits for its retry holds back the later ones (a dead one does
  not; a re-sent dead letter arrives out of order).
- **Log.** Every attempt is kept with the receiver's status code and the
  time it took (`Webhooks.attempts`); response bodies are not kept.

`Webhooks.deliver` is one pass; `DeliveryWorker` runs passes in a thread
(what ``omnicx deliver`` and a server use).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._crypto import Keyring
from ._errors import ConfigurationError, NotFoundError
from ._feed import _iso, _kinds
from .storage._base import Store, Transaction
from .storage._feedrows import AttemptRecord, Change, DeliveryRecord, WebhookRecord

if TYPE_CHECKING:
    from ._history import History

__all__ = [
    "Delivery",
    "DeliveryAttempt",
    "DeliveryReport",
    "DeliveryWorker",
    "RetryPolicy",
    "Webhook",
    "Webhooks",
]

Delivery = DeliveryRecord
DeliveryAttempt = AttemptRecord

_USER_AGENT = "omnicx-webhooks"
_log = logging.getLogger("omnicx.webhooks")
_clock = time.monotonic  # a pass's lease deadline (a name of its own, for tests)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _signer(secret: str) -> Any:
    try:
        import standardwebhooks
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "webhooks need the standardwebhooks package: pip install 'omnicx[webhooks]'"
        ) from exc
    try:
        return standardwebhooks.Webhook(secret)
    except Exception as exc:
        raise ConfigurationError(
            "a webhook secret is 'whsec_' and base64 (24 to 64 random bytes)") from exc


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form (``whsec_`` + base64)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@attrs.frozen(kw_only=True)
class Webhook:
    """A webhook subscription: where to send which kinds of change, signed with ``secret``.

    ``events`` is ``None`` for every kind.
    """

    id: int
    url: str
    events: frozenset[str] | None
    active: bool
    created_at: dt.datetime
    secret: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When to try a failed delivery again.

    The n-th retry waits ``min(cap, base * 2**(n-1))``, of which a random part
    (``jitter``, 0 to 1) is taken off so that retries of many deliveries do
    not arrive together. A delivery still failing when its next try would
    fall after ``window`` (counted from when it was queued) is dead.
    """

    base: dt.timedelta = dt.timedelta(seconds=5)
    cap: dt.timedelta = dt.timedelta(hours=1)
    window: dt.timedelta = dt.timedelta(days=3)
    jitter: float = attrs.field(default=0.5)

    @jitter.validator
    def _check_jitter(self, _: object, value: float) -> None:
        if not 0 <= value <= 1:
            raise ConfigurationError("jitter is a fraction between 0 and 1")

    def delay(self, attempts: int) -> dt.timedelta:
        """How long to wait after the ``attempts``-th failed try."""
        exponent = min(max(attempts - 1, 0), 40)
        full = min(self.cap, self.base * (2 ** exponent))
        wait: dt.timedelta = full * (1 - self.jitter * random.random())
        return wait


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What one pass of `Webhooks.deliver` did."""

    attempted: int = 0
    delivered: int = 0
    failed: int = 0  # failed now, to be retried
    dead: int = 0  # failed for the last time

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(attempted=self.attempted + other.attempted,
                              delivered=self.delivered + other.delivered,
                              failed=self.failed + other.failed, dead=self.dead + other.dead)


@attrs.frozen
class _Outcome:
    attempt: AttemptRecord
    ok: bool
    gone: bool


class Webhooks:
    """The webhook subscriptions of a history (`History.webhooks`)."""

    def __init__(self, store: Store, keyring: Keyring | None, *,
                 retry: RetryPolicy | None = None) -> None:
        self._store = store
        self._keyring = keyring
        self.retry = retry or RetryPolicy()

    # -- subscriptions -------------------------------------------------------------------------
    def add(self, url: str, *, secret: str | None = None,
            events: Iterable[str] | None = None) -> Webhook:
        """Subscribe ``url`` to the changes of ``events`` (`ChangeKind` values; ``None``: all).

        ``secret`` is the Standard Webhooks signing secret (``whsec_…``); one
        is made when none is given (read it from the returned `Webhook`). With
        a key set, the secret is stored encrypted under it.
        """
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError(f"a webhook URL is http(s)://host/...: {url!r}")
        wanted = _kinds(events)
        secret = secret or new_secret()
        _signer(secret)  # refuse a malformed secret now, not at the first delivery
        at = _now()
        keyring = self._keyring

        def work(tx: Transaction) -> int:
            webhook_id = tx.insert_webhook(url, wanted, None if keyring else secret, None, at)
            if keyring is not None:
                tx.seal_webhook(webhook_id, keyring.wrap(f"webhook:{webhook_id}",
                                                         secret.encode()))
            return webhook_id

        webhook_id = self._store.atomic(work)
        return Webhook(id=webhook_id, url=url, events=wanted, active=True, created_at=at,
                       secret=secret)

    def all(self) -> list[Webhook]:
        """Every subscription, active or not, oldest first."""
        with self._store.reading() as tx:
            return [self._open(r) for r in tx.webhooks()]

    def get(self, webhook_id: int) -> Webhook:
        for webhook in self.all():
            if webhook.id == webhook_id:
                return webhook
        raise NotFoundError(f"no webhook #{webhook_id}")

    def disable(self, webhook: Webhook | int) -> None:
        """Stop sending to a webhook; its pending deliveries become dead letters."""
        self._set_active(webhook, False)

    def enable(self, webhook: Webhook | int) -> None:
        """Send to a disabled webhook again (from the changes committed from now on)."""
        self._set_active(webhook, True)

    def _set_active(self, webhook: Webhook | int, active: bool) -> None:
        webhook_id = webhook.id if isinstance(webhook, Webhook) else int(webhook)
        if not self._store.atomic(lambda tx: tx.set_webhook_active(webhook_id, active)):
            raise NotFoundError(f"no webhook #{webhook_id}")

    def _open(self, record: WebhookRecord) -> Webhook:
        if record.sealed is not None:
            if self._keyring is None:
                raise ConfigurationError(
                    "webhook secrets are encrypted: open the history with key= (or OMNICX_KEY)")
            secret = self._keyring.unwrap_raw(f"webhook:{record.id}", record.sealed).decode()
        else:
            secret = record.secret or ""
        return Webhook(id=record.id, url=record.url, events=record.events,
                       active=record.active, created_at=record.created_at, secret=secret)

    # -- deliveries and the log -------------------------------------------------------------------
    def deliveries(self, *, state: str | None = None, webhook: Webhook | int | None = None,
                   after: int = 0, limit: int = 100) -> list[Delivery]:
        """Deliveries (``state``: pending, delivered or dead), by id, after id ``after``."""
        if state not in (None, "pending", "delivered", "dead"):
            raise ConfigurationError(f"no delivery state {state!r}")
        webhook_id = webhook.id if isinstance(webhook, Webhook) else webhook
        with self._store.reading() as tx:
            return tx.deliveries(state=state, webhook_id=webhook_id, after=after, limit=limit)

    def dead(self, *, webhook: Webhook | int | None = None, limit: int = 100
             ) -> list[Delivery]:
        """The dead letters: deliveries that failed until their retry window ended."""
        return self.deliveries(state="dead", webhook=webhook, limit=limit)

    def attempts(self, delivery: Delivery | int) -> list[DeliveryAttempt]:
        """The delivery log of one delivery: every attempt, oldest first."""
        delivery_id = delivery.id if isinstance(delivery, DeliveryRecord) else int(delivery)
        with self._store.reading() as tx:
            return tx.attempts(delivery_id)

    def resend(self, deliveries: Iterable[Delivery | int], *, now: dt.datetime | None = None
               ) -> int:
        """Queue dead letters again (with a fresh retry window); returns how many."""
        ids = [d.id if isinstance(d, DeliveryRecord) else int(d) for d in deliveries]
        at = now or _now()
        return self._store.atomic(lambda tx: tx.requeue_deliveries(ids, at))

    def prune(self, *, older_than: dt.timedelta | dt.datetime,
              now: dt.datetime | None = None) -> int:
        """Forget deliveries delivered longer ago than ``older_than`` (an age, or a
        cut-off time), with their log; pending and dead ones stay. Returns how many."""
        at = now or _now()
        before = at - older_than if isinstance(older_than, dt.timedelta) else older_than
        return self._store.atomic(lambda tx: tx.prune_deliveries(before))

    # -- the worker --------------------------------------------------------------------------------
    def deliver(self, *, now: dt.datetime | None = None, limit: int = 500,
                timeout: float = 10.0, concurrency: int = 1,
                client: httpx.Client | None = None) -> DeliveryReport:
        """One pass: send the deliveries due at ``now``, in order per contact.

        ``concurrency`` > 1 sends different contacts' deliveries on that many
        threads (each contact's still in order): worth it for a receiver far
        away, where each request waits for the network; on a near one,
        threads only contend (see ``benchmarks/bench_feed.py``). ``timeout``
        bounds each request. Claimed deliveries are leased for the pass (at
        least a minute), so several workers (processes) may run at once; a
        pass stops starting sends before its lease ends and gives the rest
        back; a worker that dies mid-pass leaves its lease to expire and the
        delivery is sent again (at least once).
        """
        at = now or _now()
        # A read first: an idle worker must not take the write lock every pass.
        with self._store.reading(snapshot=False) as tx:
            due = tx.next_delivery_at()
        if due is None or due > at:
            return DeliveryReport()
        lease = dt.timedelta(seconds=max(60.0, timeout * 3 + 30))
        # Stop starting sends while a send started before the lease ends could still run.
        stop_at = _clock() + lease.total_seconds() - timeout - 5
        claimed, changes, hooks = self._store.atomic(lambda tx: self._claim(tx, at, limit, lease))
        if not claimed:
            return DeliveryReport()
        queues: dict[tuple[int, int | None], list[DeliveryRecord]] = {}
        for delivery in claimed:
            key = (delivery.webhook_id,
                   delivery.contact_id if delivery.contact_id is not None else -delivery.id)
            queues.setdefault(key, []).append(delivery)
        own_client = client is None
        http = client or httpx.Client(timeout=timeout, headers={"user-agent": _USER_AGENT})
        try:
            def run(queue: list[DeliveryRecord]) -> list[tuple[DeliveryRecord, _Outcome | None]]:
                done: list[tuple[DeliveryRecord, _Outcome | None]] = []
                failed = False
                for delivery in queue:
                    # Held back behind a failure (in order), or past the lease: given back.
                    if failed or _clock() > stop_at:
                        done.append((delivery, None))
                        continue
                    outcome = self._send(http, hooks[delivery.webhook_id],
                                         changes[delivery.change_id], timeout)
                    done.append((delivery, outcome))
                    failed = not outcome.ok
                return done

            if concurrency > 1 and len(queues) > 1:
                with ThreadPoolExecutor(max_workers=min(concurrency, len(queues))) as pool:
                    results = [r for rs in pool.map(run, queues.values()) for r in rs]
            else:
                results = [r for q in queues.values() for r in run(q)]
        finally:
            if own_client:
                http.close()
        return self._store.atomic(lambda tx: self._finish(tx, results, at))

    def _claim(self, tx: Transaction, at: dt.datetime, limit: int, lease: dt.timedelta
               ) -> tuple[list[DeliveryRecord], dict[int, Change], dict[int, Webhook]]:
        claimed = tx.claim_deliveries(at, limit, at + lease)
        if not claimed:
            return [], {}, {}
        changes = tx.change_records(d.change_id for d in claimed)
        hooks = {r.id: self._open(r) for r in tx.webhooks()}
        return claimed, changes, hooks

    def _send(self, http: httpx.Client, hook: Webhook, change: Change, timeout: float
              ) -> _Outcome:
        body = payload(change)
        message_id = f"msg_{change.id}"
        sent_at = _now()
        signature = _signer(hook.secret).sign(message_id, sent_at, body)
        headers = {"webhook-id": message_id,
                   "webhook-timestamp": str(int(sent_at.timestamp())),
                   "webhook-signature": signature, "content-type": "application/json"}
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = http.post(hook.url, content=body.encode(), headers=headers,
                                 timeout=timeout)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.TimeoutException:
            error = f"no answer within {timeout:g}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        took = dt.timedelta(seconds=time.perf_counter() - started)
        attempt = AttemptRecord(delivery_id=0, attempted_at=sent_at, status_code=status,
                                error=error, duration=took)
        return _Outcome(attempt, ok=error is None, gone=status == 410)

    def _finish(self, tx: Transaction, results: Sequence[tuple[DeliveryRecord, _Outcome | None]],
                at: dt.datetime) -> DeliveryReport:
        outcomes: list[tuple[AttemptRecord, str, dt.datetime]] = []
        held: list[int] = []
        gone: set[int] = set()
        delivered = failed = dead = 0
        for delivery, outcome in results:
            if outcome is None:
                held.append(delivery.id)
                continue
            attempt = attrs.evolve(outcome.attempt, delivery_id=delivery.id)
            if outcome.ok:
                delivered += 1
                outcomes.append((attempt, "delivered", at))
                continue
            if outcome.gone:
                gone.add(delivery.webhook_id)
            retry_at = at + self.retry.delay(delivery.attempts + 1)
            if outcome.gone or retry_at - delivery.created_at > self.retry.window:
                dead += 1
                outcomes.append((attempt, "dead", at))
            else:
                failed += 1
                outcomes.append((attempt, "pending", retry_at))
        tx.record_attempts(outcomes)
        if held:
            tx.release_deliveries(held, at)
        for webhook_id in sorted(gone):
            tx.set_webhook_active(webhook_id, False)
        return DeliveryReport(attempted=len(outcomes), delivered=delivered, failed=failed,
                              dead=dead)


def payload(change: Change) -> str:
    """The JSON body sent for a change (the Standard Webhooks ``type``/``timestamp``/``data``)."""
    data = {"change_id": change.id, "contact_id": change.contact_id,
            "interaction_id": change.interaction_id, **change.data}
    return json.dumps({"type": change.kind, "timestamp": _iso(change.at), "data": data},
                      separators=(",", ":"))


class DeliveryWorker:
    """Runs `Webhooks.deliver` passes in a background thread until `stop`.

    Between passes that found nothing due it sleeps ``interval`` seconds. A
    pass that fails (the store is unreachable) is logged and retried after
    ``interval``. This is what ``omnicx deliver`` runs, and what a server
    starts next to its webhook receiver (`start`/`stop`).
    """

    def __init__(self, history: History, *, interval: float = 1.0, limit: int = 500,
                 timeout: float = 10.0, concurrency: int = 1,
                 on_pass: Callable[[DeliveryReport], object] | None = None) -> None:
        if interval <= 0:
            raise ConfigurationError("interval must be positive")
        self._history = history
        self._interval = interval
        self._limit = limit
        self._timeout = timeout
        self._concurrency = concurrency
        self._on_pass = on_pass
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.total = DeliveryReport()

    def run(self) -> None:
        """Deliver until `stop` is called (blocks the calling thread)."""
        webhooks = self._history.webhooks
        with httpx.Client(timeout=self._timeout, headers={"user-agent": _USER_AGENT}) as http:
            while not self._stopping.is_set():
                try:
                    report = webhooks.deliver(limit=self._limit, timeout=self._timeout,
                                              concurrency=self._concurrency, client=http)
                except Exception:
                    _log.exception("webhook delivery pass failed; retrying")
                    report = DeliveryReport()
                self.total += report
                if self._on_pass is not None and report.attempted:
                    self._on_pass(report)
                if report.attempted < self._limit:
                    self._stopping.wait(self._interval)

    def start(self) -> DeliveryWorker:
        """Run in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="omnicx-deliver",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to end and wait for the pass in progress."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

