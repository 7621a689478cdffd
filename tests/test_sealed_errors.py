"""Error texts derived from payloads are as personal as the payloads: sealed with a key.

A parse error quotes what it could not parse (an address, a phone number, a
line of text); a bounce's diagnostic quotes the address that bounced; a
provider's refusal quotes the number it refused. Each of these is written to
the store, so with a key each is sealed like the content it came from, and
read back in the clear through the API (`History.quarantine`,
`History.statuses`).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

import omnicx
from integrity_support import CHAT, KEY
from omnicx import Address, SendError
from omnicx.channels import Email

SAMPLES = Path(__file__).parent / "channels" / "email_samples"
STREET = "Bahnhofstrasse 5"


def _disk(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("h.db*")))


def _chat(event: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"site": "shop", "events": [event]}).encode()
    return body, CHAT.sign(body)


# Each payload fails to parse with an error that repeats a value of the payload.
UNPARSEABLE = {
    "address": {"type": "message", "id": "q1", "from": "visitor", "session": "s",
                "text": "x", "visitor": {"email": f"+41 79 123 45 67 {STREET}"}, "at": 1},
    "time": {"type": "message", "id": "q2", "from": "visitor", "session": "s", "text": "x",
             "visitor": {"email": "a@b.ch"}, "at": STREET},
    "sender": {"type": "message", "id": "q3", "from": STREET, "session": "s", "text": "x",
               "visitor": {"email": "a@b.ch"}, "at": 1},
}


@pytest.mark.parametrize("case", sorted(UNPARSEABLE))
def test_a_quarantine_error_is_sealed_and_listed_opened(tmp_path: Path, case: str) -> None:
    body, headers = _chat(UNPARSEABLE[case])
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        with pytest.raises(omnicx.PayloadError) as raised:
            history.receive(CHAT, body=body, headers=headers)
        assert STREET in str(raised.value)  # the caller is told; the disk is not
        # A batch quarantines through its own path.
        receipt = history.receive_batch(CHAT, [(body, headers)])
        assert receipt.quarantined == 1
        listed = history.quarantine()
        # What replay() would use: body, headers and error, opened.
        assert [q.body for q in listed] == [body, body]
        assert [dict(q.headers) for q in listed] == [headers, headers]
        assert all(q.error is not None and STREET in q.error for q in listed)
        assert all(q.sealed is None for q in listed)
        # A failed replay stores its (new) error sealed as well.
        with pytest.raises(omnicx.PayloadError):
            history.replay(listed[0].id, CHAT)
        assert STREET in (history.quarantine()[0].error or "")
    assert STREET.encode() not in _disk(tmp_path)


def test_without_a_key_the_quarantine_is_in_the_clear(tmp_path: Path) -> None:
    body, headers = _chat(UNPARSEABLE["time"])
    with omnicx.open(tmp_path / "h.db") as history:
        with pytest.raises(omnicx.PayloadError):
            history.receive(CHAT, body=body, headers=headers)
        (listed,) = history.quarantine()
        assert listed.body == body and STREET in (listed.error or "")


def test_an_encrypted_quarantine_opened_without_the_key_stays_sealed(tmp_path: Path) -> None:
    body, headers = _chat(UNPARSEABLE["time"])
    with omnicx.open(tmp_path / "h.db", key=KEY) as history, pytest.raises(omnicx.PayloadError):
        history.receive(CHAT, body=body, headers=headers)
    with omnicx.open(tmp_path / "h.db") as history:
        (listed,) = history.quarantine()
        assert listed.sealed is not None and listed.body == b""
        assert STREET not in (listed.error or "")


def _original_of(bounce: bytes) -> bytes:
    """The copy of the original message that an Exim bounce carries."""
    marker = b"------ This is a copy of the message, including all the headers. ------"
    return bounce.split(marker, 1)[1].lstrip(b"\r\n")


@pytest.mark.parametrize("order", ["message first", "bounce first"])
def test_a_bounce_diagnostic_is_sealed_with_the_status(tmp_path: Path, order: str) -> None:
    bounce = (SAMPLES / "bounce_exim.eml").read_bytes()
    original = _original_of(bounce)
    mailbox = Email(mailbox="support@example.com")
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        for body in ([original, bounce] if order == "message first" else [bounce, original]):
            history.receive(mailbox, body=body)
        contact = history.contacts.find("old.address@example.org")
        assert contact is not None
        (item,) = history.timeline(contact).items
        (failed,) = history.statuses(item)
        assert failed.status == "failed"
        assert failed.error is not None and "550 5.2.1" in failed.error
        assert "error" not in failed.data and "omnicx:error" not in failed.data
        assert history.verify().ok
    disk = _disk(tmp_path)
    assert b"550 5.2.1" not in disk
    assert b"old.address@example.org" not in disk


class _Refusing:
    """A `Sender` whose provider refuses the number and says which."""

    channel = omnicx.Channel.WEBCHAT
    account = "shop"
    address_kinds = ("email",)

    def send(self, message: omnicx.Outgoing) -> omnicx.SendResult:
        raise SendError(f"recipient {message.to.value} is blocked at {STREET}", code="131026")


def test_a_send_failure_is_sealed_and_erased_with_the_content(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        with pytest.raises(SendError):
            history.send(_Refusing(), to=Address(kind="email", value="carol@example.com"),
                         text="hello")
        carol = history.contacts.find("carol@example.com")
        assert carol is not None
        (item,) = history.timeline(carol).items
        assert item.status == "failed"
        (failed,) = history.statuses(item)
        assert failed.error == f"131026 recipient carol@example.com is blocked at {STREET}"
        assert history.verify().ok
    assert STREET.encode() not in _disk(tmp_path)


def test_without_a_key_an_error_text_is_erased_with_its_interaction(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        with pytest.raises(SendError):
            history.send(_Refusing(), to=Address(kind="email", value="carol@example.com"),
                         text="hello")
        carol = history.contacts.find("carol@example.com")
        assert carol is not None
        (item,) = history.timeline(carol).items
        assert STREET in (history.statuses(item)[0].error or "")
        history.erase(carol)
        assert history.statuses(item)[0].error is None
        assert history.verify().ok
        rows = history.store.db.execute("SELECT error, data FROM events").fetchall()  # type: ignore[attr-defined]
    assert all(STREET not in str(row) for row in rows)


def test_the_cli_lists_a_sealed_error_as_sealed(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from omnicx._cli import main

    body, headers = _chat(UNPARSEABLE["time"])
    with (omnicx.open(tmp_path / "h.db", key=KEY) as history,
          pytest.raises(omnicx.PayloadError)):
        history.receive(CHAT, body=body, headers=headers)
    monkeypatch.delenv("OMNICX_KEY", raising=False)
    out = io.StringIO()
    assert main(["--db", str(tmp_path / "h.db"), "quarantine"], out=out) == 0
    assert "(sealed: give the key)" in out.getvalue() and STREET not in out.getvalue()
    monkeypatch.setenv("OMNICX_KEY", base64.b64encode(KEY).decode())
    out = io.StringIO()
    assert main(["--db", str(tmp_path / "h.db"), "quarantine"], out=out) == 0
    assert STREET in out.getvalue()
