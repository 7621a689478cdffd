"""The bulk path's shortcuts give what the general code they stand in for gives."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata

import attrs
import pytest

from omnicx._feed import _json
from omnicx._ingest import about
from omnicx._search import _words, document_terms, word_stems
from omnicx.storage._base import RawPayload

AT = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)


def test_about_copies_every_field_as_evolve_does() -> None:
    values = {"id": 7, "channel": "webchat", "account": "site", "received_at": AT,
              "headers": {"x": "1"}, "body": b"{}", "state": "quarantined", "error": "bad",
              "sealed": b"s", "contact_id": None}
    # Every field is set to a non-default value above: a new field fails here.
    assert sorted(values) == sorted(a.name for a in attrs.fields(RawPayload))
    raw = RawPayload(**values)
    assert about(raw, 3) == attrs.evolve(raw, contact_id=3)
    assert about(raw, None) is raw


@pytest.mark.parametrize("data", [
    {"b": 1, "a": None, "ü": "é\n\"\u2028", "n": [1, 2.5, {"z": True, "y": False}]},
    {"at": AT, "f": float("inf")},
    {},
])
def test_change_data_is_the_encoder_s_text(data: dict[str, object]) -> None:
    expected = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str).encode(
        data) if data else "{}"
    assert _json(data) == expected


@pytest.mark.parametrize("text", [
    "Where is my parcel? Order #100042.", "Übergabe café l'envoi E-Mail x", "e\u0301te\u0301",
    "\ufb01 \u00bay \uff21\uff22 12", "a" * 41 + " ok", "Pakete_und deliveries", "",
])
def test_document_terms_are_the_stems_of_every_word(text: str) -> None:
    expected = [t for part in (text, text) if part
                for m in _words(unicodedata.normalize("NFC", part))
                for t in word_stems(m.group())]
    assert document_terms(text, text) == expected


def test_a_new_interaction_is_the_one_its_constructor_makes() -> None:
    from omnicx import Attachment, Interaction
    from omnicx._enums import Status
    from omnicx._events import MessageEvent
    from omnicx._ingest import new_interaction
    from omnicx._models import INTERACTION_FIELDS, Address

    # It sets every slot itself, so it must name every field there is.
    assert sorted(INTERACTION_FIELDS) == sorted(a.name for a in attrs.fields(Interaction))
    event = MessageEvent(
        channel="whatsapp", account="acct", external_id="wamid.1", direction="outbound",
        contact=(Address(kind="phone", value="+41791234567"),), kind="message",
        message_type="text", occurred_at=AT,
        sender=Address(kind="phone", value="+41445551234", name="Shop"),
        recipients=(Address(kind="phone", value="+41791234567", name="Anna"),),
        subject="Parcel", text="Where is it?", html="<p>Where is it?</p>",
        attachments=(Attachment(filename="a.pdf", content_type="application/pdf", size=3,
                                sha256="ab" * 32),),
        reply_to="wamid.0", status=Status.SENT, data={"n": [1, 2]})
    received = AT + dt.timedelta(seconds=2)
    made = new_interaction(event, 7, 3, 5, AT, received, 11)
    expected = Interaction(
        id=7, contact_id=3, conversation_id=5, channel=event.channel, account=event.account,
        direction=event.direction, kind=event.kind, message_type=event.message_type,
        external_id=event.external_id, occurred_at=AT, received_at=received,
        sender=event.sender, recipients=event.recipients, subject=event.subject,
        text=event.text, html=event.html, attachments=event.attachments,
        reply_to=event.reply_to, status=event.status, data=event.data, raw_id=11)
    assert made == expected
    assert type(made) is Interaction
    assert repr(made) == repr(expected)
    assert hash(made.channel) == hash(expected.channel)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.text = "changed"  # type: ignore[misc]
