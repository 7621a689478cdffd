"""The change feed's and webhook outbox's part of `omnicx.testing.StoreConformance`.

Kept apart so the suite's storage core stays readable; `StoreConformance`
inherits these tests and its fixtures (``store``, ``history``, ``chat``)
serve them. Every backend runs them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING

import pytest

from ._errors import NotFoundError
from ._feed import Change
from ._history import History
from ._models import Address
from .storage import Gap, Store, Transaction
from .storage._feedrows import AttemptRecord, NewChange

if TYPE_CHECKING:
    from .testing import WebChatPayloads

__all__ = ["FeedConformance"]

_T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _at(minutes: int) -> dt.datetime:
    return _T0 + dt.timedelta(minutes=minutes)


def _all(history: History, page: int = 1000) -> list[Change]:
    seen: list[Change] = []
    cursor: str | None = None
    while True:
        got = history.changes(after=cursor, limit=page)
        seen += got.items
        cursor = got.next_cursor
        if not got.items:
            return seen


class FeedConformance:
    """Feed and outbox tests, run by every backend through `StoreConformance`."""

    def test_feed_records_every_write_path_in_order(
            self, history: History, chat: WebChatPayloads) -> None:
        def receive(built: tuple[bytes, dict[str, str]]) -> None:
            history.receive(chat.channel, body=built[0], headers=built[1])

        receive(chat.status("a1", "read", at=_at(2)))  # before its message: a gap
        receive(chat.message("a1", sender="agent", at=_at(1)))  # fills it
        receive(chat.signed([{"type": "message.edited", "id": "e1", "message": "a1",
                              "text": "edited", "at": _at(3).isoformat()}]))
        receive(chat.message("b1", visitor="bob", at=_at(4)))
        anna = history.contacts.find(Address(kind="webchat", value="test-site/visitor-1"))
        bob = history.contacts.find(Address(kind="webchat", value="test-site/bob"))
        assert anna is not None and bob is not None
        history.contacts.merge(anna, bob)
        history.contacts.unmerge(anna, bob)
        history.contacts.link(bob, crm_id="crm-7")
        receive(chat.signed([{"type": "message.deleted", "id": "d1", "message": "b1",
                              "at": _at(5).isoformat()}]))
        history.erase(bob)

        changes = _all(history)
        kinds = [c.kind for c in changes]
        assert kinds == [
            "gap.opened",
            "contact.created", "interaction.created", "gap.closed",
            "interaction.status_changed",
            "interaction.edited",
            "contact.created", "interaction.created",
            "contact.merged", "contact.unmerged", "contact.linked",
            "interaction.deleted",
            "contact.erased",
        ]
        assert [c.id for c in changes] == list(range(changes[0].id, changes[0].id + 13))
        created = changes[2]
        assert created.contact_id == anna.id and created.interaction_id is not None
        assert created.data["channel"] == "webchat" and created.data["direction"] == "outbound"
        assert changes[4].data == {"status": "read"}
        assert changes[4].interaction_id == created.interaction_id
        assert changes[5].interaction_id == created.interaction_id
        assert changes[8].data == {"winner_id": anna.id, "loser_id": bob.id}
        assert changes[10].data == {"crm_id": "crm-7"}
        assert changes[12].contact_id == bob.id and changes[12].data["before"] is None
        assert all(c.at.tzinfo is dt.UTC for c in changes)

        # A redelivery changes nothing, so it is no change.
        receive(chat.message("a1", sender="agent", at=_at(1)))
        assert history.changes(after=changes[-1].cursor).items == ()

    def test_conversation_states_are_changes_without_their_reasons(
            self, history: History, chat: WebChatPayloads) -> None:
        body, headers = chat.message("m1")
        (item,) = history.receive(chat.channel, body=body, headers=headers).interactions
        cursor = history.changes().next_cursor
        history.conversations.handover(item.conversation_id, to="agent:17",
                                       reason="Anna asked for Marco by name")
        history.conversations.resolve(item.conversation_id)
        changes = history.changes(after=cursor).items
        assert [c.kind for c in changes] == ["conversation.state_changed"] * 2
        assert [(c.data["action"], c.data["assignee"]) for c in changes] == [
            ("handover", "agent:17"), ("resolve", None)]
        assert changes[1].data["state"] == "resolved"
        assert all(c.data["conversation_id"] == item.conversation_id
                   and c.contact_id == item.contact_id for c in changes)
        assert "Anna" not in json.dumps([dict(c.data) for c in changes])

    def test_cursor_resumes_without_repeat_or_skip(
            self, history: History, chat: WebChatPayloads) -> None:
        for n in range(7):
            body, headers = chat.message(f"m{n}", visitor=f"v{n % 3}", at=_at(n))
            history.receive(chat.channel, body=body, headers=headers)
        everything = _all(history)
        seen: list[int] = []
        cursor: str | None = None
        while True:
            page = history.changes(after=cursor, limit=2)
            assert len(page.items) <= 2
            seen += [c.id for c in page.items]
            if not page.items:
                assert page.next_cursor == cursor
                break
            cursor = page.next_cursor
        assert seen == [c.id for c in everything] and len(set(seen)) == len(seen)
        only = history.changes(kinds={"interaction.created"}, limit=3)
        assert [c.kind for c in only.items] == ["interaction.created"] * 3
        rest = history.changes(after=only.next_cursor, kinds={"interaction.created"})
        assert len(only.items) + len(rest.items) == 7
        with pytest.raises(NotFoundError):
            history.changes(after="not-a-cursor")

    def test_changes_commit_or_roll_back_with_their_write(
            self, history: History, chat: WebChatPayloads) -> None:
        class Boom(Exception):
            pass

        def work(tx: Transaction) -> None:
            ids = tx.new_ids("contacts", 1)
            from ._models import Contact

            tx.insert_contacts([Contact(id=ids[0], created_at=_T0)])
            raise Boom

        with pytest.raises(Boom):
            history.store.atomic(work)
        assert history.changes().items == ()
        with history.store.reading() as tx:
            assert tx.last_change() == 0

    def test_subscribers_run_after_commit_and_cannot_lose_a_change(
            self, history: History, chat: WebChatPayloads,
            caplog: pytest.LogCaptureFixture) -> None:
        seen: list[tuple[str, int]] = []

        def watcher(change: Change) -> None:
            # After the commit: the change is already in the feed.
            assert change.id in {c.id for c in _all(history)}
            seen.append((change.kind, change.id))

        def broken(change: Change) -> None:
            raise RuntimeError("subscriber bug")

        history.subscribe(broken)
        subscription = history.subscribe(watcher, kinds={"interaction.created"})
        body, headers = chat.message("m1")
        with caplog.at_level(logging.ERROR, logger="omnicx.feed"):
            receipt = history.receive(chat.channel, body=body, headers=headers)
        assert receipt.stored == 1
        assert "subscriber bug" in caplog.text
        (created,) = [c for c in _all(history) if c.kind == "interaction.created"]
        assert seen == [("interaction.created", created.id)]
        subscription.cancel()
        body, headers = chat.message("m2")
        history.receive(chat.channel, body=body, headers=headers)
        assert len(seen) == 1

    def test_gap_changes_report_only_new_and_closed_gaps(self, store: Store) -> None:
        def gap(tx: Transaction, reference: str) -> Gap:
            (gap_id,) = tx.new_ids("gaps", 1)
            return Gap(id=gap_id, kind="missing_parent", channel="webchat", account="a",
                       reference=reference, opened_at=_T0)

        def work(tx: Transaction) -> tuple[list[int], list[int], list[Gap], list[Gap]]:
            first = [gap(tx, "x"), gap(tx, "y")]
            opened = tx.open_gaps_returning(first)
            again = tx.open_gaps_returning([gap(tx, "x")])
            closed = tx.close_gaps_returning("webchat", "a", ["x", "z"], _at(1))
            none = tx.close_gaps_returning("webchat", "a", ["x"], _at(2))
            return opened, again, closed, none

        opened, again, closed, none = store.atomic(work)
        assert len(opened) == 2 and again == [] and none == []
        assert [(g.reference, g.closed_at) for g in closed] == [("x", _at(1))]

    def test_positions_are_contiguous_and_outbox_rows_follow_webhooks(
            self, store: Store) -> None:
        def add(tx: Transaction) -> tuple[int, int]:
            every = tx.insert_webhook("http://127.0.0.1:9/all", None, "s", None, _T0)
            some = tx.insert_webhook("http://127.0.0.1:9/some",
                                     frozenset({"contact.created"}), "s", None, _T0)
            return every, some

        every, some = store.atomic(add)

        def append(tx: Transaction) -> list[int]:
            return tx.append_changes([
                NewChange(kind="contact.created", at=_T0, contact_id=1),
                NewChange(kind="interaction.created", at=_T0, contact_id=1,
                          interaction_id=5, data=json.dumps({"channel": "sms"})),
                NewChange(kind="gap.opened", at=_T0)])

        first = store.atomic(append)
        second = store.atomic(append)
        assert first == [1, 2, 3] and second == [4, 5, 6]
        with store.reading() as tx:
            assert [c.id for c in tx.changes(2, 3)] == [3, 4, 5]
            assert tx.changes(1, 1)[0].data == {"channel": "sms"}
            assert tx.last_change() == 6
            rows = tx.deliveries(state="pending", webhook_id=None, after=0, limit=100)
        assert sorted((d.webhook_id, d.change_id) for d in rows) == sorted(
            [(every, p) for p in range(1, 7)] + [(some, 1), (some, 4)])

        assert store.atomic(lambda tx: tx.set_webhook_active(some, False)) is True
        assert store.atomic(lambda tx: tx.set_webhook_active(some + 100, False)) is False
        with store.reading() as tx:
            dead = tx.deliveries(state="dead", webhook_id=some, after=0, limit=10)
        assert [d.change_id for d in dead] == [1, 4]
        assert store.atomic(append) == [7, 8, 9]
        with store.reading() as tx:
            assert tx.deliveries(state=None, webhook_id=some, after=0, limit=10) == dead

    def test_claims_keep_per_contact_order_and_log_attempts(self, store: Store) -> None:
        hook = store.atomic(
            lambda tx: tx.insert_webhook("http://127.0.0.1:9/", None, "s", None, _T0))
        store.atomic(lambda tx: tx.append_changes([
            NewChange(kind="interaction.created", at=_T0, contact_id=c) for c in (1, 2, 1, 3)]))

        def claim(at: dt.datetime, limit: int = 10) -> list[tuple[int | None, int]]:
            found = store.atomic(
                lambda tx: tx.claim_deliveries(at, limit, at + dt.timedelta(minutes=1)))
            return [(d.contact_id, d.change_id) for d in found]

        with store.reading() as tx:
            assert tx.next_delivery_at() == _T0
        assert claim(_T0) == [(1, 1), (2, 2), (1, 3), (3, 4)]
        assert claim(_T0) == []  # leased
        with store.reading() as tx:
            assert tx.next_delivery_at() == _T0 + dt.timedelta(minutes=1)
        with store.reading() as tx:
            pending = {d.change_id: d for d in tx.deliveries(
                state="pending", webhook_id=hook, after=0, limit=10)}

        # Contact 1's first delivery fails and waits; its second must wait behind it.
        def outcome(change_id: int, state: str, after: dt.datetime, code: int | None
                    ) -> tuple[AttemptRecord, str, dt.datetime]:
            error = (None if state == "delivered" else f"HTTP {code}" if code else "refused")
            return (AttemptRecord(delivery_id=pending[change_id].id, attempted_at=_at(1),
                                  status_code=code, error=error,
                                  duration=dt.timedelta(milliseconds=3)), state, after)

        store.atomic(lambda tx: tx.record_attempts([
            outcome(1, "pending", _at(10), 500), outcome(2, "delivered", _at(1), 200),
            outcome(4, "delivered", _at(1), 204)]))
        store.atomic(lambda tx: tx.release_deliveries([pending[3].id], _at(1)))
        assert claim(_at(2)) == []  # 3 waits behind 1
        assert claim(_at(10)) == [(1, 1), (1, 3)]
        with store.reading() as tx:
            log = tx.attempts(pending[1].id)
            done = tx.deliveries(state="delivered", webhook_id=hook, after=0, limit=10)
        assert [(a.status_code, a.error) for a in log] == [(500, "HTTP 500")]
        assert log[0].duration == dt.timedelta(milliseconds=3)
        assert [(d.change_id, d.attempts, d.delivered_at) for d in done] == [
            (2, 1, _at(1)), (4, 1, _at(1))]

        store.atomic(lambda tx: tx.record_attempts([outcome(1, "dead", _at(10), None)]))
        with store.reading() as tx:
            (dead,) = tx.deliveries(state="dead", webhook_id=hook, after=0, limit=10)
        assert dead.attempts == 2 and dead.last_error == "refused"
        assert store.atomic(lambda tx: tx.requeue_deliveries([dead.id, 999], _at(20))) == 1
        with store.reading() as tx:
            (again,) = tx.deliveries(state="pending", webhook_id=hook, after=dead.id - 1,
                                     limit=1)
        assert again.id == dead.id and again.next_attempt_at == _at(20)

        # Pruning forgets what was delivered before the cut-off, with its log, only.
        assert store.atomic(lambda tx: tx.prune_deliveries(_at(1))) == 0
        assert store.atomic(lambda tx: tx.prune_deliveries(_at(2))) == 2
        with store.reading() as tx:
            left = tx.deliveries(state=None, webhook_id=hook, after=0, limit=10)
            assert tx.attempts(pending[2].id) == []
            assert len(tx.attempts(dead.id)) == 2
        assert sorted(d.change_id for d in left) == [1, 3]

    def test_change_data_hold_no_personal_content_with_a_key(
            self, store: Store, chat: WebChatPayloads) -> None:
        history = History(store, key=b"k" * 32)
        body, headers = chat.message("secret-id-1", email="anna@example.com",
                                     text="my IBAN is CH93", reply_to="gone-parent")
        history.receive(chat.channel, body=body, headers=headers)
        with store.reading() as tx:
            stored = " ".join(json.dumps(c.data) for c in tx.changes(0, 100))
        for personal in ("anna", "IBAN", "secret-id-1", "gone-parent", "visitor-1"):
            assert personal not in stored
        kinds = [c.kind for c in _all(history)]
        assert kinds == ["contact.created", "interaction.created", "gap.opened"]
