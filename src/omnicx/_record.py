"""`History.record`: interactions no provider delivers, through the webhook pipeline.

A call an agent logs, a letter scanned at the mail room, a fax, a visit, a
note, a call a telephony system (CTI) posts: `record` turns the arguments
into a JSON document and hands it to `History.receive` with `Recorded`, an
internal channel adapter. So a recorded interaction is archived as a raw
payload, resolved to a contact by its address, threaded, encrypted,
appended to the contact's hash chain and checked for gaps exactly as a
webhook is: not a side door into the tables.

``external_id`` makes recording the same thing twice a duplicate (the
second call returns the interaction stored the first time); without one,
every call records a new interaction. Attachment bytes (a scanned letter's
PDF) go to a blob store; the interaction keeps their name, type, size,
SHA-256 and blob key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ._blobs import FileBlobStore
from ._enums import Channel, Direction, Kind
from ._errors import ConfigurationError, NotFoundError, PayloadError
from ._events import ChannelEvent, MessageEvent
from ._identity import guess_kind
from ._models import Address, Attachment, Contact, Interaction, utc
from .channels._common import expect, load_json
from .typing import BlobStore

if TYPE_CHECKING:
    from ._history import History

__all__ = ["DEFAULT_ACCOUNT", "Recorded", "payload", "record"]

DEFAULT_ACCOUNT = "recorded"
AttachmentInput = bytes | str | os.PathLike[str] | Attachment
_KINDS = {"phone": Kind.CALL, "video": Kind.CALL, "note": Kind.NOTE}
_SNIFF = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
          (b"\xff\xd8\xff", "image/jpeg"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


@attrs.frozen(kw_only=True)
class Recorded:
    """The internal adapter of `History.record`: one channel (phone, letter...) and account.

    Its payloads are omnicx's own JSON, written in-process by `record`;
    there is no signature to check. It parses what `record` wrote and, like
    every adapter, raises `PayloadError` for anything else.
    """

    channel: Channel = attrs.field(converter=Channel.coerce)  # type: ignore[misc]
    account: str = DEFAULT_ACCOUNT
    # Attachment bytes by SHA-256, for the history's own blob store (sealed there with
    # a key); they travel beside the payload, not in it.
    contents: Mapping[str, bytes] = attrs.field(factory=dict, repr=False, eq=False)
    format: ClassVar[str] = "omnicx.record/1"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Nothing to verify: the payload never left this process."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        name = self.channel.value
        doc = expect(load_json(body, channel=name), dict, "record", channel=name)
        if doc.get("format") != self.format:
            raise PayloadError(f"not an omnicx record: format={doc.get('format')!r}",
                               channel=name)
        try:
            contact = tuple(Address(kind=a["kind"], value=a["value"], name=a.get("name"))
                            for a in doc["contact"])
            attachments = tuple(Attachment(**a) for a in doc.get("attachments", ()))
            occurred = dt.datetime.fromisoformat(doc["occurred_at"])
            return [MessageEvent(
                channel=self.channel, account=self.account, external_id=doc["external_id"],
                direction=doc["direction"], contact=contact, contact_name=doc.get("name"),
                kind=doc["kind"], message_type=doc.get("message_type"), occurred_at=occurred,
                sender=contact[0] if doc["direction"] == "inbound" else None,
                recipients=contact if doc["direction"] == "outbound" else (),
                subject=doc.get("subject"), text=doc.get("text"), attachments=attachments,
                reply_to=doc.get("reply_to"), thread_key=doc.get("thread"),
                data=doc.get("data") or {}, attachment_bytes=self.contents)]
        except PayloadError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PayloadError(f"malformed omnicx record: {type(exc).__name__}: {exc}",
                               channel=name) from exc


def record(
    history: History,
    *,
    contact: Contact | Address | str,
    attachments: Iterable[AttachmentInput] = (),
    blobs: BlobStore | None = None,
    **fields: Any,
) -> Interaction:
    """Record one interaction; see `History.record` (``fields`` are `payload`'s).

    Without ``blobs``, attachment bytes go to the history's blob store
    through the ingest (sealed under the contact's data key with a key,
    erased with them); with ``blobs``, to that store, as given.
    """
    described = [_describe(item) for item in attachments]
    contents: dict[str, bytes] = {}
    stored = []
    for described_attachment, data in described:
        if data is not None and blobs is None and history.blobs is not None:
            contents[described_attachment.sha256 or ""] = data
            stored.append(described_attachment)
        elif data is not None:
            target = blobs if blobs is not None else FileBlobStore("omnicx-media")
            stored.append(attrs.evolve(described_attachment, ref=target.put(
                data, content_type=described_attachment.content_type)))
        else:
            stored.append(described_attachment)
    adapter, body, identifier = payload(
        contact=_addresses(history, contact), attachments=stored, contents=contents,
        **fields)
    receipt = history.receive(adapter, body=body, headers={"Content-Type": "application/json"})
    if receipt.interactions:
        return receipt.interactions[0]
    return _existing(history, adapter, identifier)


def payload(
    *,
    channel: Channel | str,
    direction: Direction | str,
    contact: Sequence[Address],
    occurred_at: dt.datetime | None = None,
    text: str | None = None,
    subject: str | None = None,
    duration: dt.timedelta | float | None = None,
    attachments: Sequence[Attachment] = (),
    external_id: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    kind: Kind | str | None = None,
    name: str | None = None,
    reply_to: str | None = None,
    thread: str | None = None,
    data: Mapping[str, Any] | None = None,
    contents: Mapping[str, bytes] | None = None,
) -> tuple[Recorded, bytes, str]:
    """The adapter, the body `History.receive` gets, and the external id of one record."""
    adapter = Recorded(channel=channel, account=account, contents=dict(contents or {}))
    direction = Direction.coerce(direction)
    when = utc(occurred_at) if occurred_at is not None else dt.datetime.now(dt.UTC)
    details: dict[str, Any] = dict(data or {})
    if duration is not None:
        seconds = duration.total_seconds() if isinstance(duration, dt.timedelta) else float(
            duration)
        if seconds < 0:
            raise ConfigurationError(f"duration must not be negative: {duration!r}")
        details["duration_seconds"] = seconds
    identifier = external_id or f"rec:{uuid.uuid4()}"
    document = {
        "format": Recorded.format, "external_id": identifier, "direction": direction.value,
        "kind": Kind.coerce(kind).value if kind else _KINDS.get(adapter.channel.value,
                                                                Kind.MESSAGE).value,
        "message_type": adapter.channel.value, "occurred_at": when.isoformat(),
        "contact": [{"kind": a.kind.value, "value": a.value, "name": a.name or name}
                    for a in contact],
        "name": name, "subject": subject, "text": text, "reply_to": reply_to,
        "thread": thread, "data": details,
        "attachments": [attrs.asdict(a) for a in attachments],
    }
    body = json.dumps(document, ensure_ascii=False, default=str).encode()
    return adapter, body, identifier


def _addresses(history: History, contact: Contact | Address | str) -> list[Address]:
    if isinstance(contact, Address):
        return [contact]
    if isinstance(contact, str):
        return [Address(kind=guess_kind(contact), value=contact)]
    if isinstance(contact, Contact):
        current = history.contacts.get(contact.id)
        if current.addresses:
            return [current.addresses[0]]  # one suffices: it resolves to the whole contact
        raise ConfigurationError(
            f"contact #{contact.id} has no address to record against; pass an Address")
    raise ConfigurationError(f"contact must be a Contact, an Address or a string, not "
                             f"{type(contact).__name__}")


def _describe(item: AttachmentInput) -> tuple[Attachment, bytes | None]:
    """An attachment's metadata, and its bytes when it came as bytes or a file."""
    if isinstance(item, Attachment):
        return item, None
    if isinstance(item, (bytes, bytearray, memoryview)):
        data, filename = bytes(item), None
    else:
        path = Path(item)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read attachment {path}: {exc}") from exc
        filename = path.name
    content_type = (mimetypes.guess_type(filename)[0] if filename else None) or next(
        (kind for magic, kind in _SNIFF if data.startswith(magic)), "application/octet-stream")
    return Attachment(filename=filename, content_type=content_type, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest()), data


def _existing(history: History, adapter: Recorded, external_id: str) -> Interaction:
    with history.store.reading() as tx:
        refs = tx.interaction_refs(adapter.channel.value, adapter.account, {external_id})
    ref = refs.get(external_id)
    if ref is None:  # pragma: no cover - the receipt said duplicate, so it is there
        raise NotFoundError(f"no recorded interaction {external_id!r}")
    return history.interaction(ref.id)
