"""history.record(): calls, letters and notes through the same pipeline as a webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicx
from omnicx import ConfigurationError, OmnicxError, PayloadError
from omnicx._blobs import MemoryBlobStore
from omnicx._cli import main
from omnicx._record import Recorded

PDF = b"%PDF-1.4\n% a scanned letter\n%%EOF\n"
WHEN = dt.datetime(2026, 11, 3, 14, 5, tzinfo=dt.UTC)
KEY = b"r" * 32


def test_a_recorded_call_is_an_interaction_with_its_duration(
        backend_history: omnicx.History) -> None:
    history = backend_history
    blobs = MemoryBlobStore()
    call = history.record(channel="phone", direction="inbound", contact="+41 79 123 45 67",
                          occurred_at=WHEN, text="Asked about the invoice",
                          duration=dt.timedelta(minutes=7), external_id="cti-4711",
                          name="Anna Keller", blobs=blobs)
    assert (call.channel, call.kind, call.direction, call.account) == (
        "phone", "call", "inbound", "recorded")
    assert call.occurred_at == WHEN and call.data["duration_seconds"] == 420.0
    assert call.raw_id is not None  # archived like any webhook
    contact = history.contacts.find("+41791234567")
    assert contact is not None and contact.display_name == "Anna Keller"
    assert history.timeline(contact).items == (call,)
    again = history.record(channel="phone", direction="inbound", contact="+41791234567",
                           occurred_at=WHEN, text="typed twice", external_id="cti-4711")
    assert again == call  # idempotent: the first one, unchanged
    assert history.verify().ok


def test_a_letter_with_its_scan_and_a_reply(
        backend_history: omnicx.History, tmp_path: Path) -> None:
    history = backend_history
    blobs = MemoryBlobStore()
    scan = tmp_path / "brief-2026-11-03.pdf"
    scan.write_bytes(PDF)
    reply = history.record(channel="letter", direction="outbound", contact="anna@example.ch",
                           occurred_at=WHEN + dt.timedelta(days=2), subject="Your complaint",
                           text="We refund the parcel.", reply_to="post-17",
                           external_id="post-18", attachments=[b"%PDF-1.7 reply"], blobs=blobs)
    assert [g.reference for g in history.gaps()] == ["post-17"]  # its parent is missing
    letter = history.record(channel="letter", direction="inbound", contact="anna@example.ch",
                            occurred_at=WHEN, subject="Complaint", attachments=[scan],
                            external_id="post-17", blobs=blobs)
    assert history.gaps() == []
    (attachment,) = letter.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        scan.name, "application/pdf", len(PDF))
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.ref is not None and blobs.get(attachment.ref) == PDF
    assert reply.attachments[0].content_type == "application/pdf"
    assert letter.kind == "message" and reply.direction == "outbound"
    assert reply.recipients[0].value == "anna@example.ch"


def test_notes_and_visits_against_a_contact(backend_history: omnicx.History) -> None:
    history = backend_history
    call = history.record(channel="video", direction="outbound",
                          contact=omnicx.Address(kind="email", value="anna@example.ch"),
                          duration=1800, external_id="teams-1")
    contact = history.contacts.get(call.contact_id)
    note = history.record(channel="note", direction="internal", contact=contact,
                          text="Prefers calls after 5 pm", thread="account-notes")
    visit = history.record(channel="visit", direction="inbound", contact=contact,
                           text="Came to the shop", kind="visit")
    assert (call.kind, note.kind, visit.kind) == ("call", "note", "visit")
    assert {i.contact_id for i in (call, note, visit)} == {contact.id}
    assert len(history.timeline(contact).items) == 3


def test_content_is_encrypted_at_rest(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with omnicx.open(path, key=KEY) as history:
        history.record(channel="phone", direction="inbound", contact="+41791234567",
                       text="my account number is 99-1234-5", blobs=MemoryBlobStore())
    assert b"99-1234-5" not in path.read_bytes()


def test_bad_arguments_are_configuration_errors(history: omnicx.History) -> None:
    with pytest.raises(PayloadError):
        history.record(channel="phone", direction="inbound", contact="no address")
    with pytest.raises(ConfigurationError):
        history.record(channel="phone", direction="inbound", contact="+41791234567",
                       duration=-5)
    with pytest.raises(ConfigurationError):
        history.record(channel="letter", direction="inbound", contact="a@example.ch",
                       attachments=["/nonexistent/scan.pdf"], blobs=MemoryBlobStore())
    lonely = omnicx.Contact(id=10**6, created_at=WHEN)
    with pytest.raises(omnicx.NotFoundError):
        history.record(channel="note", direction="internal", contact=lonely)


@given(st.one_of(st.binary(max_size=200), st.dictionaries(
    st.sampled_from(["format", "external_id", "direction", "kind", "occurred_at", "contact",
                     "attachments", "text", "data"]),
    st.one_of(st.none(), st.text(max_size=10), st.integers(), st.lists(st.text(max_size=3)),
              st.just("omnicx.record/1"), st.just([{"kind": "phone", "value": "+4179"}])),
    max_size=9).map(lambda d: json.dumps(d).encode())))
def test_the_internal_adapter_parses_or_raises_payload_error(body: bytes) -> None:
    try:
        Recorded(channel="phone").parse(body, {})
    except OmnicxError as exc:
        assert isinstance(exc, PayloadError)


def test_the_record_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scan.pdf").write_bytes(PDF)
    db = str(tmp_path / "cli.db")
    args = ["--db", db, "record", "--channel", "letter", "--direction", "inbound",
            "--contact", "anna@example.ch", "--text", "Complaint", "--attach", "scan.pdf",
            "--duration", "1h2m", "--at", "2026-11-03T14:05:00+01:00", "--external-id", "p-1",
            "--media-dir", "media"]
    assert main(args) == 0
    assert main([*args, "--json"]) == 0  # the same letter: the same interaction
    out = capsys.readouterr().out
    assert "interaction #1 (letter inbound message)" in out
    shown = json.loads(out[out.index("{"):])
    assert shown["id"] == 1 and shown["data"]["duration_seconds"] == 3720.0
    assert (tmp_path / "media").is_dir()
    assert main(["--db", db, "record", "--channel", "phone", "--direction", "inbound",
                 "--contact", "anna@example.ch", "--duration", "soon"]) == 2
    assert main(["--db", db, "record", "--channel", "note", "--direction", "internal",
                 "--contact", "1", "--text", "Called back", "--json"]) == 0
    note = json.loads(capsys.readouterr().out)
    assert (note["contact_id"], note["kind"]) == (1, "note")
    assert main(["--db", db, "record", "--channel", "note", "--direction", "internal",
                 "--contact", "42", "--text", "nobody"]) == 2
