"""Test helpers for users of omnicx, and the storage conformance suite.

- `StoreConformance`: the tests every `omnicx.storage.Store` must pass (with
  `TenancyConformance`, the tenancy tests it inherits).
  omnicx runs them against its memory, SQLite and PostgreSQL backends; run
  them against your own backend by subclassing (see ``docs/storage.md``)::

      class TestMyStore(StoreConformance):
          @pytest.fixture
          def store_factory(self, tmp_path):
              return lambda: MyStore(tmp_path / "data")

  Backends differ only in `omnicx.storage.Capabilities`; a test that needs
  a capability (durability across reopen, parallel writers) reads the flag,
  never the backend's name.
- `WebChatPayloads`: builds signed WebChat webhook bodies, so tests of your
  own CRM code can feed a history realistic traffic without a website.
- `FixableChannel`: a channel whose parser fails until you fix it, to test
  quarantine and replay.

This module imports pytest; it is meant for test code only.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import pytest

from ._chain import screen
from ._enums import Channel, Status
from ._errors import ConfigurationError, ConflictError, PayloadError, SignatureError
from ._events import ChannelEvent, MessageEvent, WatermarkEvent
from ._feedconformance import FeedConformance
from ._history import History
from ._models import Address, Contact, Conversation, Interaction
from ._testing_tenancy import TenancyConformance
from .channels import WebChat
from .storage import (
    EventRecord,
    Gap,
    RawPayload,
    RowSeal,
    SearchQuery,
    Store,
    TimelineQuery,
    Transaction,
)

__all__ = ["FixableChannel", "StoreConformance", "TenancyConformance", "WebChatPayloads"]

_T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@attrs.define
class WebChatPayloads:
    """Signed WebChat webhook bodies for tests: ``body, headers = payloads.message("m1")``.

    Every builder returns ``(body, headers)`` ready for `History.receive`;
    `WebChatPayloads.channel` is the matching `omnicx.channels.WebChat`.
    """

    secret: str = "test-secret"
    site: str = "test-site"

    @property
    def channel(self) -> WebChat:
        return WebChat(secret=self.secret, site=self.site)

    def signed(self, events: Sequence[Mapping[str, Any]]) -> tuple[bytes, dict[str, str]]:
        """A body carrying ``events`` (WebChat event objects), with its signature headers."""
        body = json.dumps({"site": self.site, "events": list(events)}).encode()
        return body, self.channel.sign(body)

    def message(
        self,
        message_id: str,
        *,
        visitor: str = "visitor-1",
        email: str | None = None,
        text: str | None = None,
        at: dt.datetime | None = None,
        session: str | None = "session-1",
        sender: str = "visitor",
        reply_to: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """One chat message from the visitor (or, with ``sender="agent"``, to them)."""
        return self.signed([self.message_event(
            message_id, visitor=visitor, email=email, text=text, at=at, session=session,
            sender=sender, reply_to=reply_to)])

    def message_event(
        self,
        message_id: str,
        *,
        visitor: str = "visitor-1",
        email: str | None = None,
        text: str | None = None,
        at: dt.datetime | None = None,
        session: str | None = "session-1",
        sender: str = "visitor",
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """The event object of `message`, to combine several into one body."""
        person: dict[str, Any] = {"id": visitor}
        if email:
            person["email"] = email
        event: dict[str, Any] = {
            "type": "message", "id": message_id, "from": sender, "visitor": person,
            "text": text if text is not None else f"text of {message_id}",
            "at": (at or _T0).isoformat(),
        }
        if session:
            event["session"] = session
        if reply_to:
            event["reply_to"] = reply_to
        return event

    def status(
        self, message_id: str, status: str = "read", *, at: dt.datetime | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery status (``"delivered"`` or ``"read"``) for an agent message."""
        return self.signed([{"type": f"message.{status}", "id": f"{status}:{message_id}",
                             "message": message_id, "at": (at or _T0).isoformat()}])


@attrs.define
class FixableChannel:
    """Wraps a channel; its parser raises `PayloadError` until ``fixed`` is set."""

    inner: WebChat
    fixed: bool = False

    @property
    def channel(self) -> Channel:
        return self.inner.channel

    @property
    def account(self) -> str:
        return self.inner.account

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.inner.verify(body, headers)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        if not self.fixed:
            raise PayloadError("this parser is broken until fixed", channel="webchat")
        return self.inner.parse(body, headers)


@attrs.define
class _ScriptedChannel:
    """A channel whose parser returns the events scripted for a body (conformance tests).

    Lets the suite drive the ingest with event kinds no shipped test channel
    produces (watermarks) without depending on a provider's format.
    """

    script: dict[bytes, list[ChannelEvent]] = attrs.Factory(dict)

    @property
    def channel(self) -> Channel:
        return Channel.MESSENGER

    @property
    def account(self) -> str:
        return "page"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Scripted bodies come from the test itself: nothing to verify."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        return self.script[body]


class _Rollback(Exception):
    """Raised inside a unit of work by the tests that check rollback."""


def _at(minutes: int) -> dt.datetime:
    return _T0 + dt.timedelta(minutes=minutes)


class StoreConformance(FeedConformance, TenancyConformance):
    """The storage conformance suite: subclass it and provide ``store_factory``.

    It includes the change feed's and webhook outbox's tests (`FeedConformance`).

    ``store_factory`` is a pytest fixture returning a callable; each call
    opens the store again, on the same (initially empty) data when the store
    is durable. Tests close what they open.
    Capability-dependent tests read `Store.capabilities`; the tenancy tests
    (`TenancyConformance`, inherited) skip a store without ``for_tenant``.
    """

    threads: ClassVar[int] = 4
    """Threads used by the concurrent redelivery test."""

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        pytest.fail("subclass StoreConformance and override the `store_factory` fixture")

    @pytest.fixture
    def store(self, store_factory: Callable[[], Store]) -> Iterator[Store]:
        opened = store_factory()
        yield opened
        opened.close()

    @pytest.fixture
    def history(self, store: Store) -> History:
        return History(store)

    @pytest.fixture
    def chat(self) -> WebChatPayloads:
        return WebChatPayloads()

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def seed(tx: Transaction, contact_count: int = 1) -> tuple[list[int], int]:
        """Contacts ``contact_count`` and one conversation of the first; their ids."""
        ids = list(tx.new_ids("contacts", contact_count))
        tx.insert_contacts([Contact(id=i, created_at=_T0) for i in ids])
        (conversation_id,) = tx.new_ids("conversations", 1)
        tx.insert_conversations([Conversation(
            id=conversation_id, contact_id=ids[0], channel="webchat", account="a",
            thread_key="t", started_at=_T0, last_activity_at=_T0)])
        return ids, conversation_id

    @staticmethod
    def interaction(tx: Transaction, contact_id: int, conversation_id: int, external_id: str,
                    occurred_at: dt.datetime, *, channel: str = "webchat",
                    status: Status | None = None) -> Interaction:
        (iid,) = tx.new_ids("interactions", 1)
        return Interaction(
            id=iid, contact_id=contact_id, conversation_id=conversation_id, channel=channel,
            account="a", direction="inbound", kind="message", external_id=external_id,
            occurred_at=occurred_at, received_at=_T0, text=f"text {external_id}",
            sender=Address(kind="email", value="Anna@Example.com", name="Anna"),
            data={"n": 1}, status=status)

    # -- the protocol --------------------------------------------------------------------------
    def test_new_ids_are_unused_and_distinct(self, store: Store) -> None:
        # Ids are distinct within a transaction and never collide with stored
        # rows; ids drawn by a transaction that stored nothing may come again.
        def work(tx: Transaction) -> list[int]:
            ids = [*tx.new_ids("contacts", 3), *tx.new_ids("contacts", 2)]
            tx.insert_contacts([Contact(id=i, created_at=_T0) for i in ids])
            return ids

        first = store.atomic(work)
        second = store.atomic(work)
        assert len(set(first + second)) == 10
        assert all(isinstance(i, int) and i > 0 for i in first + second)

    def test_archive_and_raw_state(self, store: Store) -> None:
        def work(tx: Transaction) -> list[int]:
            ids = list(tx.new_ids("raw_payloads", 2))
            tx.archive([
                RawPayload(id=ids[0], channel="webchat", account="a", received_at=_T0,
                           headers={"X-A": "1"}, body=b"\x00first"),
                RawPayload(id=ids[1], channel="webchat", account="a", received_at=_T0,
                           body=b"second", state="quarantined", error="bad"),
            ])
            return ids

        ids = store.atomic(work)
        with store.reading() as tx:
            first = tx.raw(ids[0])
            assert first is not None
            assert (first.body, dict(first.headers), first.state) == (b"\x00first", {"X-A": "1"},
                                                                     "ok")
            assert [r.id for r in tx.raws("quarantined")] == [ids[1]]
            assert tx.raw(ids[1] + 1000) is None
        store.atomic(lambda tx: tx.set_raw_state(ids[1], "replayed", None))
        with store.reading() as tx:
            assert tx.raws("quarantined") == []
            replayed = tx.raw(ids[1])
            assert replayed is not None
            assert (replayed.state, replayed.error) == ("replayed", None)

    def test_addresses_have_one_owner(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[int, int, int]:
            (a, b), _ = self.seed(tx, 2)
            first = tx.insert_addresses([("email", "x@example.com", a, "X"),
                                         ("phone", "+41791234567", a, None)], _T0)
            # ON CONFLICT DO NOTHING: the second claim is skipped and not counted.
            second = tx.insert_addresses([("email", "x@example.com", b, None),
                                          ("email", "y@example.com", b, None)], _T0)
            return first, second, b

        first, second, b = store.atomic(work)
        assert (first, second) == (2, 1)
        with store.reading() as tx:
            owners = tx.owners([("email", "x@example.com"), ("email", "y@example.com"),
                                ("email", "nobody@example.com")])
            assert set(owners) == {("email", "x@example.com"), ("email", "y@example.com")}
            assert owners[("email", "y@example.com")].contact_id == b
            a = owners[("email", "x@example.com")].contact_id
            contact = tx.contact(a)
            assert contact is not None
            assert [str(x) for x in contact.addresses] == ["email:x@example.com",
                                                           "phone:+41791234567"]

    def test_owners_tell_truly_whether_the_root_has_merged_members(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[int, int, int]:
            (a, b, c), _ = self.seed(tx, 3)
            tx.insert_addresses([("email", "a@example.com", a, None),
                                 ("email", "b@example.com", b, None),
                                 ("email", "c@example.com", c, None)], _T0)
            tx.merge(a, b, _T0, "test")
            return a, b, c

        a, b, c = store.atomic(work)
        with store.reading() as tx:
            owners = tx.owners([("email", f"{x}@example.com") for x in "abc"])
        expected = {"a@example.com": (a, a, True), "b@example.com": (b, a, True),
                    "c@example.com": (c, c, False)}
        assert {value for _, value in owners} == set(expected)
        for (_, value), owner in owners.items():
            contact_id, root_id, merged = expected[value]
            assert (owner.contact_id, owner.root_id) == (contact_id, root_id)
            assert owner.merged in (None, merged)  # None: the store does not say

    def test_display_name_is_set_once_and_crm_links(self, store: Store) -> None:
        def work(tx: Transaction) -> int:
            (a,), _ = self.seed(tx)
            tx.set_display_name(a, "Anna")
            tx.set_display_name(a, "Other")
            tx.link_crm(a, "crm-1")
            return a

        a = store.atomic(work)
        with store.reading() as tx:
            contact = tx.contact(a)
            assert contact is not None
            assert (contact.display_name, contact.crm_id) == ("Anna", "crm-1")
            assert tx.contact_by_crm("crm-1") == a
            assert tx.contact_by_crm("crm-2") is None
            assert tx.contact(a + 1000) is None

    def test_contacts_resume_after_an_id_and_skip_merged(self, store: Store) -> None:
        (a, b, c, d), _ = store.atomic(lambda tx: self.seed(tx, 4))
        store.atomic(lambda tx: tx.merge(a, c, _T0, "test"))
        with store.reading() as tx:
            assert [x.id for x in tx.contacts()] == [a, b, d]
            assert [x.id for x in tx.contacts(after=a)] == [b, d]
            assert [x.id for x in tx.contacts(after=b)] == [d]  # c is merged: not listed
            assert list(tx.contacts(after=d)) == []

    def test_merges_point_at_the_root_and_unmerge_restores(self, store: Store) -> None:
        (a, b, c), _ = store.atomic(lambda tx: self.seed(tx, 3))
        store.atomic(lambda tx: tx.merge(b, c, _T0, "test"))
        store.atomic(lambda tx: tx.merge(a, b, _T0, "test"))
        with store.reading() as tx:
            assert tx.members([a, b]) == {a: (a, b, c), b: (b,)}
            assert tx.group(c) == tx.group(a) == (a, b, c)
            assert tx.group(c + 1000) is None
            assert [x.id for x in tx.contacts()] == [a]
            assert tx.owners([]) == {}
            merged = tx.contact(c)
            assert merged is not None and merged.merged_into == a
        store.atomic(lambda tx: tx.unmerge(a, b, _T0))
        with store.reading() as tx:
            assert tx.members([a, b]) == {a: (a,), b: (b, c)}
            assert (tx.group(a), tx.group(c)) == ((a,), (b, c))
            assert [x.id for x in tx.contacts()] == [a, b]

    def test_merge_and_unmerge_refuse_a_state_that_changed_since(self, store: Store) -> None:
        # What a writer that decided on a stale group sees: ConflictError, so
        # its unit of work re-runs on the current state.
        (a, b, c), _ = store.atomic(lambda tx: self.seed(tx, 3))
        store.atomic(lambda tx: tx.merge(b, c, _T0, "test"))

        def work(tx: Transaction) -> None:
            with pytest.raises(ConflictError, match="no longer a root"):
                tx.merge(a, c, _T0, "test")
            with pytest.raises(ConflictError, match="no longer a root"):
                tx.merge(c, a, _T0, "test")
            with pytest.raises(ConflictError, match="no longer merged"):
                tx.unmerge(a, c, _T0)
            with pytest.raises(ConflictError, match="no longer merged"):
                tx.unmerge(c, b, _T0)

        store.atomic(work)
        with store.reading() as tx:
            assert tx.group(a) == (a,)
            assert tx.group(c) == (b, c)

    def test_threads_are_the_latest_conversation_per_contact_and_key(
            self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[list[int], list[int]]:
            (a, b), first = self.seed(tx, 2)
            ids = list(tx.new_ids("conversations", 3))
            tx.insert_conversations([
                Conversation(id=ids[0], contact_id=a, channel="webchat", account="a",
                             thread_key="t", started_at=_T0, last_activity_at=_at(3)),
                Conversation(id=ids[1], contact_id=b, channel="webchat", account="a",
                             thread_key="t", started_at=_T0, last_activity_at=_at(1)),
                Conversation(id=ids[2], contact_id=a, channel="webchat", account="a",
                             thread_key="u", started_at=_T0, last_activity_at=_at(1)),
            ])
            return [a, b], [first, *ids]

        (a, b), (first, latest, of_b, other_key) = store.atomic(work)
        store.atomic(lambda tx: tx.touch_conversations({latest: _at(10)}))
        store.atomic(lambda tx: tx.touch_conversations({latest: _at(5)}))  # never backwards
        with store.reading() as tx:
            found = tx.conversation(latest)
            assert found is not None and found.last_activity_at == _at(10)
            assert tx.threads([a, b], "webchat", "a", ["t", "u", "x"]) == {
                (a, "t"): (latest, _at(10)), (b, "t"): (of_b, _at(1)),
                (a, "u"): (other_key, _at(1))}
            assert tx.threads([a], "email", "a", ["t"]) == {}
            assert tx.threads([a], "webchat", "a", []) == {}
            assert tx.conversation(first) is not None

    def test_counts_for_reports(self, store: Store) -> None:
        def work(tx: Transaction) -> None:
            (a, b), conv = self.seed(tx, 2)
            tx.insert_interactions([self.interaction(tx, a, conv, "m1", _at(1)),
                                    self.interaction(tx, a, conv, "m2", _at(2),
                                                     status=Status.READ)])
            tx.merge(a, b, _T0, "test")

        store.atomic(work)
        with store.reading() as tx:
            counts = tx.counts()
        assert counts["interactions"] == {"webchat/inbound/none": 1, "webchat/inbound/read": 1}
        assert counts["contacts"] == {"total": 2, "merged": 1}
        assert counts["gaps"] == {"open": 0, "closed": 0}

    def test_interactions_are_unique_per_external_id(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[int, int, Interaction]:
            (a,), conv = self.seed(tx)
            item = self.interaction(tx, a, conv, "m1", _at(1))
            first = tx.insert_interactions([item])
            again = self.interaction(tx, a, conv, "m1", _at(2))
            return first, tx.insert_interactions([again]), item

        first, second, item = store.atomic(work)
        assert (first, second) == (1, 0)
        with store.reading() as tx:
            assert tx.interaction(item.id) == item
            refs = tx.interaction_refs("webchat", "a", ["m1", "m2"])
            assert list(refs) == ["m1"]
            assert (refs["m1"].id, refs["m1"].occurred_at) == (item.id, _at(1))
            assert tx.interaction_refs("webchat", "other", ["m1"]) == {}

    def test_status_only_moves_forward(self, store: Store) -> None:
        def work(tx: Transaction) -> int:
            (a,), conv = self.seed(tx)
            item = self.interaction(tx, a, conv, "m1", _at(1), status=Status.SENT)
            tx.insert_interactions([item])
            return item.id

        iid = store.atomic(work)
        assert store.atomic(lambda tx: tx.advance_status(iid, "read", 30)) is True
        assert store.atomic(lambda tx: tx.advance_status(iid, "delivered", 20)) is False
        assert store.atomic(lambda tx: tx.advance_status(iid, "read", 30)) is False
        with store.reading() as tx:
            found = tx.interaction(iid)
            assert found is not None and found.status == Status.READ

    def test_outbound_behind_a_watermark(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[list[int], list[int]]:
            (a, b), conv = self.seed(tx, 2)
            items = [
                attrs.evolve(self.interaction(tx, contact, conv, ext, at, status=status),
                             direction=direction)
                for contact, ext, at, status, direction in [
                    (a, "o1", _at(1), Status.SENT, "outbound"),
                    (a, "o2", _at(2), Status.DELIVERED, "outbound"),
                    (a, "i3", _at(3), None, "inbound"),
                    (a, "o4", _at(4), Status.READ, "outbound"),
                    (b, "o5", _at(2), Status.SENT, "outbound"),
                    (a, "o6", _at(9), Status.SENT, "outbound"),
                ]]
            tx.insert_interactions(items)
            return [a, b], [i.id for i in items]

        (a, b), ids = store.atomic(work)
        with store.reading() as tx:
            behind = tx.outbound_behind([a], "webchat", "a", _at(5), 30)
            assert behind == [(ids[0], "o1", a), (ids[1], "o2", a)]
            assert [r[1] for r in tx.outbound_behind([a], "webchat", "a", _at(5), 20)] == ["o1"]
            assert [r[1] for r in tx.outbound_behind([a, b], "webchat", "a", _at(2), 30)] == [
                "o1", "o2", "o5"]
            assert tx.outbound_behind([a], "webchat", "other", _at(9), 30) == []
            assert tx.outbound_behind([], "webchat", "a", _at(9), 30) == []

    def test_assign_external_id(self, store: Store) -> None:
        def work(tx: Transaction) -> int:
            (a,), conv = self.seed(tx)
            item = self.interaction(tx, a, conv, "omnicx:1", _at(1))
            tx.insert_interactions([item])
            tx.assign_external_id(item.id, "provider-1")
            return item.id

        iid = store.atomic(work)
        with store.reading() as tx:
            assert list(tx.interaction_refs("webchat", "a", ["omnicx:1", "provider-1"])) == [
                "provider-1"]
            found = tx.interaction(iid)
            assert found is not None and found.external_id == "provider-1"

    def test_timeline_order_keyset_and_filters(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[list[int], list[Interaction]]:
            (a, b), conv = self.seed(tx, 2)
            items = [
                self.interaction(tx, a, conv, "m1", _at(1)),
                self.interaction(tx, a, conv, "m2", _at(2), channel="email"),
                self.interaction(tx, a, conv, "m3", _at(2)),  # same time: ordered by id
                self.interaction(tx, b, conv, "m4", _at(3)),
                self.interaction(tx, a, conv, "m5", _at(4)),
            ]
            tx.insert_interactions(items)
            return [a, b], items

        (a, b), items = store.atomic(work)
        by_ext = {i.external_id: i for i in items}
        with store.reading() as tx:
            def ext(query: TimelineQuery) -> list[str]:
                return [i.external_id for i in tx.timeline(query)]

            assert ext(TimelineQuery(contact_ids=(a,), limit=10)) == ["m5", "m3", "m2", "m1"]
            assert ext(TimelineQuery(contact_ids=(a, b), limit=10)) == [
                "m5", "m4", "m3", "m2", "m1"]
            assert ext(TimelineQuery(contact_ids=(a, b), limit=2)) == ["m5", "m4"]
            m3 = by_ext["m3"]
            assert ext(TimelineQuery(contact_ids=(a, b), limit=10,
                                     before=(m3.occurred_at, m3.id))) == ["m2", "m1"]
            assert ext(TimelineQuery(contact_ids=(a,), limit=10,
                                     channels=frozenset({"email"}))) == ["m2"]
            assert ext(TimelineQuery(contact_ids=(a, b), limit=10, since=_at(2),
                                     until=_at(4))) == ["m4", "m3", "m2"]
            assert tx.last_inbound([a], "webchat", "a") == _at(4)
            assert tx.last_inbound([a], "webchat", "other") is None

    def test_timeline_of_a_merge_group_in_one_read(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[list[int], list[Interaction]]:
            (a, b, c), conv = self.seed(tx, 3)
            items = [
                self.interaction(tx, a, conv, "m1", _at(1)),
                self.interaction(tx, b, conv, "m2", _at(2), channel="email"),
                self.interaction(tx, a, conv, "m3", _at(2)),  # same time: ordered by id
                self.interaction(tx, c, conv, "m4", _at(3)),
                self.interaction(tx, b, conv, "m5", _at(4)),
            ]
            tx.insert_interactions(items)
            tx.merge(a, b, _T0, "test")
            return [a, b, c], items

        (a, b, c), items = store.atomic(work)
        m3 = next(i for i in items if i.external_id == "m3")
        with store.reading(snapshot=False) as tx:
            def ext(contact_id: int, limit: int = 10, **options: Any) -> list[str]:
                return [i.external_id for i in tx.timeline(
                    TimelineQuery(group_of=contact_id, limit=limit, **options))]

            assert ext(a) == ext(b) == ["m5", "m3", "m2", "m1"]
            assert ext(c) == ["m4"]
            assert ext(b, limit=2) == ["m5", "m3"]
            assert ext(b, before=(m3.occurred_at, m3.id)) == ["m2", "m1"]
            assert ext(a, channels=frozenset({"email"})) == ["m2"]
            assert ext(a, since=_at(2), until=_at(4)) == ["m3", "m2"]
            assert ext(c + 1000) == []
        with pytest.raises(ConfigurationError):
            TimelineQuery(limit=10)
        with pytest.raises(ConfigurationError):
            TimelineQuery(contact_ids=(a,), group_of=a, limit=10)

    def test_events_are_idempotent_wait_and_attach(self, store: Store) -> None:
        def event(tx: Transaction, event_id: str, interaction_id: int | None) -> EventRecord:
            (eid,) = tx.new_ids("events", 1)
            return EventRecord(id=eid, interaction_id=interaction_id, channel="webchat",
                               account="a", external_id="m1", event_id=event_id, kind="status",
                               status="read", occurred_at=_T0, received_at=_T0,
                               data={"k": "v"})

        def work(tx: Transaction) -> tuple[list[int], list[int]]:
            first = tx.insert_events([event(tx, "read", None), event(tx, "delivered", None)])
            again = tx.insert_events([event(tx, "read", None)])
            return first, again

        first, again = store.atomic(work)
        assert (len(first), again) == (2, [])
        with store.reading() as tx:
            waiting = tx.pending_events("webchat", "a", "m1")
            assert sorted(e.id for e in waiting) == sorted(first)
            assert waiting[0].data == {"k": "v"}

        def attach(tx: Transaction) -> int:
            (a,), conv = self.seed(tx)
            item = self.interaction(tx, a, conv, "m1", _at(1))
            tx.insert_interactions([item])
            tx.attach_events(first, item.id)
            return item.id

        iid = store.atomic(attach)
        with store.reading() as tx:
            assert tx.pending_events("webchat", "a", "m1") == []
            assert sorted(e.id for e in tx.events(iid)) == sorted(first)

    def test_activity_skeleton_and_conversation_events(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[int, int, int, int, list[int]]:
            (a, b), conv = self.seed(tx, 2)
            items = [self.interaction(tx, b, conv, f"m{n}", _at(n)) for n in (3, 1, 2)]
            tx.insert_interactions(items)
            tx.merge(a, b, _T0, None)  # b's rows still report b; the merge is apart
            (eid,) = tx.new_ids("events", 1)
            tx.insert_events([EventRecord(
                id=eid, interaction_id=items[1].id, channel="webchat", account="a",
                external_id="m1", event_id="conversation:x", kind="conversation",
                occurred_at=_at(4), received_at=_at(4), data={"by": "agent:1"})])
            return a, b, conv, eid, [i.id for i in items]

        a, b, conv, eid, ids = store.atomic(work)
        with store.reading() as tx:
            assert tx.first_interaction(conv) == ids[1]
            assert tx.first_interaction(conv + 1000) is None
            rows = list(tx.activity(None))
            assert [r[0] for r in rows] == [ids[1], ids[2], ids[0]]
            assert {r[1:6] for r in rows} == {(conv, b, "webchat", "inbound", "message")}
            assert tx.merged_contacts() == {b: a}
            assert rows[0][7] == int(_at(1).timestamp() * 1_000_000)
            assert all(type(r) is tuple and len(r) == 8 for r in rows)
            assert [r[0] for r in tx.activity(_at(3))] == [ids[1], ids[2]]
            assert list(tx.activity(None, conversation_ids=[conv + 1000])) == []
            assert list(tx.activity(_at(2), conversation_ids=[conv + 1000, conv])) == [rows[0]]
            ((contact_id, event),) = tx.conversation_events()
            assert (contact_id, event.id, event.event_id) == (b, eid, "conversation:x")
            assert event.data == {"by": "agent:1"}
            assert tx.conversation_events([conv]) == [(contact_id, event)]
            assert tx.conversation_events([conv + 1000]) == []

    def test_kpi_summaries_are_kept_replaced_and_dropped(self, store: Store) -> None:
        store.atomic(lambda tx: tx.store_kpi_summaries([(2, "b"), (1, "a")], replace=False))
        store.atomic(lambda tx: tx.store_kpi_summaries([(2, "B"), (3, "c")], replace=False))
        with store.reading() as tx:
            assert sorted(tx.kpi_summaries()) == [(1, "a"), (2, "B"), (3, "c")]

        def replace_and_fail(tx: Transaction) -> None:
            tx.store_kpi_summaries([(4, "d")], replace=True)
            raise LookupError("rolled back")

        with pytest.raises(LookupError):
            store.atomic(replace_and_fail)
        store.atomic(lambda tx: tx.store_kpi_summaries([(5, "e")], replace=True))
        with store.reading() as tx:
            assert sorted(tx.kpi_summaries()) == [(5, "e")]

    def test_gaps_open_once_and_close(self, store: Store) -> None:
        def gap(tx: Transaction, reference: str) -> Gap:
            (gid,) = tx.new_ids("gaps", 1)
            return Gap(id=gid, kind="missing_parent", channel="webchat", account="a",
                       reference=reference, opened_at=_T0, detail="test")

        store.atomic(lambda tx: tx.open_gaps([gap(tx, "p1"), gap(tx, "p2")]))
        store.atomic(lambda tx: tx.open_gaps([gap(tx, "p1")]))
        with store.reading() as tx:
            assert sorted(g.reference for g in tx.gaps(include_closed=False)) == ["p1", "p2"]
        closed = store.atomic(lambda tx: tx.close_gaps("webchat", "a", ["p1", "p9"], _at(1)))
        assert closed == 1
        assert store.atomic(lambda tx: tx.close_gaps("webchat", "a", ["p1"], _at(2))) == 0
        with store.reading() as tx:
            assert [g.reference for g in tx.gaps(include_closed=False)] == ["p2"]
            every = {g.reference: g for g in tx.gaps(include_closed=True)}
            assert every["p1"].closed_at == _at(1) and every["p2"].open

    def test_lookup_tells_which_ids_have_an_open_gap(self, store: Store) -> None:
        def work(tx: Transaction) -> None:
            (a,), conversation_id = self.seed(tx)
            tx.insert_interactions([self.interaction(tx, a, conversation_id, "m1", _T0)])
            gaps = []
            for kind, reference in (("missing_parent", "p1"), ("status_without_message", "p1"),
                                    ("missing_parent", "p2"), ("missing_parent", "p3")):
                (gid,) = tx.new_ids("gaps", 1)
                gaps.append(Gap(id=gid, kind=kind, channel="webchat", account="a",
                                reference=reference, opened_at=_T0))
            tx.open_gaps(gaps)
            tx.close_gaps("webchat", "a", ["p3"], _at(1))

        store.atomic(work)
        with store.reading() as tx:
            refs, gaps = tx.interaction_refs_and_gaps("webchat", "a", ["m1", "p1", "p3", "p9"])
            assert list(refs) == ["m1"] and refs == tx.interaction_refs("webchat", "a", ["m1"])
            assert gaps == {"p1"}  # p2 was not asked for, p3 is closed
            assert tx.interaction_refs_and_gaps("webchat", "b", ["m1", "p1"]) == ({}, set())

    def test_owners_chain_head_is_the_contacts_when_known(self, store: Store) -> None:
        head = b"\x00" * 7 + b"\x01" + b"h" * 32

        def work(tx: Transaction) -> None:
            (a, b), _ = self.seed(tx, 2)
            tx.insert_addresses([("email", "a@example.com", a, None),
                                 ("email", "b@example.com", b, None)], _T0)
            tx.set_chain_heads({a: head})

        store.atomic(work)

        def read(tx: Transaction) -> None:
            owners = tx.owners([("email", "a@example.com"), ("email", "b@example.com")])
            heads = tx.chain_heads([o.contact_id for o in owners.values()])
            for owner in owners.values():
                if owner.head_known:  # a store may leave it to `chain_heads`
                    assert owner.head == heads[owner.contact_id]
            assert heads[owners[("email", "a@example.com")].contact_id] == head

        store.atomic(read)  # in a write transaction, as the ingest reads it

    def test_cursor_set_and_overwritten(self, store: Store) -> None:
        with store.reading() as tx:
            assert tx.cursor("imap:INBOX") is None
        store.atomic(lambda tx: tx.set_cursor("imap:INBOX", "41", _T0))
        store.atomic(lambda tx: tx.set_cursor("imap:INBOX", "42", _at(1)))
        with store.reading() as tx:
            assert tx.cursor("imap:INBOX") == "42"

    def test_settings_chain_heads_and_data_keys(self, store: Store) -> None:
        def work(tx: Transaction) -> list[int]:
            ids, _ = self.seed(tx, 2)
            tx.set_setting("key_check", "abc")
            tx.set_chain_heads({ids[0]: b"\x00" * 8 + b"h" * 32})
            tx.set_data_keys({ids[1]: b"wrapped"})
            return ids

        a, b = store.atomic(work)
        with store.reading() as tx:
            assert tx.setting("key_check") == "abc" and tx.setting("other") is None
            assert tx.chain_heads([a, b]) == {a: b"\x00" * 8 + b"h" * 32, b: None}
            assert tx.data_keys([a, b]) == {a: None, b: b"wrapped"}
            assert list(tx.wrapped_keys()) == [(b, b"wrapped")]
            assert tx.chained_contacts(0, 10) == [a, b]
            assert tx.chained_contacts(a, 10) == [b]

    def test_chain_rows_erasure_and_forgetting(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[int, int]:
            (a,), conv = self.seed(tx)
            tx.insert_addresses([("email", "a@example.com", a, "A")], _T0)
            item = attrs.evolve(self.interaction(tx, a, conv, "m1", _at(1)), text="hi")
            seal = RowSeal(columns=(None, None, None, None, None, "hi", None, None, None),
                           sealed=b"ciphertext", digest=b"d" * 32, seq=1, hash=b"h" * 32,
                           prev_hash=b"\x00" * 32)
            assert tx.insert_interactions([item], [seal]) == 1
            tx.assign_external_id(item.id, "provider-1")
            (eid,) = tx.new_ids("events", 1)
            tx.insert_events([EventRecord(
                id=eid, interaction_id=item.id, channel="webchat", account="a",
                external_id="provider-1", event_id="status:sent", kind="status",
                status="sent", occurred_at=_at(2), received_at=_at(2))],
                [RowSeal(columns=(None,), digest=b"e" * 32, seq=2, hash=b"i" * 32,
                         prev_hash=b"h" * 32)])
            return a, item.id

        a, iid = store.atomic(work)
        with store.reading() as tx:
            rows = tx.chain_rows([a])
            (row,) = rows.interactions
            assert (row[0], row[1], row[5], row[13], row[14]) == (iid, a, "m1", 1, b"d" * 32)
            assert (row[15], row[16], row[17], row[18]) == (b"h" * 32, b"\x00" * 32, None,
                                                            b"ciphertext")
            assert (row[24], row[28], row[29]) == ("hi", "provider-1", "m1")
            (event,) = rows.events
            assert (event[1], event[4], event[12], event[14], event[19]) == (
                iid, "provider-1", 2, b"i" * 32, a)
            assert tx.sealed([iid]) == {iid: b"ciphertext"}
            assert tx.contacts_with_content(_at(2)) == [a]

        def erase(tx: Transaction) -> int:
            erased = tx.erase_content(a, None, _at(5))
            (xid,) = tx.new_ids("erasures", 1)
            tx.insert_erasure(xid, a, _at(5), None, "test",
                              RowSeal(seq=3, hash=b"j" * 32, prev_hash=b"i" * 32))
            tx.forget_contact(a, _at(5))
            return erased

        assert store.atomic(erase) == 1
        with store.reading() as tx:
            rows = tx.chain_rows([a])
            (row,) = rows.interactions
            assert row[17] is not None and row[18] is None and row[24] is None
            assert row[14] == b"d" * 32  # the digest survives, so the chain does
            assert rows.events[0][16] is not None
            ((_, contact, _, before, reason, seq, *_),) = rows.erasures
            assert (contact, before, reason, seq) == (a, None, "test", 3)
            forgotten = tx.contact(a)
            assert forgotten is not None and forgotten.erased and forgotten.addresses == ()
            assert tx.owners([("email", "a@example.com")]) == {}
            assert tx.data_keys([a]) == {a: None}
            assert tx.contacts_with_content(_at(9)) == []

    def test_atomic_rolls_back_everything_on_error(self, store: Store) -> None:
        def work(tx: Transaction) -> None:
            self.seed(tx, 2)
            tx.set_cursor("import", "99", _T0)
            (raw_id,) = tx.new_ids("raw_payloads", 1)
            tx.archive([RawPayload(id=raw_id, channel="webchat", account="a", received_at=_T0,
                                   state="quarantined")])
            raise _Rollback("boom")

        with pytest.raises(_Rollback):
            store.atomic(work)
        with store.reading() as tx:
            assert list(tx.contacts()) == []
            assert tx.cursor("import") is None
            assert tx.raws("quarantined") == []
        assert store.atomic(lambda tx: 7) == 7

    def test_committed_data_survives_reopen(self, store_factory: Callable[[], Store]) -> None:
        first = store_factory()
        if not first.capabilities.durable:
            first.close()
            pytest.skip("the store is not durable (Capabilities.durable is false)")
        (a,), _ = first.atomic(self.seed)
        first.close()
        second = store_factory()
        try:
            with second.reading() as tx:
                assert tx.contact(a) is not None
        finally:
            second.close()

    # -- search (see omnicx.storage._fulltext) ---------------------------------------------------
    def test_search_matches_every_word_ranks_and_filters(self, store: Store) -> None:
        def work(tx: Transaction) -> dict[str, int]:
            (a, b), conv = self.seed(tx, 2)
            (conv_b,) = tx.new_ids("conversations", 1)
            tx.insert_conversations([Conversation(
                id=conv_b, contact_id=b, channel="email", account="a", thread_key="u",
                started_at=_T0, last_activity_at=_T0)])
            docs = {  # external id: (contact, conversation, channel, minute, terms)
                "often": (a, conv, "webchat", 1, ["paket", "paket", "paket", "kaputt"]),
                "once": (a, conv, "webchat", 2, ["paket", "x", "y", "z", "w", "v", "u"]),
                "other": (b, conv_b, "email", 3, ["pak", "kaputt", *"abcdefghij"]),
                "unrelated": (b, conv_b, "email", 4, ["rechnung"]),
                # Rows without the words: the rarer a term, the more it weighs.
                **{f"filler{n}": (b, conv_b, "email", 5, ["anderes"]) for n in range(6)},
            }
            ids = {}
            for ext, (contact, conversation, channel, minute, _) in docs.items():
                item = self.interaction(tx, contact, conversation, ext, _at(minute),
                                        channel=channel)
                tx.insert_interactions([item])
                ids[ext] = item.id
            tx.index_terms([(ids[e], d[4]) for e, d in docs.items()])
            return {"a": a, "b": b, **ids}

        ids = store.atomic(work)
        names = {v: k for k, v in ids.items() if k not in ("a", "b")}

        def found(words: tuple[tuple[str, ...], ...], **filters: Any) -> list[str]:
            with store.reading() as tx:
                hits = tx.search(SearchQuery(words=words, **filters))
            scores = [score for _, score in hits]
            assert scores == sorted(scores, reverse=True)  # best first
            return [names[item.id] for item, _ in hits]

        paket = ("pak", "paket")
        # A word matches by any of its terms; ranking favours more occurrences in a
        # shorter row; every word must match.
        assert sorted(found((paket,))) == ["often", "once", "other"]
        assert found((("paket",),)) == ["often", "once"]
        assert found((paket, ("kaputt",))) == ["often", "other"]
        assert found((("kaputt",), paket)) == ["often", "other"]
        assert found((("nirgends",),)) == []
        assert found((("paket",),), limit=1) == ["often"]
        assert found((paket,), contact_ids=(ids["b"],)) == ["other"]
        assert found((paket,), contact_ids=(ids["a"], ids["b"]), channels=frozenset({"email"})
                     ) == ["other"]
        assert found((paket,), since=_at(2), until=_at(3)) == ["once"]
        # Equal scores: the most recently stored first, filtered or not.
        fillers = [f"filler{n}" for n in reversed(range(6))]
        assert found((("anderes",),)) == fillers
        assert found((("anderes",),), channels=frozenset({"email"})) == fillers
        assert found((("anderes",),), limit=2) == fillers[:2]
        # Re-indexing a row replaces its terms.
        store.atomic(lambda tx: tx.index_terms([(ids["unrelated"], ["paket"])]))
        assert "unrelated" in found((paket,))
        assert found((("rechnung",),)) == []

    def test_search_forgets_erased_interactions(self, store: Store) -> None:
        def work(tx: Transaction) -> tuple[int, int]:
            (a, b), conv = self.seed(tx, 2)
            first = self.interaction(tx, a, conv, "m1", _at(1))
            second = self.interaction(tx, b, conv, "m2", _at(2))
            tx.insert_interactions([first, second])
            tx.index_terms([(first.id, ["geheim"]), (second.id, ["geheim"])])
            return a, second.id

        a, second = store.atomic(work)
        assert store.atomic(lambda tx: tx.unindex_erased([a])) == 0  # nothing erased yet

        def erase(tx: Transaction) -> int:
            tx.erase_content(a, None, _at(5))
            return tx.unindex_erased([a])

        assert store.atomic(erase) == 1
        with store.reading() as tx:
            hits = tx.search(SearchQuery(words=(("geheim",),)))
        assert [item.id for item, _ in hits] == [second]

    def test_search_index_rolls_back_with_its_transaction(self, store: Store) -> None:
        def work(tx: Transaction) -> None:
            (a,), conv = self.seed(tx)
            item = self.interaction(tx, a, conv, "m1", _at(1))
            tx.insert_interactions([item])
            tx.index_terms([(item.id, ["verloren"])])
            raise _Rollback("boom")

        with pytest.raises(_Rollback):
            store.atomic(work)
        with store.reading() as tx:
            assert tx.search(SearchQuery(words=(("verloren",),))) == []

    # -- behaviour through History -------------------------------------------------------------
    def test_search_finds_stems_in_four_languages_with_snippets(
            self, history: History, chat: WebChatPayloads) -> None:
        texts = {
            "de": "Das Paket ist kaputt angekommen, bitte um Ersatz.",
            "fr": "Les livraisons de la semaine sont en retard.",
            "it": "Le spedizioni arrivano domani mattina.",
            "en": "Two deliveries went missing last week.",
        }
        for minute, (ext, text) in enumerate(texts.items()):
            body, headers = chat.message(ext, visitor=f"v-{ext}", text=text, at=_at(minute))
            history.receive(chat.channel, body=body, headers=headers)
        for query, expected, marked in (
                ("Pakete kaputte", "de", "[Paket] ist [kaputt]"),
                ("livraison", "fr", "[livraisons]"),
                ("spedizione", "it", "[spedizioni]"),
                ("delivery", "en", "[deliveries]")):
            (hit,) = history.search(query)
            assert hit.interaction.external_id == expected
            assert hit.interaction.text == texts[expected]
            assert marked in hit.marked()
        assert history.search("Paket livraison") == []
        assert history.search("  ,;  ") == []

    def test_search_by_contact_spans_a_merge_group(self, history: History,
                                                   chat: WebChatPayloads) -> None:
        for ext, visitor in (("a1", "anna"), ("b1", "bob"), ("c1", "carla")):
            body, headers = chat.message(ext, visitor=visitor, text="Rechnung offen")
            history.receive(chat.channel, body=body, headers=headers)
        anna = history.contacts.find(Address(kind="webchat", value="test-site/anna"))
        bob = history.contacts.find(Address(kind="webchat", value="test-site/bob"))
        assert anna is not None and bob is not None
        assert [h.interaction.external_id for h in history.search("Rechnung", contact=anna)
                ] == ["a1"]
        history.contacts.merge(anna, bob)
        assert sorted(h.interaction.external_id
                      for h in history.search("Rechnung", contact=bob)) == ["a1", "b1"]
        assert len(history.search("rechnungen")) == 3

    def test_search_forgets_an_erased_person(self, history: History,
                                             chat: WebChatPayloads) -> None:
        for ext, visitor in (("a1", "anna"), ("b1", "bob")):
            body, headers = chat.message(ext, visitor=visitor, text="Kündigung zum Monatsende")
            history.receive(chat.channel, body=body, headers=headers)
        anna = history.contacts.find(Address(kind="webchat", value="test-site/anna"))
        assert anna is not None
        history.erase(anna)
        assert [h.interaction.external_id for h in history.search("Kündigung")] == ["b1"]

    def test_redelivery_is_a_counted_duplicate(self, history: History,
                                               chat: WebChatPayloads) -> None:
        body, headers = chat.message("m1", email="anna@example.com")
        first = history.receive(chat.channel, body=body, headers=headers)
        second = history.receive(chat.channel, body=body, headers=headers)
        assert (first.stored, first.duplicates) == (1, 0)
        assert (second.stored, second.duplicates) == (0, 1)
        contact = history.contacts.find("anna@example.com")
        assert contact is not None
        assert [i.external_id for i in history.timeline(contact).items] == ["m1"]
        assert [c.id for c in history.contacts] == [contact.id]

    def test_forged_payload_leaves_no_trace(self, history: History,
                                            chat: WebChatPayloads) -> None:
        body, _ = chat.message("m1")
        with pytest.raises(SignatureError):
            history.receive(chat.channel, body=body, headers={"X-Omnicx-Signature": "sha256=00"})
        assert list(history.contacts) == []
        assert history.quarantine() == []

    def test_status_only_moves_forward_through_history(self, history: History,
                                                        chat: WebChatPayloads) -> None:
        body, headers = chat.message("a1", sender="agent")
        history.receive(chat.channel, body=body, headers=headers)
        for status in ("read", "delivered", "read"):
            body, headers = chat.status("a1", status, at=_at(1))
            history.receive(chat.channel, body=body, headers=headers)
        (item,) = history.timeline(_only_contact(history)).items
        assert item.status == Status.READ
        assert sorted(s.status.value for s in history.statuses(item)) == ["delivered", "read"]

    def test_watermark_marks_every_earlier_outbound_forward_only(self, history: History
                                                                  ) -> None:
        channel = _ScriptedChannel()
        customer = (Address(kind="messenger", value="psid-1"),)
        other = (Address(kind="messenger", value="psid-2"),)

        def message(ext: str, minute: int, who: tuple[Address, ...] = customer,
                    direction: str = "outbound") -> MessageEvent:
            return MessageEvent(channel="messenger", account="page", external_id=ext,
                                direction=direction, contact=who, occurred_at=_at(minute),
                                text=ext, status="sent" if direction == "outbound" else None,
                                thread_key="page")

        def mark(status: str, minute: int, **where: Any) -> WatermarkEvent:
            return WatermarkEvent(channel="messenger", account="page", contact=customer,
                                  status=status, occurred_at=_at(minute), **where)

        channel.script = {
            b"unknown": [mark("read", 1, up_to=_at(1))],
            b"messages": [message("o1", 1), message("o2", 2), message("i3", 3,
                          direction="inbound"), message("o4", 4), message("x1", 1, other)],
            b"delivered": [mark("delivered", 5, up_to=_at(2))],
            b"read": [mark("read", 6, through="o1")],
            b"late-delivered": [mark("delivered", 7, up_to=_at(4))],
            b"read-unknown": [mark("read", 8, through="nope")],
        }
        assert history.receive(channel, body=b"unknown").updates == 0  # nobody known yet
        history.receive(channel, body=b"messages")
        assert history.receive(channel, body=b"delivered").updates == 2
        assert history.receive(channel, body=b"read").updates == 1
        assert history.receive(channel, body=b"delivered").updates == 0  # redelivered
        assert history.receive(channel, body=b"late-delivered").updates == 1  # only o4
        assert history.receive(channel, body=b"read-unknown").updates == 0
        contact = history.contacts.find(customer[0])
        assert contact is not None
        statuses = {i.external_id: i.status for i in history.timeline(contact).items}
        assert statuses == {"o1": Status.READ, "o2": Status.DELIVERED, "i3": None,
                            "o4": Status.DELIVERED}
        (o1,) = [i for i in history.timeline(contact).items if i.external_id == "o1"]
        assert [s.status for s in history.statuses(o1)] == [Status.DELIVERED, Status.READ]
        stranger = history.contacts.find(other[0])
        assert stranger is not None
        assert [i.status for i in history.timeline(stranger).items] == [Status.SENT]
        assert history.verify().ok

    def test_a_watermark_before_the_message_applies_when_it_arrives(self, history: History
                                                                     ) -> None:
        channel = _ScriptedChannel()
        customer = (Address(kind="messenger", value="psid-1"),)

        def echo(ext: str, minute: int) -> MessageEvent:
            return MessageEvent(channel="messenger", account="page", external_id=ext,
                                direction="outbound", contact=customer, occurred_at=_at(minute),
                                status="sent", thread_key="page", watermarked=True)

        channel.script = {
            b"read": [WatermarkEvent(channel="messenger", account="page", contact=customer,
                                     status="read", up_to=_at(5))],
            b"delivered": [WatermarkEvent(channel="messenger", account="page",
                                          contact=customer, status="delivered",
                                          up_to=_at(9))],
            b"older": [WatermarkEvent(channel="messenger", account="page", contact=customer,
                                      status="read", up_to=_at(2))],
            b"echoes": [echo("e1", 4), echo("e2", 7), echo("e3", 12)],
        }
        for body in (b"read", b"delivered", b"older"):  # the watermarks come first
            history.receive(channel, body=body)
        assert history.receive(channel, body=b"echoes").updates == 2
        contact = history.contacts.find(customer[0])
        assert contact is not None
        statuses = {i.external_id: i.status for i in history.timeline(contact).items}
        assert statuses == {"e1": Status.READ, "e2": Status.DELIVERED, "e3": Status.SENT}
        assert history.verify().ok

    def test_chain_inputs_vouch_for_an_honest_history(
            self, store: Store, history: History, chat: WebChatPayloads) -> None:
        """A store that builds the hashed bytes itself must build them exactly.

        `Transaction.chain_inputs` may return ``None`` (verify then reads
        `chain_rows`); bytes that differ would not make verify wrong, only
        slow, so this is the test that notices them.
        """
        for ext, visitor, text, minute in (("a1", "anna", 'say "hi"\n\u00e9\U0001f600', 1),
                                           ("b1", "bob", "\t\\", 2), ("a2", "anna", " ", 3)):
            body, headers = chat.message(ext, visitor=visitor, text=text, at=_at(minute),
                                         sender="agent" if visitor == "bob" else "visitor")
            history.receive(chat.channel, body=body, headers=headers)
        body, headers = chat.status("a1", "read", at=_at(4))
        history.receive(chat.channel, body=body, headers=headers)
        with store.reading() as tx:
            ids = tx.chained_contacts(0, 10)
            inputs = tx.chain_inputs(ids)
            screened = None if inputs is None else screen(ids, tx.chain_heads(ids), inputs)
        assert screened in (None, (4, set()))  # every record vouched for, no contact suspect
        report = history.verify()
        assert report.ok and report.records == 4, str(report)

    def test_tampered_cells_name_what_the_chain_does_not_explain(
            self, store: Store, history: History, chat: WebChatPayloads) -> None:
        for ext, minute in (("a1", 1), ("a2", 2)):
            body, headers = chat.message(ext, sender="agent", at=_at(minute))
            history.receive(chat.channel, body=body, headers=headers)
        body, headers = chat.status("a1", "read", at=_at(3))
        history.receive(chat.channel, body=body, headers=headers)
        contact = _only_contact(history)
        first, second = sorted(history.timeline(contact).items, key=lambda i: i.id)
        with store.reading() as tx:
            assert tx.tampered_cells([contact.id]) == []  # every status explained

        def behind_the_chain(tx: Transaction) -> None:
            tx.advance_status(second.id, "played", 40)  # no chained event says so
            tx.forget_contact(contact.id, _at(5))  # no chained erasure either

        store.atomic(behind_the_chain)
        with store.reading() as tx:
            found = tx.tampered_cells([contact.id])
        assert [(c[0], c[2], c[4]) for c in found] == [("contacts", contact.id, "erased_at")]
        # The status is checked with its record, by verify() on every backend.
        problems = {(p.table, p.record_id, p.detail) for p in history.verify().problems}
        assert ("interactions", second.id,
                "status differs from the best-ranked status chained for it") in problems
        assert first.status == Status.READ

    def test_raw_payloads_are_tied_to_their_contact_and_erased_with_it(
            self, store: Store, history: History, chat: WebChatPayloads) -> None:
        body, headers = chat.message("a1", email="anna@example.com")
        first = history.receive(chat.channel, body=body, headers=headers)
        again = history.receive(chat.channel, body=body, headers=headers)  # a redelivery
        other, other_headers = chat.message("b1", visitor="v2", email="bob@example.com")
        history.receive(chat.channel, body=other, headers=other_headers)
        contact = history.contacts.find("anna@example.com")
        assert contact is not None
        with store.reading() as tx:
            raws = [tx.raw(i) for i in (*first.raw_ids, *again.raw_ids)]
        assert [r.contact_id for r in raws if r is not None] == [contact.id, contact.id]
        broken = FixableChannel(chat.channel)
        for message_id, visitor, email in (("a9", "visitor-1", "anna@example.com"),
                                           ("b9", "v2", "bob@example.com")):
            body, headers = chat.message(message_id, visitor=visitor, email=email)
            with pytest.raises(PayloadError):  # quarantined, naming one of them
                history.receive(broken, body=body, headers=headers)
        history.erase(contact)
        with store.reading() as tx:
            emptied = [tx.raw(i) for i in (*first.raw_ids, *again.raw_ids)]
            assert all(r is not None and r.body == b"" and r.sealed is None for r in emptied)
            (kept,) = tx.raws("quarantined")
        assert b"bob@example.com" in kept.body

    def test_status_before_message_is_a_gap_until_it_arrives(
            self, history: History, chat: WebChatPayloads) -> None:
        body, headers = chat.status("a1", "read")
        receipt = history.receive(chat.channel, body=body, headers=headers)
        assert receipt.gaps_opened == 1
        (gap,) = history.gaps()
        assert (gap.kind, gap.reference) == ("status_without_message", "a1")
        body, headers = chat.message("a1", sender="agent")
        receipt = history.receive(chat.channel, body=body, headers=headers)
        assert receipt.gaps_closed == 1
        assert history.gaps() == []
        (item,) = receipt.interactions
        assert history.interaction(item.id).status == Status.READ

    def test_reply_to_missing_parent_is_a_gap(self, history: History,
                                              chat: WebChatPayloads) -> None:
        body, headers = chat.message("m2", reply_to="m1", at=_at(2))
        history.receive(chat.channel, body=body, headers=headers)
        assert [(g.kind, g.reference) for g in history.gaps()] == [("missing_parent", "m1")]
        body, headers = chat.message("m1", at=_at(1))
        history.receive(chat.channel, body=body, headers=headers)
        assert history.gaps() == []
        assert [g.reference for g in history.gaps(include_closed=True)] == ["m1"]

    def test_merge_and_unmerge_timelines(self, history: History,
                                         chat: WebChatPayloads) -> None:
        for ext, visitor, minute in (("a1", "anna", 1), ("b1", "bob", 2), ("a2", "anna", 3)):
            body, headers = chat.message(ext, visitor=visitor, at=_at(minute))
            history.receive(chat.channel, body=body, headers=headers)
        anna = history.contacts.find(Address(kind="webchat", value="test-site/anna"))
        bob = history.contacts.find(Address(kind="webchat", value="test-site/bob"))
        assert anna is not None and bob is not None
        history.contacts.merge(anna, bob)
        assert [i.external_id for i in history.timeline(anna).items] == ["a2", "b1", "a1"]
        assert [i.external_id for i in history.timeline(bob).items] == ["a2", "b1", "a1"]
        assert [c.id for c in history.contacts] == [anna.id]
        history.contacts.unmerge(anna, bob)
        assert [i.external_id for i in history.timeline(anna).items] == ["a2", "a1"]
        assert [i.external_id for i in history.timeline(bob).items] == ["b1"]

    def test_keyset_pages_never_repeat_or_skip_while_inserts_happen(
            self, history: History, chat: WebChatPayloads) -> None:
        # Five items share one timestamp, so the id breaks ties across page boundaries.
        minutes = [0, 1, 2, 2, 2, 2, 2, 3, 4, 5, 6]
        for n, minute in enumerate(minutes):
            body, headers = chat.message(f"m{n}", at=_at(minute))
            history.receive(chat.channel, body=body, headers=headers)
        contact = _only_contact(history)
        seen: list[str] = []
        cursor: str | None = None
        extra = 0
        while True:
            page = history.timeline(contact, limit=3, before=cursor)
            seen += [i.external_id for i in page.items]
            # Newer messages arriving between pages must not shift the pages.
            body, headers = chat.message(f"new{extra}", at=_at(100 + extra))
            history.receive(chat.channel, body=body, headers=headers)
            extra += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [f"m{n}" for n in (10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)]

    def test_quarantine_and_replay(self, history: History, chat: WebChatPayloads) -> None:
        broken = FixableChannel(chat.channel)
        body, headers = chat.message("m1")
        with pytest.raises(PayloadError) as caught:
            history.receive(broken, body=body, headers=headers)
        quarantine_id = caught.value.quarantine_id
        assert quarantine_id is not None
        assert [p.id for p in history.quarantine()] == [quarantine_id]
        assert list(history.contacts) == []
        with pytest.raises(PayloadError):
            history.replay(quarantine_id)
        broken.fixed = True
        receipt = history.replay(quarantine_id)
        assert receipt.stored == 1
        assert history.quarantine() == []
        again = history.receive(broken, body=body, headers=headers)
        assert (again.stored, again.duplicates) == (0, 1)

    def test_nul_characters_are_stored_alike(self, store: Store, history: History,
                                             chat: WebChatPayloads) -> None:
        """U+0000 anywhere in a payload: stored, the same on every backend (``omnicx._scrub``).

        Text columns get U+FFFD in its place; the provider's ``data`` keeps it
        (stored as JSON); the raw archive keeps the bytes as they arrived.
        """
        nul, fffd = "\x00", "\ufffd"
        agent = chat.message_event(f"a{nul}1", visitor=f"v{nul}1", session=f"s{nul}1",
                                   sender="agent", text=f"hello{nul}there", at=_at(1))
        agent["agent"] = {"id": f"agent{nul}7", "name": f"Bo{nul}b"}
        agent["page"] = f"/p{nul}q"
        agent["visitor"]["name"] = f"An{nul}na"
        agent["attachments"] = [{"filename": f"a{nul}.pdf", "content_type": "application/pdf"}]
        reply = chat.message_event(f"m{nul}2", visitor=f"v{nul}1", session=f"s{nul}1",
                                   text=nul, reply_to=f"a{nul}1", at=_at(2))
        status = {"type": "message.read", "id": f"read:a{nul}1", "message": f"a{nul}1",
                  "at": _at(3).isoformat()}
        body, headers = chat.signed([agent, reply, status])
        assert b"\\u0000" in body  # JSON carries it escaped, as providers send it
        receipt = history.receive(chat.channel, body=body, headers=headers)
        assert (receipt.stored, receipt.updates) == (2, 1)
        contact = _only_contact(history)
        assert contact.display_name == f"An{fffd}na"
        assert [str(a) for a in contact.addresses] == [f"webchat:test-site/v{fffd}1"]
        second, first = history.timeline(contact).items
        assert first.external_id == f"a{fffd}1" and first.text == f"hello{fffd}there"
        assert first.sender is not None and first.sender.value == f"agent{fffd}7"
        assert first.sender.name == f"Bo{fffd}b"
        assert first.attachments[0].filename == f"a{fffd}.pdf"
        assert first.data["page"] == f"/p{nul}q"  # the provider's JSON, verbatim
        assert first.status == Status.READ
        assert (second.text, second.reply_to) == (fffd, f"a{fffd}1")
        assert second.conversation_id == first.conversation_id  # same session key
        assert history.gaps() == []  # the reply found its parent
        again = history.receive(chat.channel, body=body, headers=headers)
        assert (again.stored, again.duplicates) == (0, 3)
        with store.reading() as tx:
            raw = tx.raw(receipt.raw_ids[0])
        assert raw is not None and raw.body == body
        assert history.verify().ok

    def test_cursor_is_saved_with_the_batch_it_covers(self, history: History,
                                                      chat: WebChatPayloads) -> None:
        batch = [chat.message(f"m{n}", at=_at(n)) for n in range(3)]
        receipt = history.receive_batch(chat.channel, batch, cursor=("import", "3"))
        assert receipt.stored == 3
        assert history.cursor("import") == "3"
        forged = [*batch, (batch[0][0], {"X-Omnicx-Signature": "sha256=00"})]
        with pytest.raises(SignatureError):
            history.receive_batch(chat.channel, forged, cursor=("import", "4"))
        assert history.cursor("import") == "3"

        def fails_after_cursor(tx: Transaction) -> None:
            tx.set_cursor("import", "5", _T0)
            raise _Rollback("the batch failed after the cursor was written")

        with pytest.raises(_Rollback):
            history.store.atomic(fails_after_cursor)
        assert history.cursor("import") == "3"

    def test_concurrent_redeliveries_store_each_interaction_once(
            self, history: History, chat: WebChatPayloads) -> None:
        # One history shared by threads, as in a web server; every thread gets
        # every payload, in its own order.
        payloads = [chat.message(f"m{n}", visitor=f"v{n % 5}", at=_at(n)) for n in range(40)]
        errors: list[BaseException] = []
        totals: list[tuple[int, int]] = []
        start = threading.Barrier(self.threads)

        def deliver(seed: int) -> None:
            order = list(range(len(payloads)))
            random.Random(seed).shuffle(order)
            stored = duplicates = 0
            start.wait()
            try:
                for index in order:
                    body, headers = payloads[index]
                    receipt = history.receive(chat.channel, body=body, headers=headers)
                    stored, duplicates = stored + receipt.stored, duplicates + receipt.duplicates
            except BaseException as exc:
                errors.append(exc)
            totals.append((stored, duplicates))

        workers = [threading.Thread(target=deliver, args=(n,)) for n in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        assert sum(s for s, _ in totals) == len(payloads)
        assert sum(d for _, d in totals) == len(payloads) * (self.threads - 1)
        contacts = list(history.contacts)
        assert len(contacts) == 5
        seen = [i.external_id for c in contacts for i in history.timeline(c, limit=1000).items]
        assert sorted(seen) == sorted(f"m{n}" for n in range(len(payloads)))


def _only_contact(history: History) -> Contact:
    (contact,) = list(history.contacts)
    return contact
