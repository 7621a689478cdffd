"""WebForm: contact forms and form builders' webhooks as interactions.

A form post arrives as JSON, ``application/x-www-form-urlencoded`` or
``multipart/form-data`` (with file uploads), signed with an HMAC-SHA256 of
the raw body in a header whose name, prefix and encoding (hex or base64)
are configurable, so that a website's own backend and a form builder's
webhook are read by the same adapter.

``fields`` maps what omnicx needs to the form's field names: ``email``,
``phone`` and ``name`` (the contact), ``subject`` and ``text`` (the
interaction), ``id`` (the submission id that makes a redelivery a
duplicate; without one, the hash of the body is used) and ``submitted_at``.
Every other field is kept in the interaction's ``data["fields"]``. A
builder whose payload is not flat plugs in a *reader* that flattens it:
`WebForm.typeform` reads Typeform's ``form_response`` webhook (answers by
field ``ref``, ``Typeform-Signature: sha256=<base64>``).

Multipart bodies are parsed with the standard library's ``email`` package;
each uploaded file becomes an `Attachment` (name, type, size, SHA-256).
With ``blobs=`` the bytes are also put in that blob store (``ref`` is their
key); either way they stay in the archived raw payload.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.errors
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import attrs

from .._enums import AddressKind, Channel, Direction, Kind
from .._errors import ConfigurationError, PayloadError, SignatureError
from .._events import ChannelEvent, MessageEvent
from .._identity import check_region, normalise_email, normalise_phone
from .._models import Address, Attachment
from ..typing import BlobStore
from ._common import get_header, load_json, parse_epoch, require_secret

__all__ = ["DEFAULT_FIELDS", "FormData", "Upload", "WebForm", "read_form", "read_typeform"]

_CHANNEL = "webform"
MAX_FIELDS = 1000

DEFAULT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "mail", "your-email"),
    "phone": ("phone", "tel", "telephone", "mobile", "your-phone"),
    "name": ("name", "full_name", "your-name"),
    "subject": ("subject", "topic", "your-subject"),
    "text": ("message", "text", "body", "comments", "your-message"),
    # Never a bare "id": a form's own "id" field (a product, an order) is not
    # unique per submission, and a false duplicate would lose a submission.
    "id": ("submission_id",),
    "submitted_at": ("submitted_at", "created_at", "timestamp"),
}
ROLES = frozenset(DEFAULT_FIELDS)


@attrs.frozen(kw_only=True)
class Upload:
    """A file that came with a form post."""

    field: str
    filename: str | None
    content_type: str
    data: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class FormData:
    """A form post made flat: field name to value, plus uploads and links to files.

    ``files`` are files the builder hosts (URLs), ``uploads`` files posted
    with the form. ``meta`` holds what a reader knows besides the fields
    (the builder's submission id and time under ``"id"`` / ``"submitted_at"``).
    """

    fields: Mapping[str, Any]
    uploads: tuple[Upload, ...] = ()
    files: tuple[str, ...] = ()
    meta: Mapping[str, Any] = attrs.Factory(dict)


Reader = Callable[[bytes, "str | None"], FormData]


def _roles(value: Mapping[str, str | Sequence[str]]) -> Mapping[str, tuple[str, ...]]:
    unknown = set(value) - ROLES
    if unknown:
        raise ConfigurationError(f"unknown WebForm field roles {sorted(unknown)}; "
                                 f"known: {sorted(ROLES)}")
    merged = dict(DEFAULT_FIELDS)
    for role, names in value.items():
        merged[role] = (names,) if isinstance(names, str) else tuple(names)
    return merged


@attrs.frozen(kw_only=True)
class WebForm:
    """One web form (or form builder webhook): ``form`` names it and is the channel's account.

    ``secret`` verifies the HMAC-SHA256 signature in ``signature_header``
    (``signature_prefix`` + hex, or base64 with ``signature_encoding="base64"``);
    ``unsigned=True`` accepts unsigned posts instead (only behind your own
    authentication). ``fields`` overrides `DEFAULT_FIELDS` per role.
    ``reader`` turns a body into `FormData` (`read_form` by default).
    """

    form: str = attrs.field(validator=attrs.validators.min_len(1))
    secret: str | bytes | None = attrs.field(default=None, repr=False, validator=require_secret)
    unsigned: bool = False
    signature_header: str = "X-Omnicx-Signature"
    signature_prefix: str = "sha256="
    signature_encoding: str = attrs.field(
        default="hex", validator=attrs.validators.in_(("hex", "base64")))
    fields: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=lambda: dict(DEFAULT_FIELDS), converter=_roles)
    reader: Reader = attrs.field(factory=lambda: read_form, repr=False, eq=False)
    default_region: str | None = attrs.field(default=None, converter=check_region)
    blobs: BlobStore | None = attrs.field(default=None, repr=False, eq=False)
    max_upload_bytes: int = 25 * 1024 * 1024
    channel: ClassVar[Channel] = Channel.WEBFORM

    @classmethod
    def typeform(cls, *, form: str, secret: str | bytes,
                 fields: Mapping[str, str | Sequence[str]], **options: Any) -> WebForm:
        """A Typeform webhook: ``fields`` maps roles to the questions' ``ref`` values."""
        return cls(form=form, secret=secret, signature_header="Typeform-Signature",
                   signature_encoding="base64", fields=fields, reader=read_typeform, **options)

    @property
    def account(self) -> str:
        return self.form

    # -- signature ----------------------------------------------------------------------

    def _signature(self, body: bytes) -> str:
        if not self.secret:
            raise ConfigurationError("WebForm needs secret= to sign or verify posts")
        key = self.secret.encode() if isinstance(self.secret, str) else self.secret
        digest = hmac.digest(key, body, "sha256")
        encoded = digest.hex() if self.signature_encoding == "hex" else (
            base64.b64encode(digest).decode("ascii"))
        return self.signature_prefix + encoded

    def sign(self, body: bytes) -> dict[str, str]:
        """Headers that authenticate ``body`` (for your website's backend and for tests)."""
        return {self.signature_header: self._signature(body)}

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        if self.unsigned and not self.secret:
            return
        if not self.secret:
            raise ConfigurationError(
                "WebForm needs secret= (or unsigned=True behind your own authentication)")
        given = get_header(headers, self.signature_header)
        if not given:
            raise SignatureError(f"missing {self.signature_header}")
        expected = self._signature(body)
        if self.signature_encoding == "hex":
            given = given.strip().lower()
        if not hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace")):
            raise SignatureError(f"{self.signature_header} does not match the body")

    # -- parsing --------------------------------------------------------------------------

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        data = self.reader(body, get_header(headers, "Content-Type"))
        values = data.fields

        def pick(role: str) -> str | None:
            for name in self.fields[role]:
                value = values.get(name)
                if isinstance(value, (list, tuple)):
                    value = value[0] if value else None
                if value is not None and not isinstance(value, (dict, list)):
                    text = str(value).strip()
                    if text:
                        return text
            return None

        used = {name for names in self.fields.values() for name in names}
        extra = {k: v for k, v in values.items() if k not in used}
        contact, invalid = self._contact(pick("email"), pick("phone"), pick("name"))
        if invalid:
            extra["invalid_addresses"] = invalid
        attachments = [self._attachment(upload) for upload in data.uploads]
        attachments += [Attachment(filename=url.rsplit("/", 1)[-1] or None, ref=url)
                        for url in data.files]
        submission = pick("id") or _meta_str(data.meta, "id") or (
            "sha256:" + hashlib.sha256(body).hexdigest())
        when = pick("submitted_at") or _meta_str(data.meta, "submitted_at")
        occurred = _form_time(when) if when else None
        if when and occurred is None:
            extra["invalid_submitted_at"] = when  # the receive time stands in; the post is kept
        return [MessageEvent(
            channel=Channel.WEBFORM,
            account=self.form,
            external_id=submission,
            direction=Direction.INBOUND,
            contact=contact,
            contact_name=pick("name"),
            kind=Kind.FORM,
            message_type="form",
            occurred_at=occurred,
            sender=contact[0],
            subject=pick("subject"),
            text=pick("text"),
            attachments=tuple(attachments),
            data={"fields": extra, **({"meta": dict(data.meta)} if data.meta else {})},
        )]

    def _contact(self, email_value: str | None, phone_value: str | None, name: str | None
                 ) -> tuple[tuple[Address, ...], dict[str, str]]:
        addresses: list[Address] = []
        invalid: dict[str, str] = {}
        if email_value:
            try:
                addresses.append(Address(kind=AddressKind.EMAIL,
                                         value=normalise_email(email_value), name=name))
            except PayloadError:
                invalid["email"] = email_value
        if phone_value:
            try:
                number = normalise_phone(phone_value, self.default_region)
                addresses.append(Address(kind=AddressKind.PHONE, value=number, name=name))
            except PayloadError:
                invalid["phone"] = phone_value
        if not addresses:
            problem = f" (invalid: {', '.join(sorted(invalid))})" if invalid else ""
            raise PayloadError(f"form {self.form!r}: no usable email or phone field{problem}",
                               channel=_CHANNEL)
        return tuple(addresses), invalid

    def _attachment(self, upload: Upload) -> Attachment:
        if len(upload.data) > self.max_upload_bytes:
            raise PayloadError(f"upload {upload.filename!r} is over max_upload_bytes="
                               f"{self.max_upload_bytes}", channel=_CHANNEL)
        ref = None
        if self.blobs is not None:
            ref = self.blobs.put(upload.data, content_type=upload.content_type)
        return Attachment(filename=upload.filename, content_type=upload.content_type,
                          size=len(upload.data), sha256=hashlib.sha256(upload.data).hexdigest(),
                          ref=ref)


# -- readers ----------------------------------------------------------------------------------


def read_form(body: bytes, content_type: str | None) -> FormData:
    """A flat form post: JSON object, URL-encoded or multipart (with uploads)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        return _read_multipart(body, content_type or "")
    if kind == "application/json" or (not kind and body.lstrip()[:1] == b"{"):
        document = load_json(body, channel=_CHANNEL)
        if not isinstance(document, dict):
            raise PayloadError("form JSON is not an object", channel=_CHANNEL)
        return FormData(fields=document)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict",
                          max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise PayloadError(f"not a URL-encoded form: {exc}", channel=_CHANNEL) from exc
    fields: dict[str, Any] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return FormData(fields=fields)


def _read_multipart(body: bytes, content_type: str) -> FormData:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode(
        "utf-8", "replace")
    try:
        message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        usable = message.is_multipart() and not any(
            isinstance(d, (email.errors.NoBoundaryInMultipartDefect,
                           email.errors.StartBoundaryNotFoundDefect,
                           email.errors.MultipartInvariantViolationDefect))
            for d in message.defects)
        parts = list(message.iter_parts()) if usable else []
        fields: dict[str, Any] = {}
        uploads: list[Upload] = []
        for part in parts[:MAX_FIELDS]:
            _read_part(part, fields, uploads)
    except (ValueError, TypeError, LookupError, AttributeError, email.errors.MessageError,
            RecursionError) as exc:
        raise PayloadError(f"unreadable multipart form: {type(exc).__name__}: {exc}",
                           channel=_CHANNEL) from exc
    if not usable:
        raise PayloadError("multipart form without a usable boundary", channel=_CHANNEL)
    if len(parts) > MAX_FIELDS:
        raise PayloadError(f"more than {MAX_FIELDS} form fields", channel=_CHANNEL)
    return FormData(fields=fields, uploads=tuple(uploads))


def _read_part(part: Message, fields: dict[str, Any], uploads: list[Upload]) -> None:
    name = part.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        return  # not a form field (RFC 7578 requires a name): nothing to read
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    filename = part.get_filename()
    if filename is not None or part.get_content_type() not in ("text/plain",):
        uploads.append(Upload(field=name, filename=filename or None,
                              content_type=part.get_content_type(), data=data))
        return
    charset = part.get_content_charset() or "utf-8"
    fields.setdefault(name, data.decode(charset, "replace"))


def read_typeform(body: bytes, content_type: str | None) -> FormData:
    """Typeform's ``form_response`` webhook, answers flattened by field ``ref`` (else id).

    Answer values: text, email, phone_number, url, number, boolean, date,
    a choice's label, choices' labels, ``file_url`` (a file Typeform hosts).
    ``hidden`` fields are fields too. The response ``token`` is the id.
    """
    document = load_json(body, channel=_CHANNEL)
    response = document.get("form_response") if isinstance(document, dict) else None
    if not isinstance(response, dict):
        raise PayloadError("not a Typeform form_response webhook", channel=_CHANNEL)
    answers = response.get("answers") or []
    if not isinstance(answers, list):
        raise PayloadError("form_response.answers is not a list", channel=_CHANNEL)
    fields: dict[str, Any] = {}
    files: list[str] = []
    for answer in answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("field"), dict):
            raise PayloadError("a Typeform answer without its field", channel=_CHANNEL)
        kind = answer.get("type")
        value = answer.get(kind) if isinstance(kind, str) else None
        if kind == "choice" and isinstance(value, dict):
            value = value.get("label") or value.get("other")
        elif kind == "choices" and isinstance(value, dict):
            labels = value.get("labels")
            value = [*(labels if isinstance(labels, list) else []),
                     *([value["other"]] if value.get("other") else [])]
        elif kind == "file_url" and isinstance(value, str):
            files.append(value)
        field = answer["field"]
        ref = field.get("ref") or field.get("id")  # the readable ref when the form has one
        if isinstance(ref, str) and ref:
            fields.setdefault(ref, value)
    hidden = response.get("hidden")
    if isinstance(hidden, dict):
        for key, value in hidden.items():
            fields.setdefault(str(key), value)
    meta = {key: response[key] for key in ("form_id", "token", "landed_at", "submitted_at")
            if isinstance(response.get(key), str)}
    if "token" in meta:
        meta["id"] = meta["token"]
    if isinstance(document.get("event_id"), str):
        meta["event_id"] = document["event_id"]
    return FormData(fields=fields, files=tuple(files), meta=meta)


def _meta_str(meta: Mapping[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


def _form_time(value: str) -> dt.datetime | None:
    """ISO 8601 or Unix seconds (milliseconds if large), as UTC; ``None`` if neither."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        try:
            return parse_epoch(text, channel=_CHANNEL)
        except PayloadError:
            return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
