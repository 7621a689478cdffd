"""The NUL rule: what becomes of a U+0000 character on its way into a store.

PostgreSQL's text type cannot hold U+0000 at all, SQLite and Python can; a
payload carrying one (a JSON ``"\\u0000"``, a NUL byte in a mail header or
body) must not be stored differently, or refused, depending on the backend.
The rule, the same for every backend because it is applied before any store
sees the values:

- every string of a parsed event that is stored as text (ids, account,
  addresses and names, subject, text, html, message type, thread keys,
  attachment metadata, an update's error) has each U+0000 replaced by
  U+FFFD, the Unicode replacement character;
- ``data`` (the provider's own JSON object) keeps its strings as they are:
  it is stored as JSON, which escapes U+0000 as ``\\u0000``, and it reads
  back unchanged on every backend;
- the raw payload keeps the original bytes: its body is stored verbatim and
  its headers as JSON, so a replay sees exactly what arrived.

The check is a substring test per field, so the common case (no NUL
anywhere) costs about a microsecond per event and allocates nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from ._events import ChannelEvent, MessageEvent, StreamPosition, UpdateEvent, WatermarkEvent
from ._models import Address, Attachment
from .storage._base import RawPayload

__all__ = ["NUL", "REPLACEMENT", "scrub", "scrub_event", "scrub_events", "scrub_raw"]

NUL = "\x00"
REPLACEMENT = "\ufffd"


def scrub(value: str) -> str:
    """``value`` with every U+0000 replaced by U+FFFD."""
    return value.replace(NUL, REPLACEMENT) if NUL in value else value


def _opt(value: str | None) -> str | None:
    return None if value is None else scrub(value)


def _has_nul(values: Iterable[str | None]) -> bool:
    return any(v is not None and NUL in v for v in values)


def _address_dirty(address: Address) -> bool:
    return NUL in address.value or (address.name is not None and NUL in address.name)


def _address(address: Address) -> Address:
    if not _address_dirty(address):
        return address
    # The value is normalised already, and U+FFFD changes no normal form:
    # set the fields as a stored row does, without normalising again.
    clean = object.__new__(Address)
    object.__setattr__(clean, "kind", address.kind)
    object.__setattr__(clean, "value", scrub(address.value))
    object.__setattr__(clean, "name", _opt(address.name))
    return clean


def _addresses(addresses: Sequence[Address]) -> tuple[Address, ...]:
    return tuple(_address(a) for a in addresses)


def _attachment_dirty(item: Attachment) -> bool:
    return _has_nul((item.filename, item.content_type, item.sha256, item.ref))


def _attachment(item: Attachment) -> Attachment:
    if not _attachment_dirty(item):
        return item
    return attrs.evolve(item, filename=_opt(item.filename), content_type=scrub(item.content_type),
                        sha256=_opt(item.sha256), ref=_opt(item.ref))


def _message_dirty(e: MessageEvent) -> bool:
    # One substring test over the fields joined, rather than a test per field:
    # this runs for every event, and a join is a single C loop.
    texts = [e.account, e.external_id, e.contact_name, e.message_type, e.subject, e.text,
             e.html, e.reply_to, e.thread_key, *e.thread_refs]
    for address in e.contact:
        texts += (address.value, address.name)
    for address in e.recipients:
        texts += (address.value, address.name)
    if e.sender is not None:
        texts += (e.sender.value, e.sender.name)
    for item in e.attachments:
        texts += (item.filename, item.content_type, item.sha256, item.ref)
    if e.sequence is not None:
        texts.append(e.sequence.stream)
    return NUL in "".join(filter(None, texts))


def _message(e: MessageEvent) -> MessageEvent:
    sequence = e.sequence
    if sequence is not None and NUL in sequence.stream:
        sequence = StreamPosition(stream=scrub(sequence.stream), number=sequence.number,
                                  gap_kind=sequence.gap_kind, first=sequence.first)
    return attrs.evolve(
        e, account=scrub(e.account), external_id=scrub(e.external_id),
        contact=_addresses(e.contact), contact_name=_opt(e.contact_name),
        message_type=_opt(e.message_type),
        sender=None if e.sender is None else _address(e.sender),
        recipients=_addresses(e.recipients), subject=_opt(e.subject), text=_opt(e.text),
        html=_opt(e.html), attachments=tuple(_attachment(a) for a in e.attachments),
        reply_to=_opt(e.reply_to), thread_refs=tuple(scrub(r) for r in e.thread_refs),
        thread_key=_opt(e.thread_key), sequence=sequence)


def _update_dirty(e: UpdateEvent) -> bool:
    return (_has_nul((e.account, e.target, e.event_id, e.error))
            or any(_address_dirty(a) for a in e.contact))


def _update(e: UpdateEvent) -> UpdateEvent:
    return attrs.evolve(e, account=scrub(e.account), target=scrub(e.target),
                        event_id=scrub(e.event_id), error=_opt(e.error),
                        contact=_addresses(e.contact))


def _watermark_dirty(e: WatermarkEvent) -> bool:
    return (_has_nul((e.account, e.through))
            or any(_address_dirty(a) for a in e.contact))


def _watermark(e: WatermarkEvent) -> WatermarkEvent:
    return attrs.evolve(e, account=scrub(e.account), through=_opt(e.through),
                        contact=_addresses(e.contact))


def scrub_event(event: ChannelEvent) -> ChannelEvent:
    """``event`` under the NUL rule (the same object when it has no U+0000)."""
    if isinstance(event, MessageEvent):
        return _message(event) if _message_dirty(event) else event
    if isinstance(event, UpdateEvent):
        return _update(event) if _update_dirty(event) else event
    return _watermark(event) if _watermark_dirty(event) else event


def scrub_events(events: Iterable[ChannelEvent]) -> list[ChannelEvent]:
    """Every event under the NUL rule, in order."""
    return [scrub_event(e) for e in events]


def scrub_raw(raw: RawPayload) -> RawPayload:
    """A raw payload's text columns under the NUL rule; its body and headers stay."""
    if NUL not in raw.account and NUL not in raw.channel and (
            raw.error is None or NUL not in raw.error):
        return raw  # the common case, tested without a generator (once per payload)
    return attrs.evolve(raw, channel=scrub(raw.channel), account=scrub(raw.account),
                        error=_opt(raw.error))
