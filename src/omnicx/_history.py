"""`History`: the object `omnicx.open` returns, and everything a CRM calls.

It is a thin coordinator: channels parse, `omnicx._ingest` decides, the
store keeps. Its job is the promise around them: verify before anything is
stored, quarantine what cannot be parsed, commit before returning, and never
let a third-party exception through.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from . import _privacy, _search, _translation
from ._adapters import adapter_channel, channel_names
from ._business import SLA
from ._chain import VerifyReport
from ._collector import paused
from ._contacts import Contacts
from ._conversations import Conversations
from ._crypto import Keyring, key_from_env, parse_key
from ._enums import Channel, Direction, Kind, Status, status_rank
from ._errors import (
    ConfigurationError,
    NotFoundError,
    OmnicxError,
    PayloadError,
    SendError,
    SignatureError,
    StorageError,
)
from ._events import ChannelEvent, MessageEvent
from ._feed import Change, ChangePage, FeedStore, Subscription, read_changes
from ._identity import check_region, guess_kind, in_default_region
from ._ingest import IngestResult, Parsed, attach_waiting, ingest, record_events
from ._lifecycle import ConversationChange
from ._models import (
    Address,
    Attachment,
    Contact,
    Interaction,
    InteractionEvent,
    StatusChange,
)
from ._outbound import Outgoing, SendResult
from ._refusals import Prepared, refusal, split
from ._scrub import scrub, scrub_raw
from ._search import SearchHit
from ._tenancy import TenantScope, check_contact, store_for
from ._translation import Translation
from ._vault import Sealer, Vault
from ._webhooks import Webhooks
from .storage._base import EventRecord, Gap, RawPayload, Store, TimelineQuery, Transaction
from .typing import BlobStore, ChannelAdapter, Headers, Poller, Sender, Translator

if TYPE_CHECKING:
    from ._kpis import KpiReport
    from ._mailimport import ImportProgress
    from ._webhooks import DeliveryReport

__all__ = ["History", "Page", "Receipt"]

Payload = bytes | tuple[bytes, Headers]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class Receipt:
    """What one `History.receive` (or a batch) stored.

    ``stored`` new interactions (listed in ``interactions``), ``duplicates``
    redelivered messages and updates that were already there, ``updates``
    new status/edit/reaction events, ``quarantined`` payloads kept because
    they could not be parsed (batches only: a single receive raises
    `PayloadError` instead), ``raw_ids`` the archived payloads.
    """

    stored: int = 0
    duplicates: int = 0
    updates: int = 0
    quarantined: int = 0
    gaps_opened: int = 0
    gaps_closed: int = 0
    interactions: tuple[Interaction, ...] = ()
    raw_ids: tuple[int, ...] = ()

    def __add__(self, other: Receipt) -> Receipt:
        return Receipt(
            stored=self.stored + other.stored,
            duplicates=self.duplicates + other.duplicates,
            updates=self.updates + other.updates,
            quarantined=self.quarantined + other.quarantined,
            gaps_opened=self.gaps_opened + other.gaps_opened,
            gaps_closed=self.gaps_closed + other.gaps_closed,
            interactions=self.interactions + other.interactions,
            raw_ids=self.raw_ids + other.raw_ids,
        )


@attrs.frozen(kw_only=True)
class Page:
    """One page of a timeline, newest first.

    Pass ``next_cursor`` as ``before=`` to get the next (older) page; it is
    ``None`` on the last page. The cursor is a keyset position, so items
    arriving meanwhile never make a page repeat or skip an item.
    """

    items: tuple[Interaction, ...]
    next_cursor: str | None


def _encode_cursor(item: Interaction) -> str:
    delta = item.occurred_at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return base64.urlsafe_b64encode(f"{micros}:{item.id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        micros, item_id = base64.urlsafe_b64decode(padded).decode().split(":")
        at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
        return at, int(item_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise NotFoundError(f"not a timeline cursor: {cursor!r}") from exc


def _to_receipt(result: IngestResult, raw_ids: Sequence[int], quarantined: int = 0) -> Receipt:
    return Receipt(stored=len(result.interactions), duplicates=result.duplicates,
                   updates=result.updates, quarantined=quarantined,
                   gaps_opened=result.gaps_opened, gaps_closed=result.gaps_closed,
                   interactions=tuple(result.interactions), raw_ids=tuple(raw_ids))


class History:
    """A unified contact history on one store. Create it with `omnicx.open`."""

    def __init__(
        self,
        store: Store,
        *,
        channels: Iterable[ChannelAdapter] = (),
        key: bytes | str | None = None,
        default_region: str | None = None,
        blobs: BlobStore | None = None,
        tenant: str | None = None,
    ) -> None:
        #: Where national phone numbers are read (``"CH"``: ``079 123 45 67``), in
        #: parsing, sending and finding alike; ``None`` accepts international ones only.
        self.default_region = check_region(default_region)
        # A named tenant reads and writes its own namespace of the store (docs/tenancy.md).
        self.tenant: str | None = tenant if tenant is not None else getattr(store, "tenant", None)
        if self.tenant is not None:
            store = TenantScope(store_for(store, self.tenant), self.tenant)
        self._store = store
        self.blobs = blobs
        self._channels: dict[tuple[str, str], ChannelAdapter] = {}
        for channel in channels:
            self._register(channel)
        master = parse_key(key) if key is not None else key_from_env()
        self._vault = Vault(Keyring(master) if master is not None else None, blobs)
        store.atomic(self._vault.attach)
        # Every write transaction records its changes in the feed (omnicx._feed); with a
        # key, every transaction goes through the vault (blind-indexed addresses) first.
        self._feed = FeedStore(store, redact=master is not None or self._vault.encrypted_store)
        self._store = store = self._vault.store(self._feed)
        self.contacts = Contacts(store, default_region=self.default_region,
                                 key_missing=self.key_missing, tenant=self.tenant)
        #: Outbound webhook subscriptions, deliveries, dead letters (omnicx._webhooks).
        self.webhooks = Webhooks(store, self._vault.keyring)
        self.conversations = Conversations(store, self._vault)

    @property
    def store(self) -> Store:
        return self._store

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _register(self, channel: ChannelAdapter) -> None:
        self._channels[(adapter_channel(channel).value, channel.account)] = channel

    # -- inbound -----------------------------------------------------------------------
    @in_default_region
    def receive(
        self, channel: ChannelAdapter, *, body: bytes, headers: Headers | None = None
    ) -> Receipt:
        """Verify, archive, parse and store one provider request; return after commit.

        Raises `SignatureError` (nothing stored) or `PayloadError` (payload
        quarantined, see ``.quarantine_id``).
        """
        self._register(channel)
        header_map = dict(headers or {})
        self._verify(channel, body, header_map)
        now = _now()
        try:
            events = _parse(channel, body, header_map)

            def work(tx: Transaction) -> Receipt:
                (raw_id,) = tx.new_ids("raw_payloads", 1)
                raw = RawPayload(id=raw_id, channel=adapter_channel(channel).value,
                                 account=channel.account, received_at=now,
                                 headers=header_map, body=body)
                result = ingest(tx, [Parsed(raw=raw, events=events)], now,
                                sealer=self._vault.sealer(tx))
                return _to_receipt(result, [raw_id])

            return self._store.atomic(work)
        except PayloadError as exc:
            raise self._quarantine(channel, body, header_map, now, exc) from exc
        except StorageError as exc:
            if exc.transient:
                raise  # the provider's retry may succeed: nothing is kept
            # Refused on every retry: kept in quarantine, as a payload that cannot be parsed.
            raise self._quarantine(channel, body, header_map, now, refusal(exc)) from exc

    def receive_group(
        self, requests: Sequence[tuple[ChannelAdapter, bytes, Headers | None]]
    ) -> list[Receipt | OmnicxError]:
        """Store independent requests ``(channel, body, headers)`` in one transaction.

        Group commit for servers: one commit for all, one outcome per request,
        in order, as if each had been received alone: its `Receipt`, or the
        `SignatureError` (nothing stored) or `PayloadError` (quarantined)
        `receive` would have raised, or a `StorageError`. When the shared
        transaction fails, each request is stored again alone, so a payload
        that cannot be stored never fails its neighbours. A status that
        comes before its message in the same group opens no gap. Returns
        after the commit. See ``omnicx._group``.
        """
        from ._group import receive_group

        return receive_group(self, requests)

    @in_default_region
    def receive_batch(
        self,
        channel: ChannelAdapter,
        payloads: Sequence[Payload],
        *,
        cursor: tuple[str, str] | None = None,
    ) -> Receipt:
        """Store many payloads in one transaction (the import path).

        A payload that cannot be parsed is quarantined in the same transaction
        and counted in ``Receipt.quarantined``; the others are stored. So is a
        payload the store refuses (a `StorageError` that is not ``transient``):
        the batch is split until the payload is alone, and only it is
        quarantined. A forged one raises `SignatureError` and nothing of the
        batch is stored.
        ``cursor=(name, value)`` is saved in the same transaction, so an import
        that resumes from `History.cursor` never stores anything twice.
        """
        self._register(channel)
        now = _now()
        prepared: list[Prepared] = []
        with paused():  # a batch's objects are many and acyclic (omnicx._collector)
            for payload in payloads:
                body, headers = payload if isinstance(payload, tuple) else (payload, {})
                header_map = dict(headers)
                self._verify(channel, body, header_map)
                try:
                    prepared.append((body, header_map, _parse(channel, body, header_map), None))
                except PayloadError as exc:
                    prepared.append((body, header_map, None, exc.message))
            return self._store_batch(channel, prepared, now, cursor)

    def _store_batch(
        self,
        channel: ChannelAdapter,
        prepared: Sequence[Prepared],
        now: dt.datetime,
        cursor: tuple[str, str] | None,
    ) -> Receipt:
        """Store prepared payloads in one transaction; see `omnicx._refusals.split`."""

        def work(tx: Transaction) -> Receipt:
            ids = tx.new_ids("raw_payloads", len(prepared))
            good: list[Parsed] = []
            bad: list[RawPayload] = []
            name, account = adapter_channel(channel).value, channel.account
            for raw_id, (body, headers, events, error) in zip(ids, prepared, strict=True):
                raw = RawPayload(id=raw_id, channel=name, account=account, received_at=now,
                                 headers=headers, body=body,
                                 state="ok" if error is None else "quarantined", error=error)
                if events is None:
                    bad.append(raw)
                else:
                    good.append(Parsed(raw=raw, events=events))
            sealer = self._vault.sealer(tx)
            if bad:
                tx.archive([sealer.raw(scrub_raw(r)) for r in bad])
            result = ingest(tx, good, now, sealer=sealer)
            if cursor is not None:
                tx.set_cursor(cursor[0], cursor[1], now)
            return _to_receipt(result, list(ids), quarantined=len(bad))

        try:
            return self._store.atomic(work)
        except (PayloadError, StorageError) as exc:  # raised while storing
            return split(exc, prepared, cursor,
                         lambda part, at: self._store_batch(channel, part, now, at))

    def receive_many(
        self, channel: ChannelAdapter, payloads: Iterable[Payload], *, batch_size: int = 500
    ) -> Receipt:
        """`receive_batch` over an iterable of any length, one transaction per batch.

        The receipt lists ``interactions`` only when they fit in one batch;
        beyond that it has the counts and ``raw_ids``, so a long import holds
        no more than a batch of objects (and the garbage collector does not
        walk them over and over).
        """
        total = Receipt()
        raw_ids: list[int] = []
        interactions: list[Interaction] = []
        batch: list[Payload] = []

        def store(batch: list[Payload]) -> None:
            nonlocal total
            receipt = self.receive_batch(channel, batch)
            total += attrs.evolve(receipt, interactions=(), raw_ids=())
            raw_ids.extend(receipt.raw_ids)
            if total.stored > batch_size:
                interactions.clear()
            else:
                interactions.extend(receipt.interactions)

        for payload in payloads:
            batch.append(payload)
            if len(batch) >= batch_size:
                store(batch)
                batch = []
        if batch:
            store(batch)
        return attrs.evolve(total, interactions=tuple(interactions), raw_ids=tuple(raw_ids))

    def import_path(
        self,
        path: str | os.PathLike[str],
        *,
        channel: ChannelAdapter,
        batch_size: int = 200,
        progress: Callable[[ImportProgress], None] | None = None,
    ) -> Receipt:
        """Import an ``.eml`` file, an mbox, a Maildir or a directory of ``.eml`` files.

        Streams in constant memory, one transaction per batch with the
        position reached; run it again after a crash and it resumes behind
        the last committed batch without storing anything twice. The receipt
        has the counts, not the interactions. See `omnicx._mailimport`.
        """
        from ._mailimport import import_path

        return import_path(self, path, channel=channel, batch_size=batch_size,
                           progress=progress)

    @in_default_region
    def record(
        self,
        *,
        channel: str,
        direction: str,
        contact: Contact | Address | str,
        occurred_at: dt.datetime | None = None,
        text: str | None = None,
        subject: str | None = None,
        duration: dt.timedelta | float | None = None,
        attachments: Iterable[bytes | str | os.PathLike[str] | Attachment] = (),
        external_id: str | None = None,
        **options: Any,
    ) -> Interaction:
        """Record a call, video call, letter, fax, visit or note no provider delivers.

        It goes through `receive` like a webhook (identity, threading, chain,
        encryption, gaps). ``contact`` is an address string, an `Address` or
        a `Contact`; ``duration`` a timedelta or seconds; ``attachments``
        bytes, file paths or stored `Attachment` objects (bytes go to this
        history's blob store, sealed with a key, see `attachment`; or to
        ``blobs=`` when given; or, with neither, under ``./omnicx-media``). The same
        ``external_id`` twice is a duplicate: the first interaction is
        returned. ``options``: ``account``, ``kind``, ``name``, ``reply_to``,
        ``thread``, ``data``, ``blobs`` (see `omnicx._record.record`).
        """
        from ._record import record

        check_contact(contact, self.tenant)
        return record(self, channel=channel, direction=direction, contact=contact,
                      occurred_at=occurred_at, text=text, subject=subject, duration=duration,
                      attachments=attachments, external_id=external_id, **options)

    def sync_imap(
        self,
        channel: ChannelAdapter,
        *,
        folders: Iterable[str] | None = None,
        progress: Callable[[ImportProgress], None] | None = None,
    ) -> Receipt:
        """Fetch what is new in the IMAP folders of ``channel`` (an `Email` with ``imap=``).

        Each folder keeps a UIDVALIDITY/UID cursor committed with its
        messages: downtime loses nothing, and a UIDVALIDITY change re-reads
        the folder without duplicates.
        """
        from ._mailimport import sync_imap

        return sync_imap(self, channel, folders=folders, progress=progress)

    def poll(self, channel: Poller, *, limit: int = 100) -> Receipt:
        """Fetch what ``channel`` has new (Telegram's ``getUpdates``) and store it.

        The position reached is saved with the payloads in one transaction
        (see `omnicx._polling`): polling again after a crash fetches and
        stores nothing twice. For deployments without a public webhook URL.
        """
        from ._polling import poll

        return poll(self, channel, limit=limit)

    def cursor(self, name: str) -> str | None:
        """The value last saved with ``receive_batch(..., cursor=(name, value))``."""
        with self._store.reading() as tx:
            return tx.cursor(name)

    def _verify(self, channel: ChannelAdapter, body: bytes, headers: dict[str, str]) -> None:
        try:
            channel.verify(body, headers)
        except OmnicxError:
            raise
        except Exception as exc:
            raise SignatureError(
                f"{adapter_channel(channel).value}: cannot verify signature: {exc}") from exc

    def _quarantine(
        self,
        channel: ChannelAdapter,
        body: bytes,
        headers: Mapping[str, str],
        now: dt.datetime,
        exc: PayloadError,
    ) -> PayloadError:
        def work(tx: Transaction) -> int:
            (raw_id,) = tx.new_ids("raw_payloads", 1)
            tx.archive([self._vault.sealer(tx).raw(scrub_raw(RawPayload(
                id=raw_id, channel=adapter_channel(channel).value, account=channel.account,
                received_at=now, headers=headers, body=body, state="quarantined",
                error=exc.message)))])
            return raw_id

        raw_id = self._store.atomic(work)
        return PayloadError(exc.message, channel=adapter_channel(channel).value,
                            quarantine_id=raw_id)

    # -- quarantine ----------------------------------------------------------------------------
    def quarantine(self) -> list[RawPayload]:
        """Payloads that could not be parsed, oldest first, with their errors.

        Each is what `replay` would parse: with the key, headers, body and
        error are opened (they are sealed at rest); without it, an encrypted
        history lists them sealed (``sealed`` set, ``body`` empty).
        """
        with self._store.reading() as tx:
            found = tx.raws("quarantined")
            if self._vault.keyring is None:  # in the clear, or sealed without the key
                return found
            return [self._vault.open_raw(tx, raw) for raw in found]

    @in_default_region
    def replay(self, quarantine_id: int, channel: ChannelAdapter | None = None) -> Receipt:
        """Parse a quarantined payload again (after fixing the adapter) and store it.

        ``channel`` defaults to the adapter this history last saw for the
        payload's channel and account. On failure the payload stays in
        quarantine with the new error, and `PayloadError` is raised.
        """
        with self._store.reading() as tx:
            raw = tx.raw(quarantine_id)
            if raw is not None:
                raw = self._vault.open_raw(tx, raw)
        if raw is None or raw.state != "quarantined":
            raise NotFoundError(f"no quarantined payload #{quarantine_id}")
        adapter = channel or self._channels.get((raw.channel, raw.account))
        if adapter is None:
            raise ConfigurationError(
                f"no {raw.channel} channel for account {raw.account!r} is known to this"
                " history; pass channel= to replay()")
        now = _now()
        try:
            events = _parse(adapter, raw.body, dict(raw.headers))
        except PayloadError as exc:
            raise self._keep_quarantined(raw, exc) from exc

        def work(tx: Transaction) -> Receipt:
            result = ingest(tx, [Parsed(raw=raw, events=events, archive=False)], now,
                            sealer=self._vault.sealer(tx))
            tx.set_raw_state(raw.id, "replayed", None)
            return _to_receipt(result, [raw.id])

        try:
            return self._store.atomic(work)
        except StorageError as exc:
            if exc.transient:
                raise
            raise self._keep_quarantined(raw, refusal(exc)) from exc

    def _keep_quarantined(self, raw: RawPayload, exc: PayloadError) -> PayloadError:
        """Leave ``raw`` in quarantine with the new error; the error to raise."""
        message = scrub(exc.message)  # the NUL rule, then sealed when there is a key
        self._store.atomic(lambda tx: tx.set_raw_state(
            raw.id, "quarantined", self._vault.sealer(tx).raw_error(raw.id, message)))
        return PayloadError(exc.message, channel=raw.channel, quarantine_id=raw.id)

    # -- queries -----------------------------------------------------------------------------
    def timeline(
        self,
        contact: Contact | int,
        *,
        limit: int = 50,
        before: str | None = None,
        channels: Iterable[Channel | str] | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Page:
        """A contact's interactions across every channel, newest first, one page at a time.

        Includes the interactions of contacts merged into this one. Ordered
        by provider time, ties broken by id.
        """
        if limit < 1:
            raise ConfigurationError("limit must be at least 1")
        check_contact(contact, self.tenant)
        contact_id = contact.id if isinstance(contact, Contact) else int(contact)
        query_before = _decode_cursor(before) if before else None
        query = TimelineQuery(
            group_of=contact_id, limit=limit + 1, before=query_before,
            channels=channel_names(channels),
            since=since, until=until)
        # The page, merged contacts included, is one statement, so it needs no
        # snapshot of its own; decrypting reads keys and ciphertext besides.
        # Contacts are never deleted, so checking an empty page's contact
        # afterwards cannot contradict the page.
        with self._store.reading(snapshot=self._vault.encrypted_store) as tx:
            rows = tx.timeline(query)
            if not rows and tx.group(contact_id) is None:
                raise NotFoundError(f"no contact #{contact_id}")
            rows = self._vault.open_interactions(tx, rows)
        items = tuple(rows[:limit])
        return Page(items=items,
                    next_cursor=_encode_cursor(items[-1]) if len(rows) > limit else None)

    def search(
        self,
        query: str,
        *,
        contact: Contact | int | None = None,
        channels: Iterable[str] | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 50,
    ) -> list[SearchHit]:
        """Interactions whose subject or text holds every word of ``query``, best first.

        Words match by stem in English, French, German and Italian ("Pakete"
        finds "Paket"); each `SearchHit` carries a snippet with the matched
        words. ``contact`` narrows to a contact and everyone merged into it;
        ``since``/``until`` bound the provider time (until exclusive). With a
        key the index holds keyed hashes only: see ``docs/search.md``.
        """
        check_contact(contact, self.tenant)
        if self._vault.encrypted_store and self._vault.keyring is None:
            raise ConfigurationError(
                "this history is encrypted: open it with key= (or OMNICX_KEY) to search it")
        return _search.search(self._store, self._vault.open_interactions, query,
                              contact=contact, channels=channels, since=since, until=until,
                              limit=limit, snapshot=self._vault.encrypted_store)

    def reindex_search(self) -> int:
        """Build the search index of every unerased interaction again; return how many.

        Interactions stored before search existed (a history created by an
        older omnicx) are found only after this; new ones are indexed as they
        are stored. Safe to re-run, and to run while others write.
        """
        if self._vault.encrypted_store and self._vault.keyring is None:
            raise ConfigurationError(
                "this history is encrypted: open it with key= (or OMNICX_KEY) to index it")
        return _search.reindex(self._store, self._vault.open_interactions)

    def interaction(self, interaction_id: int) -> Interaction:
        with self._store.reading() as tx:
            found = tx.interaction(interaction_id)
            if found is not None:
                (found,) = self._vault.open_interactions(tx, [found])
        if found is None:
            raise NotFoundError(f"no interaction #{interaction_id}")
        return found

    def statuses(self, interaction: Interaction | int) -> list[StatusChange]:
        """Every delivery status reported for an interaction, in provider order."""
        return [_status_change(e) for e in self._events(interaction) if e.kind == "status"]

    def events(self, interaction: Interaction | int) -> list[InteractionEvent]:
        """Edits, revokes and reactions recorded on an interaction, in provider order."""
        return [_interaction_event(e) for e in self._events(interaction) if e.kind != "status"]

    def _events(self, interaction: Interaction | int) -> list[EventRecord]:
        iid = interaction.id if isinstance(interaction, Interaction) else int(interaction)
        with self._store.reading() as tx:
            found = tx.interaction(iid)
            return self._vault.open_events(tx, found.contact_id if found else None,
                                           tx.events(iid))

    def report(self) -> dict[str, dict[str, int]]:
        """Counts for a dashboard: interactions by channel/direction/status,
        contacts, gaps and archived payloads by state."""
        with self._store.reading() as tx:
            return tx.counts()

    def kpis(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        by: str | None = "channel",
        bucket: str = "day",
        sla: SLA | Mapping[str, SLA] | None = None,
        journey_window: dt.timedelta = dt.timedelta(hours=4),
    ) -> KpiReport:
        """Contact-centre KPIs of the conversations started in ``[since, until)``.

        First and next response, resolution, reopen rate, backlog over time,
        SLA breaches (``sla``: one `SLA`, or one per channel with ``"*"`` for
        the rest), bot containment and handover rate, channel mix and
        cross-channel journeys within ``journey_window``; split ``by``
        ``"channel"``, ``"team"``, ``"agent"``, ``"day"`` or ``"week"``. The
        definitions are in ``docs/insight.md``.
        """
        from ._kpis import compute_kpis

        def open_changes(tx: Transaction, pairs: list[tuple[int, EventRecord]]
                         ) -> list[ConversationChange]:
            by_contact: dict[int, list[EventRecord]] = {}
            for contact_id, record in pairs:
                by_contact.setdefault(contact_id, []).append(record)
            opened = [e for contact_id, records in by_contact.items()
                      for e in self._vault.open_events(tx, contact_id, records)]
            opened.sort(key=lambda e: (e.occurred_at, e.id))
            return [ConversationChange.from_event(e) for e in opened]

        return compute_kpis(self._store, open_changes, since=since, until=until or _now(),
                            by=by, bucket=bucket, sla=sla, journey_window=journey_window)

    def gaps(self, *, include_closed: bool = False) -> list[Gap]:
        """What is known to be missing (open gaps), oldest first."""
        with self._store.reading() as tx:
            return tx.gaps(include_closed=include_closed)

    # -- integrity and privacy ---------------------------------------------------------------
    @property
    def encrypted(self) -> bool:
        """Whether new content is encrypted at rest (a key was given)."""
        return self._vault.keyring is not None

    @property
    def key_missing(self) -> bool:
        """Whether the history is encrypted but was opened without its key.

        Content and addresses then cannot be read, nor contacts found by
        address; `verify`, `erase` and contacts by id still work.
        """
        return self._vault.keyring is None and self._vault.encrypted_store

    def verify(self) -> VerifyReport:
        """Check every contact's hash chain against its rows (no key needed).

        The report names each record edited, removed, inserted or reordered
        behind the library's back; ``report.ok`` is true when there is none.
        See ``docs/integrity.md`` for what this does and does not prove.
        """
        return _privacy.verify(self._store)

    def erase(self, contact: Contact | int, *, reason: str = "erasure request") -> int:
        """Erase a person (GDPR art. 17) by crypto-shredding; return interactions erased.

        The contact and everyone merged with it lose their data keys,
        addresses and names; their interactions keep when, which channel and
        which direction, with the content gone (``erased=True``). The history
        stays gapless and `verify` still passes.

        Every other copy goes too: the raw payloads about them (redeliveries
        included), quarantined payloads that name one of their addresses (so
        `replay` cannot bring them back), conversation subjects and thread
        keys. With a key, searching a sealed quarantine needs the key
        (`ConfigurationError` otherwise). See ``docs/privacy.md``.
        """
        check_contact(contact, self.tenant)
        return _privacy.erase(self._store, self._vault, contact, reason=reason, at=_now())

    def attachment(self, interaction: Interaction | int, index: int) -> bytes:
        """The bytes of attachment ``index`` of an interaction, from the blob store.

        Opened with the contact's data key when the history is encrypted, and
        checked against the attachment's SHA-256. `NotFoundError` when the
        interaction, the attachment or its bytes do not exist, or were erased;
        `TamperedError` when the stored bytes are not the ones received.
        """
        return _privacy.attachment(self._store, self._vault, interaction, index)

    def apply_retention(self, *, older_than: dt.timedelta | dt.datetime,
                        reason: str = "retention") -> int:
        """Erase the content of every interaction older than ``older_than``.

        ``older_than`` is an age (``timedelta(days=730)``) or a cut-off time.
        Returns the number of interactions whose content was erased.
        """
        now = _now()
        before = now - older_than if isinstance(older_than, dt.timedelta) else older_than
        return _privacy.apply_retention(self._store, before=before, at=now, reason=reason)

    def rotate_key(self, new_key: bytes | str) -> int:
        """Re-wrap every data key under ``new_key`` (content is not rewritten).

        From now on this history uses the new key; open it with the new key
        next time. Returns the number of data keys re-wrapped.
        """
        return _privacy.rotate_key(self._store, self._vault, Keyring(parse_key(new_key)))

    def export(self, contact: Contact | int | None, out: str | Path | IO[str]) -> int:
        """Write a person's complete history as JSON Lines (a subject access request).

        ``contact=None`` exports everybody, streaming in constant memory.
        ``out`` is a path or an open text file. Returns the lines written.
        """
        check_contact(contact, self.tenant)
        if isinstance(out, (str, Path)):
            with Path(out).open("w", encoding="utf-8") as handle:
                return _privacy.export(self._store, self._vault, handle, contact)
        return _privacy.export(self._store, self._vault, out, contact)

    # -- change feed, subscribers, webhooks (omnicx._feed, omnicx._webhooks) ---------------------
    def changes(self, *, after: str | int | None = None, limit: int = 500,
                kinds: Iterable[str] | None = None) -> ChangePage:
        """The changes committed after the cursor ``after`` (``None``: from the start).

        Oldest first; store ``page.next_cursor`` with what you did and pass it
        back: a reader that resumes never misses or repeats a change, however
        many processes write. ``kinds`` keeps only those `ChangeKind` values.
        """
        return read_changes(self._store, after, limit, kinds)

    def subscribe(self, callback: Callable[[Change], object], *,
                  kinds: Iterable[str] | None = None) -> Subscription:
        """Call ``callback(change)`` after each commit of this history, in this process.

        A callback that raises is logged and skipped: the change stays in the
        feed, and the write that made it has returned normally.
        """
        return self._feed.subscribe(callback, kinds)

    def deliver_webhooks(self, now: dt.datetime | None = None, *, limit: int = 500,
                         timeout: float = 10.0) -> DeliveryReport:
        """One pass of the webhook worker: send what is due, in order per contact.

        ``now`` moves the retry clock (tests, backfills). `omnicx deliver`
        runs passes in a loop; see `omnicx._webhooks`.
        """
        return self.webhooks.deliver(now=now, limit=limit, timeout=timeout)

    # -- translation ---------------------------------------------------------------------------
    def translate(self, interaction: Interaction | int, *, to: str,
                  translator: Translator) -> Translation:
        """``interaction``'s text in language ``to``, stored beside the original.

        The provider is asked once per interaction and language; later calls
        return the stored translation. See ``docs/translation.md``.
        """
        # Read it again: the caller's copy may predate an erasure.
        item = self.interaction(interaction.id if isinstance(interaction, Interaction)
                                else interaction)
        return _translation.translate(self._store, self._vault, item, to=to,
                                      translator=translator, at=_now())

    def translations(self, interactions: Interaction | int | Iterable[Interaction | int]
                     ) -> dict[int, list[Translation]]:
        """The stored translations of one or many interactions (a timeline page's items),
        by interaction id."""
        items = [interactions] if isinstance(interactions, (Interaction, int)) \
            else list(interactions)
        ids = [i.id if isinstance(i, Interaction) else int(i) for i in items]
        return _translation.stored(self._store, self._vault, ids)

    def send_translated(
        self,
        channel: Sender,
        *,
        to: Contact,
        text: str,
        translator: Translator,
        language: str | None = None,
        agent_language: str | None = None,
        **options: Any,
    ) -> Interaction:
        """Send ``text`` in the customer's language and keep the agent's words beside it.

        ``language`` defaults to the language of the customer's latest inbound
        message (detected, see `omnicx.detect_language`). When it equals
        ``agent_language`` (or cannot be told), ``text`` is sent as written.
        """
        target = language or _translation.customer_language(self, to)
        source = agent_language or _translation.detect_language(text)
        if target is None or target == source:
            return self.send(channel, to=to, text=text, **options)
        (result,) = translator.translate([text], target=target, source=source)
        sent = self.send(channel, to=to, text=result.text, **options)
        _translation.record(self._store, self._vault, sent, Translation(
            interaction_id=sent.id, language=source or result.source_language or "und",
            text=text, source_language=None, provider=_translation.translator_name(translator),
            original=True), _now())
        return sent

    # -- outbound ------------------------------------------------------------------------------
    @in_default_region
    def send(
        self,
        channel: Sender,
        *,
        to: Contact | Address | str,
        text: str | None = None,
        subject: str | None = None,
        html: str | None = None,
        reply_to: Interaction | None = None,
        **options: Any,
    ) -> Interaction:
        """Send a message and record it in the history.

        The outbound interaction is committed *before* the provider is
        called (status ``pending``); the provider's id and status are stored
        after. On failure the interaction is marked ``failed`` and
        `SendError` is raised.
        """
        check_contact(to, self.tenant)
        name = adapter_channel(channel)
        now = _now()
        client_id = f"omnicx:{uuid.uuid4()}"
        address_kinds = _address_kinds(channel)

        def record(tx: Transaction) -> tuple[Interaction, Outgoing]:
            address = _recipient(tx, to, address_kinds)
            references = (reply_to.external_id,) if reply_to is not None else ()
            event = MessageEvent(
                channel=name, account=channel.account, external_id=client_id,
                direction=Direction.OUTBOUND, contact=(address,), kind=Kind.MESSAGE,
                occurred_at=now, recipients=(address,), subject=subject, text=text, html=html,
                reply_to=reply_to.external_id if reply_to else None,
                thread_refs=references, thread_key=_default_thread_key(channel),
                status=Status.PENDING, data={"options": _jsonable(options)} if options else {})
            result = ingest(tx, [Parsed(raw=None, events=[event])], now,
                            sealer=self._vault.sealer(tx))
            (interaction,) = result.interactions
            contact = tx.contact(interaction.contact_id)
            root = (contact.merged_into if contact else None) or interaction.contact_id
            outgoing = Outgoing(
                client_id=client_id, contact_id=interaction.contact_id, to=address, text=text,
                subject=subject, html=html, reply_to=reply_to, references=references,
                last_inbound_at=tx.last_inbound(tx.members([root])[root], name.value,
                                                channel.account),
                options=options)
            return interaction, outgoing

        interaction, outgoing = self._store.atomic(record)
        try:
            result = channel.send(outgoing)
        except SendError as exc:
            failure = exc
            self._store.atomic(
                lambda tx: _mark_failed(tx, self._vault.sealer(tx), interaction, failure, now))
            raise
        except OmnicxError:
            raise
        except Exception as exc:
            error = SendError(f"{name.value} sender failed: {exc}", channel=name.value)
            self._store.atomic(
                lambda tx: _mark_failed(tx, self._vault.sealer(tx), interaction, error, now))
            raise error from exc
        sent = self._store.atomic(
            lambda tx: _mark_sent(tx, self._vault.sealer(tx), interaction, result))
        with self._store.reading() as tx:
            (opened,) = self._vault.open_interactions(tx, [sent])
        return opened


def _parse(channel: ChannelAdapter, body: bytes, headers: Headers) -> Sequence[ChannelEvent]:
    """Run the adapter's parser; any exception it lets slip becomes a `PayloadError`."""
    name = adapter_channel(channel).value
    try:
        return list(channel.parse(body, headers))
    except PayloadError as exc:
        if exc.channel is None:
            exc.channel = name
        raise
    except OmnicxError as exc:
        raise PayloadError(str(exc), channel=name) from exc
    except Exception as exc:  # an adapter bug must not lose the payload
        raise PayloadError(f"{type(exc).__name__} while parsing: {exc}", channel=name) from exc


def _address_kinds(channel: Sender) -> tuple[str, ...]:
    """The address kinds ``channel`` sends to, most preferred first."""
    return tuple(str(kind) for kind in getattr(channel, "address_kinds", ("phone",)))


def _default_thread_key(channel: Sender) -> str | None:
    key = getattr(channel, "thread_key", None)
    return str(key) if key else None


def _recipient(tx: Transaction, to: Contact | Address | str, kinds: Sequence[str]) -> Address:
    """The address to send to: a contact's first address of ``kinds``, or ``to`` itself."""
    if isinstance(to, Address):
        return to
    if isinstance(to, str):
        return Address(kind=guess_kind(to), value=to)
    contact = tx.contact(to.id)
    if contact is None:
        raise NotFoundError(f"no contact #{to.id}")
    root = contact.merged_into or contact.id
    group = tx.members([root])[root]
    members = [found for found in map(tx.contact, group) if found is not None]
    for kind in kinds:
        for member in members:
            for address in member.addresses:
                if address.kind == kind:
                    return address
    raise SendError(f"contact #{contact.id} has no {' or '.join(kinds)} address to send to")


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can keep it; bytes (uploaded media) are summarised, not copied."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return repr(value)


def _sent_data(result: SendResult) -> dict[str, Any]:
    data = _jsonable(result.data)
    for key in ("message_type", "text", "subject"):
        value = getattr(result, key)
        if value is not None:
            data[key] = value
    return dict(data)


def _mark_failed(tx: Transaction, sealer: Sealer, interaction: Interaction, exc: SendError,
                 now: dt.datetime) -> None:
    (event_id,) = tx.new_ids("events", 1)
    record_events(tx, sealer, [EventRecord(
        id=event_id, interaction_id=interaction.id, channel=interaction.channel.value,
        account=interaction.account, external_id=interaction.external_id,
        event_id="status:failed", kind="status", status=Status.FAILED, occurred_at=now,
        received_at=now, error=f"{exc.code} {exc.message}" if exc.code else exc.message)],
        interaction.contact_id)
    tx.advance_status(interaction.id, Status.FAILED.value, status_rank(Status.FAILED))
    sealer.flush()


def _mark_sent(tx: Transaction, sealer: Sealer, interaction: Interaction,
               result: SendResult) -> Interaction:
    channel, account = interaction.channel.value, interaction.account
    echo = tx.interaction_refs(channel, account, [result.external_id]).get(result.external_id)
    if echo is not None and echo.id != interaction.id:
        # The provider's echo of this very message (a webhook) was stored before the
        # API's answer reached us, under the provider's id. That row keeps the id;
        # this one records that it was sent and where the message is stored.
        (event_id,) = tx.new_ids("events", 1)
        at = result.occurred_at or _now()
        record_events(tx, sealer, [EventRecord(
            id=event_id, interaction_id=interaction.id, channel=channel, account=account,
            external_id=interaction.external_id, event_id=f"status:{result.status.value}",
            kind="status", status=result.status, occurred_at=at, received_at=at,
            data={**_sent_data(result), "stored_as": echo.id})], interaction.contact_id)
        tx.advance_status(interaction.id, result.status.value, status_rank(result.status))
        sealer.flush()
        stored = tx.interaction(interaction.id)
        assert stored is not None
        return stored
    tx.assign_external_id(interaction.id, result.external_id)
    (event_id,) = tx.new_ids("events", 1)
    at = result.occurred_at or _now()
    # This chained event (its external id is the provider's) is what lets verify()
    # accept the interaction's changed external id.
    record_events(tx, sealer, [EventRecord(
        id=event_id, interaction_id=interaction.id, channel=interaction.channel.value,
        account=interaction.account, external_id=result.external_id,
        event_id=f"status:{result.status.value}", kind="status", status=result.status,
        occurred_at=at, received_at=at, data=_sent_data(result))], interaction.contact_id)
    tx.advance_status(interaction.id, result.status.value, status_rank(result.status))
    # A status webhook may have beaten us here: attach what waited for this id.
    attach_waiting(tx, sealer, interaction, result.external_id)
    sealer.flush()
    tx.close_gaps(interaction.channel.value, interaction.account, [result.external_id], at)
    stored = tx.interaction(interaction.id)
    assert stored is not None
    return stored


def _status_change(e: EventRecord) -> StatusChange:
    return StatusChange(id=e.id, interaction_id=e.interaction_id, channel=e.channel,
                        account=e.account, external_id=e.external_id,
                        status=e.status or Status("unknown"), occurred_at=e.occurred_at,
                        received_at=e.received_at, error=e.error, data=e.data)


def _interaction_event(e: EventRecord) -> InteractionEvent:
    return InteractionEvent(id=e.id, interaction_id=e.interaction_id, channel=e.channel,
                            account=e.account, external_id=e.external_id, kind=e.kind,
                            occurred_at=e.occurred_at, received_at=e.received_at, data=e.data)

