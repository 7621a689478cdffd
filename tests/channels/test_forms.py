"""WebForm: signed JSON, URL-encoded and multipart posts, Typeform's webhook, fuzzing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicx
from omnicx import ConfigurationError, MessageEvent, OmnicxError, PayloadError, SignatureError
from omnicx._blobs import MemoryBlobStore
from omnicx.channels import WebForm

FORM = WebForm(form="contact", secret="form-secret", default_region="CH")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

# Typeform's documented example shape (developers/webhooks/example-payload): a
# form_response with its definition and answers referring to fields by id and ref.
TYPEFORM = {
    "event_id": "01E1FT3ZBHA2WA9AZSA2KPJ6RJ",
    "event_type": "form_response",
    "form_response": {
        "form_id": "lT4Z3j", "token": "a3a12ec67a1365927098a606107fac15",
        "landed_at": "2018-01-18T18:07:02Z", "submitted_at": "2018-01-18T18:17:02Z",
        "hidden": {"order": "A-1042"},
        "definition": {"id": "lT4Z3j", "title": "Complaint", "fields": [
            {"id": "DlXFaesGBpoF", "title": "Your email", "type": "email", "ref": "email"},
            {"id": "SMEUb7VJz92Q", "title": "Your name", "type": "short_text", "ref": "name"},
            {"id": "JwWggjAKtOkA", "title": "What happened?", "type": "long_text",
             "ref": "problem"},
            {"id": "k6TP9oLGgHjl", "title": "Topic", "type": "multiple_choice", "ref": "topic"},
            {"id": "NRsxU591jIW9", "title": "Photo", "type": "file_upload", "ref": "photo"}]},
        "answers": [
            {"type": "email", "email": "Anna.Keller@Example.ch",
             "field": {"id": "DlXFaesGBpoF", "type": "email", "ref": "email"}},
            {"type": "text", "text": "Anna Keller",
             "field": {"id": "SMEUb7VJz92Q", "type": "short_text", "ref": "name"}},
            {"type": "text", "text": "The parcel arrived broken.",
             "field": {"id": "JwWggjAKtOkA", "type": "long_text", "ref": "problem"}},
            {"type": "choice", "choice": {"label": "Damaged goods"},
             "field": {"id": "k6TP9oLGgHjl", "type": "multiple_choice", "ref": "topic"}},
            {"type": "file_url",
             "file_url": "https://api.typeform.com/forms/lT4Z3j/responses/a3a1/fields/NRsx"
                         "/files/photo.jpg",
             "field": {"id": "NRsxU591jIW9", "type": "file_upload", "ref": "photo"}}]},
}


def _one(form: WebForm, body: bytes, content_type: str | None = None) -> MessageEvent:
    headers = {"Content-Type": content_type} if content_type else {}
    (event,) = form.parse(body, headers)
    assert isinstance(event, MessageEvent)
    return event


def test_a_signed_json_post() -> None:
    body = json.dumps({"submission_id": "f-1", "email": "anna.keller@example.ch",
                       "phone": "079 123 45 67", "name": "Anna Keller",
                       "subject": "Invoice", "message": "Please resend the invoice.",
                       "submitted_at": "2026-11-02T09:00:00+01:00", "newsletter": True}).encode()
    FORM.verify(body, FORM.sign(body))
    event = _one(FORM, body, "application/json")
    assert (event.channel, event.account, event.external_id, event.kind) == (
        "webform", "contact", "f-1", "form")
    assert [str(a) for a in event.contact] == ["email:anna.keller@example.ch",
                                               "phone:+41791234567"]
    assert (event.subject, event.text, event.contact_name) == (
        "Invoice", "Please resend the invoice.", "Anna Keller")
    assert event.occurred_at is not None and event.occurred_at.hour == 8
    assert event.data["fields"] == {"newsletter": True}


def test_a_url_encoded_post_with_its_own_field_names() -> None:
    form = WebForm(form="wp", secret="s", fields={"email": "your-email", "text": "your-msg"})
    body = b"your-email=ANNA%40example.ch&your-msg=Hallo+Welt&page=%2Fkontakt"
    event = _one(form, body, "application/x-www-form-urlencoded")
    assert event.contact[0].value == "anna@example.ch" and event.text == "Hallo Welt"
    assert event.external_id == "sha256:" + hashlib.sha256(body).hexdigest()
    assert event.data["fields"] == {"page": "/kontakt"}


def test_a_multipart_post_with_a_file_upload() -> None:
    blobs = MemoryBlobStore()
    form = WebForm(form="claims", secret="s", blobs=blobs)
    request = httpx.Request("POST", "https://crm.example.ch/forms", data={
        "email": "anna.keller@example.ch", "message": "Grüße, see the scan"},
        files={"scan": ("brief.pdf", PDF, "application/pdf")})
    body = request.read()
    event = _one(form, body, request.headers["Content-Type"])
    assert event.text == "Grüße, see the scan"
    (attachment,) = event.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "brief.pdf", "application/pdf", len(PDF))
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.ref is not None and blobs.get(attachment.ref) == PDF


def test_uploads_over_the_limit_are_refused() -> None:
    form = WebForm(form="claims", secret="s", max_upload_bytes=10)
    request = httpx.Request("POST", "https://x.example", data={"email": "a@example.ch"},
                            files={"scan": ("brief.pdf", PDF, "application/pdf")})
    with pytest.raises(PayloadError):
        form.parse(request.read(), {"Content-Type": request.headers["Content-Type"]})


def test_typeform_webhooks_with_their_base64_signature() -> None:
    form = WebForm.typeform(form="complaints", secret="typeform-secret",
                            fields={"email": "email", "name": "name", "text": "problem"})
    body = json.dumps(TYPEFORM).encode()
    digest = hmac.digest(b"typeform-secret", body, "sha256")
    form.verify(body, {"Typeform-Signature": "sha256=" + base64.b64encode(digest).decode()})
    with pytest.raises(SignatureError):
        form.verify(body, {"Typeform-Signature": "sha256=" + digest.hex()})
    event = _one(form, body, "application/json")
    assert event.external_id == "a3a12ec67a1365927098a606107fac15"
    assert event.contact[0].value == "anna.keller@example.ch"
    assert event.contact_name == "Anna Keller" and event.text == "The parcel arrived broken."
    assert event.subject == "Damaged goods"  # "topic" is one of the subject's default names
    assert set(event.data["fields"]) == {"photo", "order"}
    assert event.data["fields"]["order"] == "A-1042"
    assert event.attachments[0].filename == "photo.jpg"
    assert event.occurred_at is not None and event.occurred_at.minute == 17


@pytest.mark.parametrize("headers", [{}, {"X-Omnicx-Signature": "sha256=00"},
                                     {"X-Omnicx-Signature": "md5=abc"}])
def test_unsigned_or_forged_posts_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        FORM.verify(b'{"email": "a@example.ch"}', headers)


def test_a_form_needs_a_secret_or_an_explicit_unsigned() -> None:
    with pytest.raises(ConfigurationError):
        WebForm(form="x").verify(b"{}", {})
    WebForm(form="x", unsigned=True).verify(b"{}", {})
    with pytest.raises(ConfigurationError):
        WebForm(form="x", fields={"mobile": "m"})


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"name": "no address"}', "application/json"),
    (b'{"email": "not-an-email", "phone": "12"}', "application/json"),
    (b"[1]", "application/json"),
    (b"email=%FF", "application/x-www-form-urlencoded"),
    (b"--x\r\nno boundary here", "multipart/form-data"),
])
def test_malformed_posts_are_payload_errors(body: bytes, content_type: str) -> None:
    with pytest.raises(PayloadError):
        FORM.parse(body, {"Content-Type": content_type})


@pytest.mark.parametrize(("when", "expected"), [
    ("yesterday", None), ("1762074840", dt.datetime(2025, 11, 2, 9, 14, tzinfo=dt.UTC)),
    ("1762074840000", dt.datetime(2025, 11, 2, 9, 14, tzinfo=dt.UTC)),
    ("2025-11-02 10:14:00+01:00", dt.datetime(2025, 11, 2, 9, 14, tzinfo=dt.UTC))])
def test_a_submission_time_that_is_not_one_never_costs_the_submission(
        when: str, expected: dt.datetime | None) -> None:
    event = _one(FORM, json.dumps({"email": "a@example.ch", "submitted_at": when}).encode(),
                 "application/json")
    assert event.occurred_at == expected
    if expected is None:
        assert event.data["fields"]["invalid_submitted_at"] == when


def test_an_invalid_address_beside_a_valid_one_is_kept_aside() -> None:
    event = _one(FORM, b'{"email": "anna@example.ch", "phone": "call me"}', "application/json")
    assert event.data["fields"]["invalid_addresses"] == {"phone": "call me"}


def test_through_history_redelivery_is_a_duplicate_and_bad_posts_are_kept(
        tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        body = b'{"email": "anna@example.ch", "message": "Hi", "submission_id": "s-9"}'
        first = history.receive(FORM, body=body, headers=FORM.sign(body))
        again = history.receive(FORM, body=body, headers=FORM.sign(body))
        assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
        bad = b'{"message": "who am I"}'
        with pytest.raises(PayloadError) as raised:
            history.receive(FORM, body=bad, headers=FORM.sign(bad))
        assert history.quarantine()[0].id == raised.value.quarantine_id
        # A field that merely is called "id" does not make two submissions one.
        one, two = (b'{"email": "anna@example.ch", "id": "product-7", "message": "%d"}' % n
                    for n in (1, 2))
        for post in (one, two):
            assert history.receive(FORM, body=post, headers=FORM.sign(post)).stored == 1


fields = st.dictionaries(
    st.sampled_from(["email", "phone", "name", "message", "subject", "id", "submitted_at", "x"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.text(max_size=5)),
              st.sampled_from(["anna@example.ch", "+41791234567", "2026-01-01T00:00:00Z"])),
    max_size=8)


@given(fields)
def test_fuzzed_json_forms_parse_or_raise_payload_error(document: dict[str, object]) -> None:
    try:
        (event,) = FORM.parse(json.dumps(document).encode(), {"Content-Type": "application/json"})
    except OmnicxError as exc:
        assert isinstance(exc, PayloadError)
        assert document.get("email") != "anna@example.ch"  # a usable address is never refused
        return
    assert isinstance(event, MessageEvent) and event.kind == "form"
    if document.get("email") == "anna@example.ch":
        assert event.contact[0] == omnicx.Address(kind="email", value="anna@example.ch")
    unmapped = {k for k in document if k == "x"}
    assert unmapped <= set(event.data["fields"])


@given(st.binary(max_size=300), st.sampled_from([
    "multipart/form-data; boundary=x", "multipart/form-data", "application/json",
    "application/x-www-form-urlencoded", None]))
def test_random_bytes_parse_or_raise_payload_error(body: bytes, content_type: str | None) -> None:
    for form in (FORM, WebForm.typeform(form="t", secret="s", fields={"email": "e"})):
        try:
            form.parse(body, {"Content-Type": content_type} if content_type else {})
        except OmnicxError as exc:
            assert isinstance(exc, PayloadError)


@given(st.lists(st.tuples(st.sampled_from(["email", "message", "f", ""]),
                          st.binary(max_size=30), st.booleans()), max_size=5))
def test_fuzzed_multipart_forms(parts: list[tuple[str, bytes, bool]]) -> None:
    chunks = []
    for name, data, is_file in parts:
        filename = '; filename="f.bin"' if is_file else ""
        chunks.append(b'--b\r\nContent-Disposition: form-data; name="' + name.encode() + b'"'
                      + filename.encode() + b"\r\n\r\n" + data + b"\r\n")
    body = b"".join(chunks) + b"--b--\r\n"
    try:
        FORM.parse(body, {"Content-Type": "multipart/form-data; boundary=b"})
    except OmnicxError as exc:
        assert isinstance(exc, PayloadError)
