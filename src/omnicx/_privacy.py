"""Verification, erasure, retention, key rotation and export over a store.

`History` exposes these as ``verify``, ``erase``, ``apply_retention``,
``rotate_key``, ``export`` and ``export_all``; they live here to keep the
coordinator small. Each one works in bounded transactions: verification and
export read a few hundred contacts at a time, so neither holds the store for
long nor needs memory in proportion to the history.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ._chain import (
    Problem,
    VerifyReport,
    erasure_material,
    micros,
    screen,
    verify_contact,
)
from ._crypto import Keyring, forget_cached
from ._errors import ConfigurationError, NotFoundError, StorageError, TamperedError
from ._models import Address, Contact, Interaction
from ._vault import Sealer, Vault, attachment_row
from .storage._base import ChainRows, EventRecord, Gap, Store, TimelineQuery, Transaction
from .storage._sql import clear_row_caches

__all__ = ["apply_retention", "attachment", "erase", "export", "rotate_key", "verify"]

_VERIFY_CHUNK = 256
_EXPORT_PAGE = 200


# -- verify ------------------------------------------------------------------------------------
def verify(store: Store) -> VerifyReport:
    """Walk every contact's chain; see `omnicx._chain.verify_contact`.

    Where the store builds the hashed bytes itself (`Transaction.chain_inputs`),
    `omnicx._chain.screen` checks a page of contacts at once, and only the
    contacts it does not pass are read column by column and walked record by
    record, which names each problem.
    """
    problems: list[Problem] = []
    contacts = records = 0
    last = 0
    while True:
        with store.reading() as tx:
            ids = tx.chained_contacts(last, _VERIFY_CHUNK)
            if not ids:
                break
            suspects: Sequence[int] = ids
            try:
                inputs = tx.chain_inputs(ids)
                if inputs is not None:
                    intact, found = screen(ids, tx.chain_heads(ids), inputs)
                    records += intact
                    suspects = [c for c in ids if c in found]
            except StorageError:  # the store could not build them; check every record
                pass
            unreadable: list[int] = []
            rows = _chain_rows(tx, suspects, unreadable) if suspects else None
            cells = tx.tampered_cells(ids)
        last = ids[-1]
        problems += [_tampered(*cell) for cell in cells]
        problems += [Problem(kind="edited", contact_id=c,
                             detail="its rows cannot be read back: a cell holds bytes the"
                                    " database cannot decode") for c in unreadable]
        contacts += len(ids)
        if rows is not None:
            records += _verify_rows([c for c in suspects if c not in unreadable], rows,
                                    problems)
    return VerifyReport(contacts=contacts, records=records, problems=tuple(problems))


def _chain_rows(tx: Transaction, ids: Sequence[int], unreadable: list[int]) -> ChainRows:
    """`Transaction.chain_rows`; when a cell cannot even be read (SQLite text that is
    not UTF-8), contact by contact, listing in ``unreadable`` those that fail."""
    try:
        return tx.chain_rows(ids)
    except TamperedError:
        if len(ids) == 1:
            unreadable.append(ids[0])
            return ChainRows(heads={}, interactions=[], events=[], erasures=[])
    parts = [_chain_rows(tx, [c], unreadable) for c in ids]
    return ChainRows(heads={c: h for p in parts for c, h in p.heads.items()},
                     interactions=[r for p in parts for r in p.interactions],
                     events=[r for p in parts for r in p.events],
                     erasures=[r for p in parts for r in p.erasures])


_CELL_DETAILS = {
    "erased_at": "erased flag disagrees with the chained erasures",
    "data_key": "data key is gone but no chained erasure destroyed it",
}


def _tampered(table: str, contact_id: int, record_id: int, position: int | None,
              column: str) -> Problem:
    return Problem(kind="edited", contact_id=contact_id, table=table, record_id=record_id,
                   position=position, detail=_CELL_DETAILS.get(column, f"{column} was edited"))


def _verify_rows(ids: Sequence[int], rows: ChainRows, problems: list[Problem]) -> int:
    interactions: dict[int, list[Any]] = {c: [] for c in ids}
    events: dict[int, list[Any]] = {c: [] for c in ids}
    erasures: dict[int, list[Any]] = {c: [] for c in ids}
    for row in rows.interactions:
        interactions[row[1]].append(row)
    for row in rows.events:
        events[row[-1]].append(row)
    for row in rows.erasures:
        erasures[row[1]].append(row)
    records = 0
    for contact_id in ids:
        records += (len(interactions[contact_id]) + len(events[contact_id])
                    + len(erasures[contact_id]))
        problems += verify_contact(contact_id, rows.heads.get(contact_id),
                                   interactions[contact_id], events[contact_id],
                                   erasures[contact_id])
    return records


# -- erasure -------------------------------------------------------------------------------------
def _erase_one(tx: Transaction, sealer: Sealer, contact_id: int, at: dt.datetime,
               before: dt.datetime | None, reason: str) -> int:
    erased = tx.erase_content(contact_id, before, at)
    (erasure_id,) = tx.new_ids("erasures", 1)
    seal = sealer.chain(contact_id, lambda seq: erasure_material(
        [erasure_id, contact_id, micros(at), None if before is None else micros(before),
         reason, seq]))
    tx.insert_erasure(erasure_id, contact_id, at, before, reason, seal)
    return erased


def erase(store: Store, vault: Vault, contact: Contact | int, *, reason: str,
          at: dt.datetime) -> int:
    """Crypto-shred a person: every contact merged with ``contact`` loses its data key,
    addresses, name and content; the skeleton of the timeline stays. Raw payloads
    about them are emptied, and quarantined payloads that name one of their
    addresses are deleted (`_quarantined_mentions`). Returns the number of
    interactions erased."""
    contact_id = contact.id if isinstance(contact, Contact) else int(contact)
    blobs: list[str] = []

    def work(tx: Transaction) -> int:
        blobs.clear()  # the unit of work may run again
        found = tx.contact(contact_id)
        if found is None:
            raise NotFoundError(f"no contact #{contact_id}")
        # No master key needed: destroying keys and content only removes.
        sealer = Sealer(tx, None)
        erased = 0
        root = found.merged_into or found.id
        members = tx.members([root])[root]
        addresses = [a for m in members if (c := tx.contact(m)) is not None
                     for a in c.addresses]
        blobs.extend(_blob_keys(tx, vault, members))
        tx.forget_raws(_quarantined_mentions(tx, vault, addresses))
        for member in members:
            erased += _erase_one(tx, sealer, member, at, None, reason)
            tx.forget_contact(member, at)
        # Their words leave the search index, and the disk, in the same transaction.
        tx.unindex_erased(members)
        sealer.flush()
        return erased

    erased = store.atomic(work)
    if vault.blobs is not None:  # after the commit: a rolled-back erasure keeps them
        for key in dict.fromkeys(blobs):
            vault.blobs.delete(key)
    purge = getattr(store, "purge", None)
    if callable(purge):  # e.g. SQLite: the log still holds the old pages
        purge()
    # This process's caches hold addresses and attachment lists read before.
    forget_cached(vault.keyring)
    clear_row_caches()
    return erased


def _blob_keys(tx: Transaction, vault: Vault, members: Sequence[int]) -> list[str]:
    """The blob-store keys of the attachments of these contacts' unerased interactions.

    Without the key of an encrypted history their attachment lists cannot be
    read; their files are sealed under the data keys erasure destroys anyway.
    """
    if vault.blobs is None or (vault.keyring is None and vault.encrypted_store):
        return []
    keys: list[str] = []
    before: tuple[dt.datetime, int] | None = None
    while True:
        page = tx.timeline(TimelineQuery(contact_ids=tuple(members), limit=_EXPORT_PAGE,
                                         before=before))
        for item in vault.open_interactions(tx, [i for i in page if not i.erased]):
            keys += [a.blob for a in item.attachments if a.blob is not None]
        if len(page) < _EXPORT_PAGE:
            return keys
        before = (page[-1].occurred_at, page[-1].id)


def attachment(store: Store, vault: Vault, interaction: Interaction | int, index: int
               ) -> bytes:
    """See `History.attachment`."""
    iid = interaction.id if isinstance(interaction, Interaction) else int(interaction)
    with store.reading() as tx:
        found = tx.interaction(iid)
        if found is None:
            raise NotFoundError(f"no interaction #{iid}")
        sealed = bool(tx.sealed([iid]))
        (item,) = vault.open_interactions(tx, [found])
        cipher = (vault.contact_cipher(tx, item.contact_id)
                  if sealed and not item.erased else None)
    if item.erased:
        raise NotFoundError(f"interaction #{iid} was erased, its attachments with it")
    if not 0 <= index < len(item.attachments):
        raise NotFoundError(f"interaction #{iid} has no attachment {index}")
    found_attachment = item.attachments[index]
    if found_attachment.blob is None or vault.blobs is None:
        raise NotFoundError(f"the bytes of attachment {index} of interaction #{iid} were"
                            " not kept (no blob store, or they came without their bytes)")
    data = vault.blobs.get(found_attachment.blob)
    if cipher is not None:
        data = Keyring.open(cipher, data, attachment_row(item.contact_id,
                                                         found_attachment.sha256 or ""))
    if found_attachment.sha256 and hashlib.sha256(data).hexdigest() != found_attachment.sha256:
        raise TamperedError(f"attachment {index} of interaction #{iid} is not the file"
                            " that was received (its SHA-256 differs)")
    return data


def _needles(addresses: Sequence[Address]) -> list[bytes]:
    """The spellings of these addresses a payload may carry, lower-cased."""
    needles: set[bytes] = set()
    for address in addresses:
        value = address.value.strip().lower()
        if value.startswith("bi:"):  # a blind index: the address itself is not known
            continue
        if len(value) >= 5:
            needles.add(value.encode())
        if value.startswith("+") and value[1:].isdigit():
            needles.add(value[1:].encode())  # WhatsApp's wa_id, Twilio's digits
    return sorted(needles)


def _quarantined_mentions(tx: Transaction, vault: Vault, addresses: Sequence[Address]
                          ) -> list[int]:
    """Quarantined payloads in whose headers or body one of ``addresses`` appears.

    Their person was never known (they could not be parsed), so the only tie
    to an erased person is the text. Sealed payloads are opened to be
    searched, which needs the key.
    """
    needles = _needles(addresses)
    found = []
    for stored in tx.raws("quarantined"):
        if stored.sealed is not None and vault.keyring is None:  # nor are the addresses
            raise ConfigurationError(
                "the quarantine holds sealed payloads, which erasure must search for"
                " the person: open the history with its key (key= or OMNICX_KEY)")
        raw = vault.open_raw(tx, stored)
        text = (json.dumps(dict(raw.headers), ensure_ascii=False).encode() + b"\n"
                + raw.body).lower()
        if any(needle in text for needle in needles):
            found.append(raw.id)
    return found


def apply_retention(store: Store, *, before: dt.datetime, at: dt.datetime,
                    reason: str) -> int:
    """Erase the content of every interaction that occurred before ``before``."""
    with store.reading() as tx:
        contact_ids = tx.contacts_with_content(before)
    erased = 0
    for start in range(0, len(contact_ids), _VERIFY_CHUNK):
        chunk = contact_ids[start:start + _VERIFY_CHUNK]

        def work(tx: Transaction, chunk: list[int] = chunk) -> int:
            sealer = Sealer(tx, None)
            count = sum(_erase_one(tx, sealer, c, at, before, reason) for c in chunk)
            if count:  # one index clean-up a chunk (on SQLite it rewrites the index)
                tx.unindex_erased(chunk)
            sealer.flush()
            return count

        erased += store.atomic(work)
    return erased


# -- keys --------------------------------------------------------------------------------------
def rotate_key(store: Store, vault: Vault, new: Keyring) -> int:
    """Re-wrap every data key under ``new``; content is not rewritten. Returns the count."""
    old = vault.keyring
    if old is None:
        raise ConfigurationError("open the history with its current key to rotate it")

    def work(tx: Transaction) -> int:
        wrapped = list(tx.wrapped_keys())
        rewrapped = {cid: new.wrap(f"contact:{cid}", old.unwrap_raw(f"contact:{cid}", key))
                     for cid, key in wrapped}
        for start in range(0, len(wrapped), 1000):
            tx.set_data_keys(dict(list(rewrapped.items())[start:start + 1000]))
        archive = tx.setting("archive_key")
        if archive is not None:
            raw = old.unwrap_raw("archive", base64.b64decode(archive))
            tx.set_setting("archive_key", base64.b64encode(new.wrap("archive", raw)).decode())
        index = tx.setting("index_key")
        if index is not None:
            raw = old.unwrap_raw("index", base64.b64decode(index))
            tx.set_setting("index_key", base64.b64encode(new.wrap("index", raw)).decode())
        tx.set_setting("key_check", new.check_value)
        return len(wrapped)

    count = store.atomic(work)
    vault.keyring = new
    return count


# -- export ------------------------------------------------------------------------------------
def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _contact_line(contact: Contact) -> dict[str, Any]:
    return {"type": "contact", "id": contact.id, "display_name": contact.display_name,
            "crm_id": contact.crm_id, "created_at": _time(contact.created_at),
            "merged_into": contact.merged_into, "erased": contact.erased,
            "addresses": [{"kind": a.kind.value, "value": a.value, "name": a.name}
                          for a in contact.addresses]}


def _interaction_line(item: Interaction) -> dict[str, Any]:
    sender = item.sender
    return {
        "type": "interaction", "id": item.id, "contact_id": item.contact_id,
        "conversation_id": item.conversation_id, "channel": item.channel.value,
        "account": item.account, "direction": item.direction.value, "kind": item.kind.value,
        "message_type": item.message_type, "external_id": item.external_id,
        "occurred_at": _time(item.occurred_at), "received_at": _time(item.received_at),
        "sender": None if sender is None else {"kind": sender.kind.value,
                                               "value": sender.value, "name": sender.name},
        "recipients": [{"kind": a.kind.value, "value": a.value, "name": a.name}
                       for a in item.recipients],
        "subject": item.subject, "text": item.text, "html": item.html,
        "attachments": [{"filename": a.filename, "content_type": a.content_type,
                         "size": a.size, "sha256": a.sha256, "ref": a.ref, "blob": a.blob}
                        for a in item.attachments],
        "reply_to": item.reply_to, "status": item.status.value if item.status else None,
        "data": dict(item.data), "erased": item.erased,
    }


def _event_line(record: EventRecord) -> dict[str, Any]:
    return {"type": "event", "id": record.id, "interaction_id": record.interaction_id,
            "kind": record.kind.value, "status": record.status.value if record.status else None,
            "external_id": record.external_id, "event_id": record.event_id,
            "occurred_at": _time(record.occurred_at), "received_at": _time(record.received_at),
            "error": record.error, "data": dict(record.data)}


def _gap_line(gap: Gap) -> dict[str, Any]:
    return {"type": "gap", "id": gap.id, "kind": gap.kind, "channel": gap.channel.value,
            "account": gap.account, "reference": gap.reference, "contact_id": gap.contact_id,
            "opened_at": _time(gap.opened_at), "closed_at": _time(gap.closed_at),
            "detail": gap.detail}


def _contact_lines(store: Store, vault: Vault, root_id: int, *, gaps: bool
                   ) -> Iterator[dict[str, Any]]:
    """One person's history as export lines, one page of interactions at a time."""
    with store.reading() as tx:
        members = tx.members([root_id])[root_id]
        for member in members:
            found = tx.contact(member)
            if found is not None:
                yield _contact_line(found)
    before: tuple[dt.datetime, int] | None = None
    while True:
        lines: list[dict[str, Any]] = []
        with store.reading() as tx:
            page = tx.timeline(TimelineQuery(contact_ids=members, limit=_EXPORT_PAGE,
                                             before=before))
            for item in vault.open_interactions(tx, page):
                lines.append(_interaction_line(item))
                lines += [_event_line(e) for e in vault.open_events(
                    tx, item.contact_id, tx.events(item.id))]
        yield from lines
        if len(page) < _EXPORT_PAGE:
            break
        before = (page[-1].occurred_at, page[-1].id)
    if gaps:
        with store.reading() as tx:
            mine = [g for g in tx.gaps(include_closed=True) if g.contact_id in members]
        yield from (_gap_line(g) for g in mine)


def export(store: Store, vault: Vault, out: IO[str], contact: Contact | int | None) -> int:
    """Write JSON Lines for one person (``contact`` and everyone merged with it), or for
    everybody when ``contact`` is ``None``; return the number of lines written."""
    written = 0

    def emit(line: dict[str, Any]) -> None:
        nonlocal written
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        written += 1

    emit({"type": "export", "format": "omnicx-export/1",
          "exported_at": dt.datetime.now(dt.UTC).isoformat()})
    if contact is not None:
        contact_id = contact.id if isinstance(contact, Contact) else int(contact)
        with store.reading() as tx:
            found = tx.contact(contact_id)
        if found is None:
            raise NotFoundError(f"no contact #{contact_id}")
        for line in _contact_lines(store, vault, found.merged_into or found.id, gaps=True):
            emit(line)
        return written
    last = 0
    while True:
        with store.reading() as tx:
            ids = tx.chained_contacts(last, _EXPORT_PAGE)
            roots = [c.id for c in (tx.contact(i) for i in ids)
                     if c is not None and c.merged_into is None]
        if not ids:
            break
        last = ids[-1]
        for root in roots:
            for line in _contact_lines(store, vault, root, gaps=False):
                emit(line)
    with store.reading() as tx:
        for gap in tx.gaps(include_closed=True):
            emit(_gap_line(gap))
    return written
