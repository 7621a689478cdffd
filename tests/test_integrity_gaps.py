"""Gaps: sequence holes open and close by themselves, as do missing parents and statuses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import omnicx
from integrity_support import event, send, status
from omnicx import Address, MessageEvent, StreamPosition
from omnicx._ingest import MAX_HOLE_GAPS, Parsed, ingest
from omnicx._vault import Sealer
from omnicx.storage import RawPayload, Transaction


def test_a_chat_sequence_hole_opens_and_closes(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        send(history, event(1, seq=1), event(2, seq=2))
        assert history.gaps() == []
        receipt = send(history, event(5, seq=5))
        assert receipt.gaps_opened == 2
        gaps = history.gaps()
        assert [(g.kind, g.channel.value, g.reference) for g in gaps] == [
            ("chat_sequence", "webchat", "session:s1#3"),
            ("chat_sequence", "webchat", "session:s1#4"),
        ]
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        assert all(g.contact_id == anna.id and g.open for g in gaps)
        assert all(g.opened_at <= dt.datetime.now(dt.UTC) for g in gaps)
        receipt = send(history, event(4, seq=4))
        assert receipt.gaps_closed == 1
        assert [g.reference for g in history.gaps()] == ["session:s1#3"]
        send(history, event(3, seq=3))
        assert history.gaps() == []
        closed = history.gaps(include_closed=True)
        assert len(closed) == 2 and all(g.closed_at is not None for g in closed)
        assert history.verify().ok


def test_holes_filled_within_one_batch_never_open(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        receipt = send(history, event(3, seq=3), event(1, seq=1), event(2, seq=2))
        assert receipt.gaps_opened == 0
        assert history.gaps() == []


def test_sessions_are_separate_streams(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        send(history, event(1, seq=1, session="a"), event(2, seq=1, session="b"))
        send(history, event(3, seq=3, session="b"))
        assert [g.reference for g in history.gaps()] == ["session:b#2"]
        # A chat starting at seq 2 misses its first message.
        send(history, event(4, seq=2, session="c"))
        assert [g.reference for g in history.gaps()] == ["session:b#2", "session:c#1"]


def test_a_redelivered_message_does_not_move_the_stream(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        send(history, event(1, seq=1))
        receipt = send(history, event(1, seq=1))
        assert receipt.duplicates == 1
        assert history.gaps() == []


def _imap(uid: int) -> MessageEvent:
    return MessageEvent(
        channel="email", account="support@example.com", external_id=f"<{uid}@example.com>",
        direction="inbound", contact=(Address(kind="email", value="c@example.com"),),
        text=f"mail {uid}",
        sequence=StreamPosition(stream="INBOX;uidvalidity=7", number=uid, gap_kind="imap_uid",
                                first=None))


def _store(history: omnicx.History, *events: MessageEvent) -> None:
    now = dt.datetime.now(dt.UTC)

    def work(tx: Transaction) -> None:
        (raw_id,) = tx.new_ids("raw_payloads", 1)
        raw = RawPayload(id=raw_id, channel="email", account="support@example.com",
                         received_at=now, body=b"...")
        ingest(tx, [Parsed(raw=raw, events=events)], now, sealer=Sealer(tx, None))

    history.store.atomic(work)


def test_imap_uids_use_the_same_mechanism(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        _store(history, _imap(100), _imap(101))  # UIDs may start anywhere
        assert history.gaps() == []
        _store(history, _imap(104))
        assert [(g.kind, g.reference) for g in history.gaps()] == [
            ("imap_uid", "INBOX;uidvalidity=7#102"), ("imap_uid", "INBOX;uidvalidity=7#103")]
        _store(history, _imap(102), _imap(103))
        assert history.gaps() == []


def test_a_huge_hole_is_one_gap(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        _store(history, _imap(1))
        _store(history, _imap(MAX_HOLE_GAPS + 10))
        (gap,) = history.gaps()
        assert gap.reference == f"INBOX;uidvalidity=7#2-{MAX_HOLE_GAPS + 9}"


def test_status_and_reply_gaps_close_when_the_message_arrives(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        send(history, status(7))
        send(history, event(8, reply_to="m7"))
        kinds = sorted((g.kind, g.reference) for g in history.gaps())
        assert kinds == [("missing_parent", "m7"), ("status_without_message", "m7")]
        receipt = send(history, event(7))
        assert receipt.gaps_closed == 2
        assert history.gaps() == []
        assert history.verify().ok
