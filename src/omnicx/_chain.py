"""The per-contact hash chain: canonical encoding, hashing, and the verification walk.

Every record of a contact's history (an interaction, an update event attached
to one, an erasure) takes the next position ``seq`` in that contact's chain
and stores

    digest    = SHA-256(content)          the ciphertext when sealed, else the
                                          canonical encoding of the content columns
    hash      = SHA-256(prev_hash || b"ocx1" || material)
    prev_hash = the previous record's hash (32 zero bytes for the first)

where ``material`` is the compact JSON array of the record's immutable columns
and the hex digest (`interaction_material`, `event_material`,
`erasure_material`; the first element names the record type; the format is
versioned by the ``ocx1`` prefix). The head (``seq`` as 8 bytes big-endian,
then the last hash) is kept in ``contacts.chain_head``.

Content is covered through its digest, not its bytes, so that erasure (which
nulls the content and destroys keys) leaves every hash intact; an erased
record is accepted only when a chained erasure record covers it. Mutable
columns are outside the hash: an interaction's ``status``/``status_rank``
(moved by status events, which are chained themselves), ``erased_at``,
``external_id`` once an outbound send assigned the provider's id (the hash
covers the original id, kept in ``origin_id``; the new one must match a
chained event of that interaction) and an event's ``interaction_id`` while it
waits for its message (a waiting event joins the chain when it is attached).
``docs/integrity.md`` lists what this proves and what it does not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, repeat
from operator import ne, sub
from typing import Any

import attrs

from ._enums import status_rank
from ._models import Address, Attachment, Interaction

__all__ = [
    "GENESIS",
    "Problem",
    "VerifyReport",
    "content_bytes",
    "content_columns",
    "decode_content",
    "dumps",
    "erasure_material",
    "event_material",
    "interaction_material",
    "link",
    "origin_status",
    "pack_head",
    "screen",
    "status_explained",
    "unpack_head",
    "verify_contact",
]

GENESIS = bytes(32)
_VERSION = b"ocx1"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_sha256 = hashlib.sha256
# The C encoder behind `_encode`, called directly: the same output without building
# an encoder per call, which is most of the cost of a small array (verify() runs it
# twice per record).
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_list = None if _c_encoder is None else _c_encoder(
    None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True)


def _encode_list(value: list[Any]) -> str:
    """`_encode` of a list, byte for byte."""
    return _encode(value) if _c_list is None else "".join(_c_list(value, 0))


def micros(value: dt.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def dumps(value: Any) -> str | None:
    """Compact JSON of a non-empty value, ``None`` for an empty one (the stored form)."""
    if not value:
        return None
    return _encode(value) if _c_list is None else "".join(_c_list(value, 0))


# -- content -------------------------------------------------------------------------------
CONTENT_COLUMNS = ("sender_kind", "sender_value", "sender_name", "recipients", "subject",
                   "text", "html", "attachments", "data")


def content_columns(item: Interaction) -> tuple[Any, ...]:
    """The personal content of an interaction as its nine stored column values."""
    sender = item.sender
    return (
        str(sender.kind) if sender else None,
        sender.value if sender else None,
        sender.name if sender else None,
        dumps([[str(a.kind), a.value, a.name] for a in item.recipients]),
        item.subject,
        item.text,
        item.html,
        dumps([_attachment(a) for a in item.attachments]),
        dumps(dict(item.data)),
    )


def _attachment(a: Attachment) -> dict[str, Any]:
    fields = {"filename": a.filename, "content_type": a.content_type, "size": a.size,
              "sha256": a.sha256, "ref": a.ref}
    if a.blob is not None:
        fields["blob"] = a.blob
    return fields


def content_bytes(columns: Sequence[Any]) -> bytes:
    """The canonical encoding of the nine content columns (what is sealed and digested)."""
    return _encode_list(list(columns)).encode()


def decode_content(columns: Sequence[Any]) -> dict[str, Any]:
    """The `Interaction` fields held by the nine content columns."""
    kind, value, name, recipients, subject, text, html, attachments, data = columns
    return {
        "sender": Address(kind=kind, value=value, name=name) if value is not None else None,
        "recipients": tuple(Address(kind=k, value=v, name=n)
                            for k, v, n in json.loads(recipients)) if recipients else (),
        "subject": subject,
        "text": text,
        "html": html,
        "attachments": tuple(Attachment(**a) for a in json.loads(attachments))
        if attachments else (),
        "data": json.loads(data) if data else {},
    }


# -- materials -----------------------------------------------------------------------------
def interaction_material(fields: Sequence[Any], digest: bytes,
                         origin_status: str | None = None) -> bytes:
    """``fields``: id, contact_id, conversation_id, channel, account, original external_id,
    direction, kind, message_type, occurred_at µs, received_at µs, reply_to, raw_id, seq.

    ``origin_status`` is the status the interaction was stored with (``""`` for
    none; see `origin_status`). Rows stored before it was chained have ``None``
    and the material they were hashed with, without it.
    """
    if origin_status is None:
        return _encode_list(["i", *fields, digest.hex()]).encode()
    return _encode_list(["i", *fields, digest.hex(), origin_status]).encode()


def origin_status(status: Any) -> str:
    """The ``origin_status`` column of a new interaction: its first status, ``""`` for none.

    It is chained (`interaction_material`), so that `History.verify` can tell
    the current ``status`` from a forged one: the current status must be the
    best-ranked of this one and the chained status events (`status_explained`).
    """
    return "" if status is None else str(status)


def status_explained(status: str | None, rank: Any, origin: str | None,
                     chained: Sequence[str | None]) -> bool:
    """Whether an interaction's ``status``/``status_rank`` cells follow from its chain.

    ``origin`` is its ``origin_status`` (``None`` for rows stored before it
    was chained), ``chained`` the statuses of its chained status events. The
    status moves forward only, to a strictly better rank
    (`omnicx._enums.status_rank`), so: the rank is the status's; no chained
    status outranks it; and the status is the first one, or a chained one
    that outranks the first. Rows without a chained first status are only
    checked against the events. The SQLite store makes the same test in SQL
    (`Transaction.chain_inputs`).
    """
    if type(rank) is not int or rank != status_rank(status):
        return False
    if any(status_rank(s) > rank for s in chained):
        return False
    if origin is None or (status or "") == origin:
        return True
    return rank > status_rank(origin or None) and status in chained


def event_material(fields: Sequence[Any], digest: bytes) -> bytes:
    """``fields``: id, interaction_id, channel, account, external_id, event_id, kind,
    status, occurred_at µs, received_at µs, error, raw_id, seq."""
    return _encode_list(["e", *fields, digest.hex()]).encode()


def erasure_material(fields: Sequence[Any]) -> bytes:
    """``fields``: id, contact_id, at µs, before µs (or null), reason, seq."""
    return _encode_list(["x", *fields]).encode()


def link(prev: bytes, material: bytes) -> bytes:
    """The hash of a record: SHA-256 over its predecessor's hash and its material."""
    return _sha256(prev + _VERSION + material).digest()


def pack_head(seq: int, last: bytes) -> bytes:
    return seq.to_bytes(8, "big") + last


def unpack_head(head: bytes | None) -> tuple[int, bytes]:
    if not head:
        return 0, GENESIS
    return int.from_bytes(head[:8], "big"), bytes(head[8:])


# -- verification --------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Problem:
    """One way a contact's chain disagrees with its rows.

    ``kind``: ``edited`` (a record's columns, content or hash changed),
    ``removed`` (chain positions with no record), ``inserted`` (a record that
    is not part of the chain) or ``reordered`` (a record's chained content now
    sits on another row). ``table`` and ``record_id`` name the row when there
    is one; ``position`` is the place in the contact's chain.
    """

    kind: str
    contact_id: int
    table: str | None = None
    record_id: int | None = None
    position: int | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f" {self.table}#{self.record_id}" if self.table else ""
        at = f" at position {self.position}" if self.position is not None else ""
        return f"contact #{self.contact_id}: {self.kind}{where}{at}: {self.detail}"


@attrs.frozen(kw_only=True)
class VerifyReport:
    """What `History.verify` found. ``ok`` is true when there are no problems."""

    contacts: int = 0
    records: int = 0
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"checked {self.records} records of {self.contacts} contacts:"
                 f" {'ok' if self.ok else f'{len(self.problems)} problem(s)'}"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


_TABLES = {"i": "interactions", "e": "events", "x": "erasures"}


# A record as the walk sees it: (type, id, seq, hash, prev_hash, hash_ok, fields, digest).
_Record = tuple[str, int, Any, bytes | None, bytes | None, bool, Sequence[Any], bytes | None]


def verify_contact(
    contact_id: int,
    head: bytes | None,
    interactions: Iterable[Sequence[Any]],
    events: Iterable[Sequence[Any]],
    erasures: Iterable[Sequence[Any]],
) -> list[Problem]:
    """Check one contact's chain; the row shapes are those of `Transaction.chain_rows`.

    The loops are written for speed: verify() is meant to run over millions of
    rows at a speed close to that of hashing them (benchmarks/bench_integrity.py).
    A cell of a type omnicx never writes (text where bytes belong, a time as
    text) is a problem of the contact, never an exception.
    """
    try:
        return _verify_contact(contact_id, head, interactions, events, erasures)
    except (TypeError, ValueError, AttributeError, OverflowError, IndexError) as exc:
        return [Problem(kind="edited", contact_id=contact_id,
                        detail=f"a chained row holds a value omnicx never writes"
                               f" ({type(exc).__name__})")]


def _verify_contact(
    contact_id: int,
    head: bytes | None,
    interactions: Iterable[Sequence[Any]],
    events: Iterable[Sequence[Any]],
    erasures: Iterable[Sequence[Any]],
) -> list[Problem]:
    problems: list[Problem] = []
    records: list[_Record] = []
    append = records.append
    sha256, encode, version = _sha256, _encode_list, _VERSION
    erased_before: list[int | None] = []
    for row in erasures:
        xfields: Sequence[Any] = row[:6]
        prev = _b(row[7])
        ok = prev is not None and row[6] == sha256(
            prev + version + erasure_material(xfields)).digest()
        append(("x", row[0], row[5], _b(row[6]), prev, ok, xfields, None))
        erased_before.append(row[3])
    erased_ids: set[int] = set()
    chained_ids: dict[int, set[str]] = {}
    chained_statuses: dict[int, list[str | None]] = {}
    event_rows = list(events)
    for row in event_rows:
        if row[1] is not None and row[14] is not None:
            chained_ids.setdefault(row[1], set()).add(row[4])
            if row[6] == "status":
                chained_statuses.setdefault(row[1], []).append(row[7])

    for row in interactions:
        iid, seq, digest = row[0], row[13], _b(row[14])
        if digest is None:
            problems.append(Problem(kind="inserted", contact_id=contact_id,
                                    table="interactions", record_id=iid, position=seq,
                                    detail="the row carries no chain fields"))
            continue
        fields = row[:14]
        stored, prev = row[15], _b(row[16])
        origin = row[30]
        material = (["i", *fields, digest.hex()] if origin is None
                    else ["i", *fields, digest.hex(), origin])
        ok = prev is not None and stored == sha256(
            prev + version + encode(material).encode()).digest()
        append(("i", iid, seq, _b(stored), prev, ok, (*fields, origin), digest))
        erased_at, sealed = row[17], _b(row[18])
        if erased_at is not None:
            if not any(b is None or _before(row[9], b) for b in erased_before):
                problems.append(Problem(kind="edited", contact_id=contact_id,
                                        table="interactions", record_id=iid, position=seq,
                                        detail="content is marked erased but no chained"
                                               " erasure covers it"))
            erased_ids.add(iid)
        elif sealed is not None:
            if sha256(sealed).digest() != digest:
                problems.append(_edited("interactions", contact_id, iid, seq,
                                        "sealed content differs from what was chained"))
        elif sha256(_content(row[19:28])).digest() != digest:
            problems.append(_edited("interactions", contact_id, iid, seq,
                                    "content differs from what was chained"))
        if sealed is not None and any(c is not None for c in row[20:28]):
            problems.append(_edited("interactions", contact_id, iid, seq,
                                    "plaintext content was written beside its sealed content"))
        if not status_explained(row[31], row[32], origin, chained_statuses.get(iid, ())):
            problems.append(_edited("interactions", contact_id, iid, seq,
                                    "status differs from the best-ranked status chained for it"))
        if row[29] is not None and row[28] not in chained_ids.get(iid, ()):
            problems.append(_edited("interactions", contact_id, iid, seq,
                                    f"external id was changed to {row[28]!r} without a"
                                    " chained event confirming it"))

    for row in event_rows:
        eid, seq, digest = row[0], row[12], _b(row[13])
        if digest is None or row[14] is None:
            if row[1] is not None:
                problems.append(Problem(kind="inserted", contact_id=contact_id,
                                        table="events", record_id=eid, position=seq,
                                        detail="the row carries no chain fields"))
            continue
        fields = row[:13]
        stored, prev = row[14], _b(row[15])
        ok = prev is not None and stored == sha256(
            prev + version + encode(["e", *fields, digest.hex()]).encode()).digest()
        append(("e", eid, seq, _b(stored), prev, ok, fields, digest))
        if row[16] is not None:
            if row[1] not in erased_ids:
                problems.append(_edited("events", contact_id, eid, seq,
                                        "content is marked erased but its interaction is not"))
        elif row[17] is not None:
            if sha256(_b(row[17]) or b"").digest() != digest:
                problems.append(_edited("events", contact_id, eid, seq,
                                        "sealed content differs from what was chained"))
        elif sha256(_text(row[18])).digest() != digest:
            problems.append(_edited("events", contact_id, eid, seq,
                                    "content differs from what was chained"))

    if not _intact(head, records):
        problems += _walk(contact_id, head, records)
    return problems


def screen(
    contact_ids: Sequence[int],
    heads: Mapping[int, bytes | None],
    chunks: Iterable[Sequence[Sequence[Any]]],
) -> tuple[int, set[int]]:
    """The quick check of `History.verify`, over `Transaction.chain_inputs` rows.

    Returns the number of records of the contacts found intact, and the
    contacts that need `verify_contact` (a hash that does not match, a record
    it cannot vouch for, a position or link out of place, a head that
    disagrees). A contact it passes is one `verify_contact` finds no problem
    with: the same two hashes per record and the same chain walk, done for a
    page of contacts at once in C loops (comprehensions, map, dict and list
    comparisons) instead of Python statements per record.
    """
    sha256 = _sha256
    suspects: set[int] = set()
    contacts: list[int] = []
    seqs: list[int] = []
    prevs: list[bytes | None] = []
    hashes: list[bytes | None] = []
    for chunk in chunks:
        c, s, p, h, linked, content, d = zip(*chunk, strict=True)
        contacts += c
        seqs += s
        prevs += p
        hashes += h
        try:
            computed = [sha256(b).digest() for b in linked]
            if computed != list(h):
                suspects.update(compress(c, map(ne, computed, h)))
            computed = [sha256(b).digest() for b in content]
            if computed != list(d):  # a NULL digest never matches
                suspects.update(compress(c, map(ne, computed, d)))
        except TypeError:  # text where bytes belong (SQLite keeps any type): walk them
            suspects.update(c)
    # The chain walk. Every record links to the record one position lower in
    # its contact's chain (position 0 standing for GENESIS); with positions
    # unique, that makes them 1..n, and the head must hold n and the last hash.
    # (A NULL prev_hash never passes: such a record has a NULL digest.)
    positions = list(zip(contacts, seqs, strict=True))
    at: dict[tuple[int, int], bytes | None] = dict(zip(positions, hashes, strict=True))
    sizes = Counter(contacts)
    for contact_id in sizes:
        at[contact_id, 0] = GENESIS
    if len(at) != len(contacts) + len(sizes):  # a position held twice
        taken = Counter(positions)
        suspects.update(c for (c, _), n in taken.items() if n > 1)
    linked_to = list(map(at.get, zip(contacts, map(sub, seqs, repeat(1)), strict=True)))
    if linked_to != prevs:
        suspects.update(compress(contacts, map(ne, linked_to, prevs)))
    for contact_id, size in sizes.items():
        if contact_id not in suspects:
            last = at.get((contact_id, size))
            if last is None or heads.get(contact_id) != pack_head(size, last):
                suspects.add(contact_id)
    suspects.update(c for c in contact_ids if c not in sizes and heads.get(c))
    return len(contacts) - sum(sizes[c] for c in suspects), suspects


def _before(occurred: Any, cutoff: Any) -> bool:
    try:
        return bool(occurred < cutoff)
    except TypeError:  # a time cell rewritten as text: covered by nothing
        return False


def _text(value: Any) -> bytes:
    """The bytes an event's ``data`` cell was digested as (anything else: no match)."""
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else b"\x00" + bytes(str(value), "utf-8")


def _content(columns: Sequence[Any]) -> bytes:
    """`content_bytes` of content cells; cells of a type we never write do not match."""
    try:
        return _encode_list(list(columns)).encode()
    except (TypeError, ValueError):
        return b""


def _b(value: Any) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return str(value).encode()  # text or a number written behind our back: no match


def _intact(head: bytes | None, records: list[_Record]) -> bool:
    """The common case, checked fast: every hash matches, positions 1..n link up."""
    if not all(r[5] for r in records):
        return False
    try:
        ordered = sorted(records, key=lambda r: r[2])
    except TypeError:  # a position is NULL
        return False
    prev = GENESIS
    for expected, record in enumerate(ordered, 1):
        if record[2] != expected or record[4] != prev:
            return False
        prev = record[3]  # type: ignore[assignment]
    length, last = unpack_head(head)
    return length == len(ordered) and (not ordered or last == prev)


def _edited(table: str, contact_id: int, record_id: int, seq: int | None, detail: str
            ) -> Problem:
    return Problem(kind="edited", contact_id=contact_id, table=table, record_id=record_id,
                   position=seq, detail=detail)


def _walk(contact_id: int, head: bytes | None, records: list[_Record]) -> list[Problem]:
    problems: list[Problem] = []
    bad = [r for r in records if not r[5]]
    moved = _moved(bad)
    for kind, record_id, seq, *_ in bad:
        table = _TABLES[kind]
        if record_id in moved.get(kind, {}):
            problems.append(Problem(kind="reordered", contact_id=contact_id, table=table,
                                    record_id=record_id, position=seq,
                                    detail=f"holds what was chained as"
                                           f" {table}#{moved[kind][record_id]}"))
        else:
            problems.append(_edited(table, contact_id, record_id, seq,
                                    "its columns no longer match its hash"))
    flagged = {(r[0], r[1]) for r in bad}

    by_seq: dict[int, list[_Record]] = {}
    for record in records:
        seq = record[2]
        if type(seq) is not int or seq < 1:  # NULL, or text written behind our back
            problems.append(Problem(kind="inserted", contact_id=contact_id,
                                    table=_TABLES[record[0]], record_id=record[1],
                                    detail="the row has no place in the chain"))
        else:
            by_seq.setdefault(seq, []).append(record)
    length, last = unpack_head(head)
    top = max([length, *by_seq])
    successor_prev: bytes | None = last if length else None
    missing: list[int] = []
    # Walk from the head back to the first record: at each position exactly one
    # record must be there, and it must be the one its successor points at.
    for seq in range(top, 0, -1):
        found = by_seq.get(seq, [])
        if seq > length:
            for record in found:
                problems.append(Problem(kind="inserted", contact_id=contact_id,
                                        table=_TABLES[record[0]], record_id=record[1],
                                        position=seq, detail="it lies beyond the chain's head"))
            continue
        if not found:
            missing.append(seq)
            successor_prev = None
            continue
        genuine = [r for r in found if successor_prev is None or r[3] == successor_prev]
        keep = genuine[0] if genuine else found[0]
        for record in found:
            if record is not keep:
                problems.append(Problem(kind="inserted", contact_id=contact_id,
                                        table=_TABLES[record[0]], record_id=record[1],
                                        position=seq,
                                        detail="another record holds this chain position"))
        if (successor_prev is not None and keep[3] != successor_prev
                and (keep[0], keep[1]) not in flagged):
            detail = ("it is not the record the head points at" if seq == length
                      else "its successor was chained to a different record")
            problems.append(_edited(_TABLES[keep[0]], contact_id, keep[1], seq, detail))
        successor_prev = keep[4]
    for start, end in _runs(sorted(missing)):
        span = f"position {start}" if start == end else f"positions {start}-{end}"
        problems.append(Problem(kind="removed", contact_id=contact_id, position=start,
                                detail=f"no record at chain {span}"))
    return problems


def _moved(bad: list[_Record]) -> dict[str, dict[int, int]]:
    """Records whose material verifies under another bad record's id: content swapped rows."""
    moved: dict[str, dict[int, int]] = {}
    if len(bad) > 64:
        return moved
    for kind, record_id, _, hashed, prev, _, fields, digest in bad:
        if prev is None or digest is None or kind == "x":
            continue
        for other in bad:
            if other[1] == record_id or other[0] != kind:
                continue
            material = (interaction_material([other[1], *fields[1:-1]], digest, fields[-1])
                        if kind == "i" else event_material([other[1], *fields[1:]], digest))
            if hashed == link(prev, material):
                moved.setdefault(kind, {})[record_id] = other[1]
                break
    return moved


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][1] == value - 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs

