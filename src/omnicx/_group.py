"""Group commit: many independent provider requests stored in one transaction.

`History.receive` pays one commit (one fsync, one round trip) per request.
A webhook server under load has many requests in flight at once; storing
the ones that queued up while the previous commit ran in *one* transaction
pays that cost once for all of them. Each request still gets its own
answer, as if it had been received alone:

- `prepare` verifies and parses one request on arrival, without touching
  the store: a forged request raises `SignatureError` at once and never
  waits for a commit; a payload that does not parse is carried along to be
  quarantined;
- `store_group` stores prepared requests in one transaction and returns one
  outcome per request, in order: its `Receipt`, or the `PayloadError`
  (with the quarantine id) or `StorageError` it would have raised alone.
  The group is ingested in one `ingest` call (bulk lookups and inserts, about
  half the cost of one call per request), and each receipt is read off the
  result; see `_store` for the one case that falls back to a call per
  request. Within a group, a status that comes before its message in the
  same group finds the message: no gap is opened and closed for it.

When the shared transaction fails, nothing of it was committed, and every
request is stored again alone: a payload that fails on its own then fails
alone (quarantined when the store refused its content, a `StorageError`
when the store is down) and never takes its neighbours with it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import attrs

from ._adapters import adapter_channel
from ._errors import OmnicxError, PayloadError, SignatureError, StorageError
from ._events import ChannelEvent
from ._history import History, Receipt, _parse, _to_receipt
from ._identity import regional
from ._ingest import IngestResult, Parsed, ingest
from ._models import Interaction
from ._refusals import refusal
from ._scrub import scrub_raw
from .storage._base import RawPayload, Transaction
from .typing import ChannelAdapter, Headers

__all__ = ["Outcome", "Prepared", "prepare", "receive_group", "store_group"]

log = logging.getLogger("omnicx.server")

# A request's answer: what `History.receive` would have returned or raised.
# `SignatureError` never gets here (`prepare` raises it); any other
# `OmnicxError` is an unexpected failure of that request alone.
Outcome = Receipt | OmnicxError


@attrs.frozen(kw_only=True)
class Prepared:
    """One verified request, parsed (``events``) or not (``error``: it goes to quarantine)."""

    channel: ChannelAdapter
    body: bytes
    headers: dict[str, str]
    events: Sequence[ChannelEvent] | None
    error: str | None = None

    @property
    def size(self) -> int:
        return len(self.body)


def prepare(history: History, channel: ChannelAdapter, body: bytes,
            headers: Headers | None = None) -> Prepared:
    """Verify and parse one request; raise `SignatureError` if it is not authentic."""
    header_map = dict(headers or {})
    history._verify(channel, body, header_map)
    history._register(channel)
    try:
        with regional(history.default_region):  # parsed outside History.receive
            events = _parse(channel, body, header_map)
        return Prepared(channel=channel, body=body, headers=header_map, events=events)
    except PayloadError as exc:
        return Prepared(channel=channel, body=body, headers=header_map, events=None,
                        error=exc.message)


def receive_group(history: History,
                  requests: Sequence[tuple[ChannelAdapter, bytes, Headers | None]]
                  ) -> list[Outcome]:
    """`prepare` each request, then `store_group` the authentic ones; outcomes in order."""
    outcomes: list[Outcome | None] = []
    group: list[Prepared] = []
    for channel, body, headers in requests:
        try:
            group.append(prepare(history, channel, body, headers))
            outcomes.append(None)
        except SignatureError as exc:
            outcomes.append(exc)
    stored = iter(store_group(history, group))
    return [next(stored) if outcome is None else outcome for outcome in outcomes]


def store_group(history: History, group: Sequence[Prepared]) -> list[Outcome]:
    """Store ``group`` in one transaction; one outcome per request, in order.

    Returns only after the commit: a `Receipt` in the result is durable.
    """
    if not group:
        return []
    now = dt.datetime.now(dt.UTC)
    failure: Exception
    try:
        try:
            return history.store.atomic(
                lambda tx: _store(history, tx, group, now, together=True))
        except _GapsMoved:  # rolled back: again, each payload ingested on its own
            return history.store.atomic(
                lambda tx: _store(history, tx, group, now, together=False))
    except Exception as exc:  # every request must get an answer
        failure = exc
    if len(group) == 1:
        return [_alone_failed(history, group[0], now, failure)]
    log.warning("a group of %d failed (%s); storing each alone", len(group),
                type(failure).__name__)
    # Nothing was committed: each request again on its own, so only the
    # request that cannot be stored fails.
    return [outcome for item in group for outcome in store_group(history, [item])]


class _GapsMoved(Exception):
    """A group's one ingest opened or closed gaps, which cannot be told apart per request."""


def _store(history: History, tx: Transaction, group: Sequence[Prepared], now: dt.datetime,
           *, together: bool) -> list[Outcome]:
    """Archive and ingest ``group``; one outcome per request.

    ``together``: one `ingest` call for the whole group, which costs about
    half of one call per request (its lookups and inserts are made once, in
    bulk); each request's receipt is then read off the result (interactions
    by raw id, duplicates and updates from ``IngestResult.by_raw``). Gaps
    opened or closed cannot be attributed that way, so a group that moved
    any (rare: a status before its message, a missing parent) is rolled back
    and ingested again one call per request, in the same order.
    """
    ids = tx.new_ids("raw_payloads", len(group))
    sealer = history._vault.sealer(tx)
    outcomes: list[Outcome | None] = []
    parsed: list[Parsed] = []
    quarantined: list[RawPayload] = []
    for raw_id, item in zip(ids, group, strict=True):
        raw = RawPayload(id=raw_id, channel=adapter_channel(item.channel).value,
                         account=item.channel.account, received_at=now,
                         headers=item.headers, body=item.body,
                         state="ok" if item.events is not None else "quarantined",
                         error=item.error)
        if item.events is None:
            quarantined.append(sealer.raw(scrub_raw(raw)))
            outcomes.append(PayloadError(item.error or "payload could not be parsed",
                                         channel=raw.channel, quarantine_id=raw_id))
        else:
            parsed.append(Parsed(raw=raw, events=item.events))
            outcomes.append(None)
    if quarantined:
        tx.archive(quarantined)
    receipts: list[Receipt]
    if together and len(parsed) > 1:
        result = ingest(tx, parsed, now, sealer=sealer)
        if result.gaps_opened or result.gaps_closed:
            raise _GapsMoved
        receipts = _split(result, [p.raw.id for p in parsed if p.raw is not None])
    else:
        receipts = [_to_receipt(ingest(tx, [p], now, sealer=sealer), [raw_id])
                    for p in parsed for raw_id in ([p.raw.id] if p.raw else [])]
    answers = iter(receipts)
    return [next(answers) if outcome is None else outcome for outcome in outcomes]


def _split(result: IngestResult, raw_ids: Sequence[int]) -> list[Receipt]:
    """One receipt per payload of a group ingested in one call (no gaps moved)."""
    stored: dict[int, list[Interaction]] = {raw_id: [] for raw_id in raw_ids}
    for interaction in result.interactions:
        if interaction.raw_id is not None:
            stored[interaction.raw_id].append(interaction)
    receipts = []
    for raw_id in raw_ids:
        duplicates, updates = result.by_raw.get(raw_id, (0, 0))
        receipts.append(Receipt(stored=len(stored[raw_id]), duplicates=duplicates,
                                updates=updates, interactions=tuple(stored[raw_id]),
                                raw_ids=(raw_id,)))
    return receipts


def _alone_failed(history: History, item: Prepared, now: dt.datetime, exc: Exception
                  ) -> OmnicxError:
    """What a request that failed on its own answers, as `History.receive` would."""
    if isinstance(exc, StorageError) and not exc.transient:
        exc = refusal(exc)  # refused on every retry: quarantined (omnicx._refusals)
    if isinstance(exc, PayloadError):  # the store refused its content: keep it
        try:
            return history._quarantine(item.channel, item.body, item.headers, now, exc)
        except OmnicxError as again:
            return again
    if isinstance(exc, OmnicxError):
        return exc
    # An omnicx bug, not the request's fault; logged with its traceback here
    # because the answer carries only its name.
    log.error("storing a %s payload failed", adapter_channel(item.channel).value, exc_info=exc)
    return OmnicxError(f"internal error ({type(exc).__name__}); nothing was stored")
