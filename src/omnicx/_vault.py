"""Where the chain meets encryption: what the ingest stores for each new row.

`Vault` belongs to a `History` and knows the master key (or that there is
none). For each transaction it hands out a `Sealer`, which the ingest asks
for every new interaction and event: the sealer picks the content columns to
store (plaintext without a key, ciphertext with one), the digest, and the
row's place in its contact's hash chain, and remembers the chain heads and
new data keys to write back before the transaction commits (`Sealer.flush`).
Reading goes the other way: `Vault.open_interactions` and friends decrypt
what the store returns.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import attrs
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._chain import (
    content_bytes,
    content_columns,
    decode_content,
    dumps,
    event_material,
    interaction_material,
    link,
    micros,
    origin_status,
    pack_head,
    unpack_head,
)
from ._crypto import ARCHIVE, CONTACT, Keyring, new_key, warn_clear
from ._errors import ConfigurationError
from ._models import Address, Contact, Conversation, Interaction
from ._search import blind_term, search_key
from .storage._base import EventRecord, RawPayload, RowSeal, SearchQuery, Store, Transaction
from .typing import BlobStore

__all__ = ["ERROR_KEY", "Sealer", "Vault", "VaultStore", "VaultTransaction",
           "attachment_row"]

T = TypeVar("T")

_sha256 = hashlib.sha256
_KEY_CHECK = "key_check"
_ARCHIVE_KEY = "archive_key"
INDEX_KEY = "index_key"
_PLAIN_ADDRESSES = "plain_addresses"
_SEALED_NAME = "sealed:"  # a display name sealed under its contact's key, in base64
# An error text derived from a payload (a quarantined payload's parse error), sealed
# under the archive key like the payload, in base64: it may quote the payload.
_SEALED_ERROR = "sealed:"
_NO_CONTENT = (None,) * 8
ERROR_KEY = "omnicx:error"  # where an event's error text is kept, inside its data


class Vault:
    """The master key of a history (or its absence) and the rules that follow from it."""

    def __init__(self, keyring: Keyring | None, blobs: BlobStore | None = None) -> None:
        self.keyring = keyring
        self.blobs = blobs
        self.encrypted_store = False
        self.index_key = b""
        self.plain_addresses = False  # addresses stored before the first key was set

    def attach(self, tx: Transaction) -> None:
        """Check the key against the store; record it, and the index key, on first use."""
        stored = tx.setting(_KEY_CHECK)
        self.encrypted_store = stored is not None
        if self.keyring is None:
            return
        if stored is None:
            tx.set_setting(_KEY_CHECK, self.keyring.check_value)
            self.encrypted_store = True
            if tx.chained_contacts(0, 1):  # used in the clear until now
                tx.set_setting(_PLAIN_ADDRESSES, "1")
        elif stored != self.keyring.check_value:
            raise ConfigurationError("this history was encrypted with a different key")
        self.plain_addresses = tx.setting(_PLAIN_ADDRESSES) == "1"
        wrapped = tx.setting(INDEX_KEY)
        if wrapped is None:
            self.index_key = new_key()
            tx.set_setting(INDEX_KEY, base64.b64encode(
                self.keyring.wrap("index", self.index_key)).decode())
        else:
            self.index_key = self.keyring.unwrap_raw("index", base64.b64decode(wrapped))

    def store(self, store: Store) -> Store:
        """``store`` as a `History` uses it: through `VaultTransaction` when there is a key."""
        return store if self.keyring is None else VaultStore(store, self)

    def writable(self) -> None:
        if self.keyring is None and self.encrypted_store:
            raise ConfigurationError(
                "this history is encrypted: open it with key= (or OMNICX_KEY) to write to it")

    def sealer(self, tx: Transaction) -> Sealer:
        self.writable()
        if isinstance(tx, VaultTransaction):
            return tx.sealer
        # Said when it is true and matters: content is about to be written in the
        # clear (not on opening, which may only read, or find an encrypted store).
        warn_clear()
        return Sealer(tx, self.keyring, self.blobs)

    # -- reading ---------------------------------------------------------------------------
    def _readable(self) -> Keyring:
        if self.keyring is None:
            raise ConfigurationError(
                "this content is encrypted: open the history with key= (or OMNICX_KEY)")
        return self.keyring

    def contact_cipher(self, tx: Transaction, contact_id: int) -> AESGCM | None:
        """The data key of a contact, or ``None`` when it was erased."""
        keyring = self._readable()
        wrapped = tx.data_keys([contact_id]).get(contact_id)
        return None if wrapped is None else keyring.unwrap(f"contact:{contact_id}", wrapped)

    def archive_cipher(self, tx: Transaction) -> AESGCM | None:
        keyring = self._readable()
        stored = tx.setting(_ARCHIVE_KEY)
        return None if stored is None else keyring.unwrap("archive", base64.b64decode(stored))

    def open_interactions(self, tx: Transaction, items: Sequence[Interaction]
                          ) -> list[Interaction]:
        """``items`` with sealed content decrypted (nothing to do without sealed rows)."""
        if not self.encrypted_store:
            return list(items)
        sealed = tx.sealed([i.id for i in items if not i.erased])
        if not sealed:
            return list(items)
        ciphers: dict[int, AESGCM | None] = {}
        opened = []
        for item in items:
            blob = sealed.get(item.id)
            if blob is None:
                opened.append(item)
                continue
            if item.contact_id not in ciphers:
                ciphers[item.contact_id] = self.contact_cipher(tx, item.contact_id)
            cipher = ciphers[item.contact_id]
            if cipher is None:  # the key is gone: as good as erased
                opened.append(attrs.evolve(item, erased=True))
                continue
            columns = _loads(Keyring.open(cipher, blob, b"i/%d" % item.id))
            opened.append(attrs.evolve(item, **decode_content(columns)))
        return opened

    def open_events(self, tx: Transaction, contact_id: int | None,
                    records: Sequence[EventRecord]) -> list[EventRecord]:
        """``records`` as users see them: data opened, the error text back in ``error``."""
        return [_with_error(r) for r in self._open_events(tx, contact_id, records)]

    def _open_events(self, tx: Transaction, contact_id: int | None,
                     records: Sequence[EventRecord]) -> list[EventRecord]:
        if not any(r.sealed for r in records):
            return list(records)
        opened = []
        for record in records:
            if not record.sealed:
                opened.append(record)
                continue
            tag = Keyring.tag(record.sealed)
            cipher = (self.contact_cipher(tx, contact_id)
                      if tag == CONTACT and contact_id is not None else self.archive_cipher(tx))
            if cipher is None:
                opened.append(record)
                continue
            plain = Keyring.open(cipher, record.sealed, b"e/%d" % record.id)
            opened.append(attrs.evolve(record, data=_loads(plain) if plain else {}))
        return opened

    def open_raw(self, tx: Transaction, raw: RawPayload) -> RawPayload:
        """``raw`` with its headers, body and error opened (as `History.replay` uses it)."""
        sealed_error = raw.error is not None and raw.error.startswith(_SEALED_ERROR)
        if raw.sealed is None and not sealed_error:
            return raw
        cipher = self.archive_cipher(tx)
        if cipher is None:
            raise ConfigurationError(f"raw payload #{raw.id} has no archive key to open it")
        if raw.sealed is not None:
            headers, _, body = Keyring.open(cipher, raw.sealed, b"r/%d" % raw.id).partition(
                b"\n")
            raw = attrs.evolve(raw, headers=_loads(headers), body=body, sealed=None)
        if sealed_error and raw.error is not None:
            blob = base64.b64decode(raw.error[len(_SEALED_ERROR):])
            raw = attrs.evolve(raw, error=Keyring.open(
                cipher, blob, b"q/%d" % raw.id).decode("utf-8", "replace"))
        return raw


def attachment_row(contact_id: int, sha256: str) -> bytes:
    """The associated data of a sealed attachment file: its contact and its content."""
    return b"b/%d/" % contact_id + sha256.encode()


def _with_error(record: EventRecord) -> EventRecord:
    """An event whose error text was stored with its data (`Sealer.event`), as it came."""
    if ERROR_KEY not in record.data:
        return record
    data = dict(record.data)
    error = data.pop(ERROR_KEY)
    return attrs.evolve(record, data=data, error=error if isinstance(error, str) else None)


def _loads(data: bytes | str) -> Any:
    return json.loads(data)


@attrs.define
class _Head:
    seq: int
    last: bytes


class Sealer:
    """Seals and chains the new rows of one transaction."""

    def __init__(self, tx: Transaction, keyring: Keyring | None,
                 blobs: BlobStore | None = None) -> None:
        self._tx = tx
        self._keyring = keyring
        self._blobs = blobs
        self._heads: dict[int, _Head] = {}
        self._dirty: set[int] = set()
        self._ciphers: dict[int, AESGCM] = {}
        self._new_keys: dict[int, bytes] = {}
        self._archive: AESGCM | None = None

    @property
    def encrypted(self) -> bool:
        return self._keyring is not None

    # -- per-contact state -----------------------------------------------------------------
    def prefetch(self, contact_ids: Iterable[int]) -> None:
        """Read the chain heads (and data keys) of these contacts in one go."""
        wanted = [c for c in dict.fromkeys(contact_ids) if c not in self._heads]
        if not wanted:
            return
        for contact_id, head in self._tx.chain_heads(wanted).items():
            seq, last = unpack_head(head)
            self._heads[contact_id] = _Head(seq, last)
        for contact_id in wanted:
            self._heads.setdefault(contact_id, _Head(0, unpack_head(None)[1]))
        if self._keyring is not None:
            for contact_id, wrapped in self._tx.data_keys(wanted).items():
                if wrapped is not None:
                    self._ciphers[contact_id] = self._keyring.unwrap(
                        f"contact:{contact_id}", wrapped)

    def seed(self, contact_id: int, head: bytes | None, *, new: bool) -> None:
        """Take a chain head known already, instead of reading it in `prefetch`.

        ``new``: a contact created in this transaction (no head, no data key).
        An existing contact's head (`omnicx.storage.AddressOwner.head`) is
        taken only without a key: with one, `prefetch` reads its data key too.
        """
        if contact_id in self._heads or (not new and self._keyring is not None):
            return
        seq, last = unpack_head(head)
        self._heads[contact_id] = _Head(seq, last)

    def _head(self, contact_id: int) -> _Head:
        if contact_id not in self._heads:
            self.prefetch([contact_id])
        return self._heads[contact_id]

    def cipher_for(self, contact_id: int) -> AESGCM:
        """A contact's data key (created when it has none yet; written by `flush`)."""
        return self._cipher(contact_id)

    def _cipher(self, contact_id: int) -> AESGCM:
        cipher = self._ciphers.get(contact_id)
        if cipher is None:
            assert self._keyring is not None
            self._head(contact_id)  # loads an existing key, if any
            cipher = self._ciphers.get(contact_id)
            if cipher is None:
                raw = new_key()
                self._new_keys[contact_id] = self._keyring.wrap(f"contact:{contact_id}", raw)
                cipher = self._ciphers[contact_id] = AESGCM(raw)
        return cipher

    def archive_cipher(self) -> AESGCM:
        if self._archive is None:
            assert self._keyring is not None
            stored = self._tx.setting(_ARCHIVE_KEY)
            if stored is None:
                raw = new_key()
                self._tx.set_setting(_ARCHIVE_KEY, base64.b64encode(
                    self._keyring.wrap("archive", raw)).decode())
                self._archive = AESGCM(raw)
            else:
                self._archive = self._keyring.unwrap("archive", base64.b64decode(stored))
        return self._archive

    def _append(self, contact_id: int, material_of: Any) -> tuple[int, bytes, bytes]:
        head = self._head(contact_id)
        seq = head.seq + 1
        prev = head.last
        digest = link(prev, material_of(seq))
        head.seq, head.last = seq, digest
        self._dirty.add(contact_id)
        return seq, digest, prev

    # -- rows ------------------------------------------------------------------------------
    def interaction(self, item: Interaction) -> RowSeal:
        """Seal and chain a new interaction (the caller inserts it, or the transaction fails)."""
        columns = content_columns(item)
        if self._keyring is None:
            sealed = None
            digest = _sha256(content_bytes(columns)).digest()
        else:
            sealed = Keyring.seal(self._cipher(item.contact_id), CONTACT,
                                  content_bytes(columns), b"i/%d" % item.id)
            digest = _sha256(sealed).digest()
            columns = (columns[0], *_NO_CONTENT)
        head = self._heads.get(item.contact_id) or self._head(item.contact_id)
        seq = head.seq + 1
        prev = head.last
        hashed = link(prev, interaction_material(
            # str() of a StrEnum member is its value, without the slow `.value` property.
            [item.id, item.contact_id, item.conversation_id, str(item.channel), item.account,
             item.external_id, str(item.direction), str(item.kind), item.message_type,
             micros(item.occurred_at), micros(item.received_at), item.reply_to, item.raw_id,
             seq], digest, origin_status(item.status)))
        head.seq, head.last = seq, hashed
        self._dirty.add(item.contact_id)
        return RowSeal(columns, sealed, digest, seq, hashed, prev)

    def event(self, record: EventRecord, contact_id: int | None) -> RowSeal:
        """Seal an event; chain it when its interaction (``contact_id``'s) is known.

        Call `commit` with the result once the row was actually inserted.
        The error text (a provider's diagnostic, which may quote an address or a
        number) is stored with the data, as content: sealed with a key, erased
        with the interaction, and outside the chained columns (``columns`` is
        then ``(data, None)``: the row's ``error`` column stays empty).
        """
        content = dict(record.data)
        moved = record.error is not None
        if moved:
            content[ERROR_KEY] = record.error
            record = attrs.evolve(record, error=None)
        data = dumps(content)
        columns: tuple[str | None, ...]
        if self._keyring is None or data is None:
            sealed, columns = None, (data,)
            digest = _sha256((data or "").encode()).digest()
        else:
            cipher = (self._cipher(contact_id) if contact_id is not None
                      else self.archive_cipher())
            sealed = Keyring.seal(cipher, CONTACT if contact_id is not None else ARCHIVE,
                                  data.encode(), b"e/%d" % record.id)
            columns, digest = (None,), _sha256(sealed).digest()
        if moved:
            columns = (*columns, None)
        if contact_id is None or record.interaction_id is None:
            return RowSeal(columns=columns, sealed=sealed, digest=digest)
        head = self._head(contact_id)
        seq, prev = head.seq + 1, head.last
        hashed = link(prev, event_material(_event_fields(record, record.interaction_id, seq),
                                           digest))
        return RowSeal(columns=columns, sealed=sealed, digest=digest, seq=seq, hash=hashed,
                       prev_hash=prev)

    def commit(self, contact_id: int | None, seal: RowSeal) -> None:
        """Advance ``contact_id``'s head past an event row that was inserted."""
        if contact_id is None or seal.seq is None or seal.hash is None:
            return
        head = self._head(contact_id)
        head.seq, head.last = seal.seq, seal.hash
        self._dirty.add(contact_id)

    def attach(self, records: Sequence[EventRecord], interaction_id: int, contact_id: int
               ) -> list[tuple[int, int, bytes, bytes]]:
        """Chain events that waited for their interaction: (id, seq, hash, prev_hash)."""
        links = []
        for record in records:
            digest = record.digest or _sha256((dumps(dict(record.data)) or "").encode()).digest()
            seq, hashed, prev = self._append(
                contact_id, lambda seq, r=record, d=digest: event_material(
                    _event_fields(r, interaction_id, seq), d))
            links.append((record.id, seq, hashed, prev))
        return links

    def chain(self, contact_id: int, material_of: Any) -> RowSeal:
        """Chain any other record (an erasure) whose material depends on its position."""
        seq, hashed, prev = self._append(contact_id, material_of)
        return RowSeal(digest=b"", seq=seq, hash=hashed, prev_hash=prev)

    def keep_attachments(self, item: Interaction, contents: Mapping[str, bytes]
                         ) -> Interaction:
        """Put the bytes of ``item``'s attachments in the blob store; note each ``blob``.

        With a key each file is sealed under the contact's data key (bound to
        the contact and the attachment's SHA-256, `attachment_row`), so
        erasing the contact shreds it like the rest of their content.
        """
        if self._blobs is None or not contents:
            return item
        kept = []
        for attachment in item.attachments:
            data = contents.get(attachment.sha256) if attachment.sha256 else None
            if data is None or attachment.blob is not None:
                kept.append(attachment)
                continue
            if self._keyring is not None:
                data = Keyring.seal(self._cipher(item.contact_id), CONTACT, data,
                                    attachment_row(item.contact_id, attachment.sha256 or ""))
            key = self._blobs.put(data, content_type=attachment.content_type)
            kept.append(attrs.evolve(attachment, blob=key))
        return attrs.evolve(item, attachments=tuple(kept))

    def raw(self, payload: RawPayload) -> RawPayload:
        """A raw payload as archived: sealed under the archive key when there is a key.

        The plaintext is the headers' JSON, a newline (which JSON escapes
        inside strings, so the first one ends it), then the body's bytes.
        """
        if self._keyring is None:
            return payload
        plain = (dumps(dict(payload.headers)) or "{}").encode() + b"\n" + payload.body
        sealed = Keyring.seal(self.archive_cipher(), ARCHIVE, plain, b"r/%d" % payload.id)
        return attrs.evolve(payload, headers={}, body=b"", sealed=sealed,
                            error=self.raw_error(payload.id, payload.error))

    def raw_error(self, raw_id: int, error: str | None) -> str | None:
        """The ``raw_payloads.error`` to store: sealed like the payload when there is a key.

        Parse errors quote what they could not parse (a phone number, an
        address, a line of text), so they are as personal as the payload.
        """
        if self._keyring is None or error is None:
            return error
        sealed = Keyring.seal(self.archive_cipher(), ARCHIVE, error.encode("utf-8", "replace"),
                              b"q/%d" % raw_id)
        return _SEALED_ERROR + base64.b64encode(sealed).decode()

    def flush(self) -> None:
        """Write the moved chain heads and the new data keys."""
        if self._new_keys:
            self._tx.set_data_keys(self._new_keys)
            self._new_keys = {}
        if self._dirty:
            self._tx.set_chain_heads({c: pack_head(self._heads[c].seq, self._heads[c].last)
                                      for c in self._dirty})
            self._dirty = set()


def _event_fields(record: EventRecord, interaction_id: int, seq: int) -> list[Any]:
    return [record.id, interaction_id, record.channel, record.account, record.external_id,
            record.event_id, record.kind.value,
            record.status.value if record.status is not None else None,
            micros(record.occurred_at), micros(record.received_at), record.error,
            record.raw_id, seq]


class VaultStore:
    """A store seen through the master key: every transaction is a `VaultTransaction`.

    Everything else (``capabilities``, ``close``, a backend's own attributes
    such as ``SQLiteStore.db``) is the wrapped store's.
    """

    def __init__(self, inner: Store, vault: Vault) -> None:
        self.inner = inner
        self._vault = vault
        self.capabilities = inner.capabilities

    def atomic(self, work: Callable[[Transaction], T]) -> T:
        return self.inner.atomic(lambda tx: work(self._vault_tx(tx)))

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[Transaction]:
        with self.inner.reading(snapshot=snapshot) as tx:
            yield self._vault_tx(tx)

    def _vault_tx(self, tx: Transaction) -> Transaction:
        # The wrapper implements the protocol by delegation (``__getattr__``),
        # which a static checker cannot see.
        return cast(Transaction, VaultTransaction(tx, self._vault))

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class VaultTransaction:
    """A `Transaction` that stores addresses as blind indexes, their readable form sealed.

    Display names are sealed too (``contacts.display_name`` holds ``sealed:``
    and the base64 ciphertext).

    ``addresses.value`` holds ``Keyring.blind(index key, kind, value)``, so
    an exact lookup still finds its owner, and ``addresses.sealed`` the value
    and name under the contact's data key (gone with it on erasure). Lookups
    also try the plain value when the history was used without a key before
    its first keyed open (``omnicx_meta.plain_addresses``).
    Every other method is the wrapped transaction's.
    """

    def __init__(self, inner: Transaction, vault: Vault) -> None:
        assert vault.keyring is not None
        self._inner = inner
        self._vault = vault
        self._sealer: Sealer | None = None

    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:
            self._sealer = Sealer(self._inner, self._vault.keyring, self._vault.blobs)
        return self._sealer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _blind(self, kind: str, value: str) -> str:
        return Keyring.blind(self._vault.index_key, kind, value)

    # Search terms are stored as keyed hashes too (omnicx._search.blind_term); a
    # query hashes its terms the same way, and also looks for plain ones when
    # the history was used without a key before (``plain_addresses``).
    def index_terms(self, rows: Sequence[tuple[int, Sequence[str]]]) -> None:
        key = search_key(self._vault.index_key)
        self._inner.index_terms([(iid, [blind_term(key, t) for t in terms])
                                 for iid, terms in rows])

    def search(self, query: SearchQuery) -> list[tuple[Interaction, float]]:
        key = search_key(self._vault.index_key)
        plain = self._vault.plain_addresses
        return self._inner.search(attrs.evolve(query, words=tuple(
            (*(blind_term(key, t) for t in group), *(group if plain else ()))
            for group in query.words)))

    def owners(self, addresses: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        keys = list(dict.fromkeys(addresses))
        blind = {(kind, self._blind(kind, value)): (kind, value) for kind, value in keys}
        found = self._inner.owners([*keys, *blind] if self._vault.plain_addresses else blind)
        owners = {key: found[key] for key in keys if key in found}
        for stored, key in blind.items():
            if stored in found and key not in owners:
                owners[key] = found[stored]
        return owners

    def insert_addresses(self, rows: Sequence[tuple[str, str, int, str | None]],
                         at: Any) -> int:
        stored = [(kind, self._blind(kind, value), contact_id, None)
                  for kind, value, contact_id, _ in rows]
        inserted = self._inner.insert_addresses(stored, at)
        if inserted == len(rows):  # otherwise the ingest retries: seal nothing now
            self._inner.seal_addresses([
                (kind, blind, Keyring.seal(self.sealer.cipher_for(contact_id), CONTACT,
                                           (dumps([value, name]) or "").encode(),
                                           f"a/{kind}/{blind}".encode()))
                for (kind, value, contact_id, name), (_, blind, _, _) in zip(
                    rows, stored, strict=True)])
        return inserted

    # -- conversations: the thread key blind-indexed, the subject sealed -----------------
    def _blind_thread(self, key: str) -> str:
        return self._blind("thread", key)

    def threads(self, contact_ids: Iterable[int], channel: str, account: str,
                thread_keys: Iterable[str]) -> dict[tuple[int, str], tuple[int, Any]]:
        keys = list(dict.fromkeys(thread_keys))
        blind = {self._blind_thread(k): k for k in keys}
        wanted = [*keys, *blind] if self._vault.plain_addresses else list(blind)
        found = self._inner.threads(list(contact_ids), channel, account, wanted)
        threads: dict[tuple[int, str], tuple[int, Any]] = {}
        for (contact_id, stored), value in found.items():
            key = blind.get(stored, stored)
            best = threads.get((contact_id, key))
            if best is None or (value[1], value[0]) > (best[1], best[0]):
                threads[(contact_id, key)] = value
        return threads

    def insert_conversations(self, conversations: Sequence[Conversation]) -> None:
        self.sealer.prefetch(c.contact_id for c in conversations)
        self._inner.insert_conversations([attrs.evolve(
            c, thread_key=None if c.thread_key is None else self._blind_thread(c.thread_key),
            subject=None if c.subject is None else self._seal_text(
                c.contact_id, c.subject, b"c/%d" % c.id)) for c in conversations])

    def conversation(self, conversation_id: int) -> Conversation | None:
        found = self._inner.conversation(conversation_id)
        if found is None or not (found.subject or "").startswith(_SEALED_NAME):
            return found
        cipher = self.sealer.cipher_for(found.contact_id) if self._has_key(
            found.contact_id) else None
        subject = None if cipher is None else Keyring.open(
            cipher, base64.b64decode(found.subject[len(_SEALED_NAME):]),  # type: ignore[index]
            b"c/%d" % found.id).decode()
        return attrs.evolve(found, subject=subject)

    def _has_key(self, contact_id: int) -> bool:
        return self._inner.data_keys([contact_id]).get(contact_id) is not None

    def _seal_text(self, contact_id: int, text: str, row: bytes) -> str:
        sealed = Keyring.seal(self.sealer.cipher_for(contact_id), CONTACT, text.encode(), row)
        return _SEALED_NAME + base64.b64encode(sealed).decode()

    def _seal_name(self, contact_id: int, name: str) -> str:
        sealed = Keyring.seal(self.sealer.cipher_for(contact_id), CONTACT, name.encode(),
                              b"n/%d" % contact_id)
        return _SEALED_NAME + base64.b64encode(sealed).decode()

    def insert_contacts(self, contacts: Sequence[Contact]) -> None:
        self.sealer.prefetch(c.id for c in contacts)  # one read for the whole batch
        self._inner.insert_contacts([
            attrs.evolve(c, display_name=self._seal_name(c.id, c.display_name))
            if c.display_name else c for c in contacts])

    def set_display_name(self, contact_id: int, name: str) -> None:
        self._inner.set_display_name(contact_id, self._seal_name(contact_id, name))

    def contact(self, contact_id: int) -> Contact | None:
        found = self._inner.contact(contact_id)
        return None if found is None else self._readable([found])[0]

    def contacts(self, after: int = 0) -> Iterator[Contact]:
        page: list[Contact] = []
        for contact in self._inner.contacts(after):
            page.append(contact)
            if len(page) >= 200:
                yield from self._readable(page)
                page = []
        yield from self._readable(page)

    def _readable(self, contacts: list[Contact]) -> list[Contact]:
        seals = self._inner.address_seals([c.id for c in contacts]) if contacts else {}
        readable = []
        for stored in contacts:
            contact = stored
            sealed = seals.get(contact.id)
            name = contact.display_name
            if name is not None and name.startswith(_SEALED_NAME):
                blob = base64.b64decode(name[len(_SEALED_NAME):])
                contact = attrs.evolve(contact, display_name=Keyring.open(
                    self.sealer.cipher_for(contact.id), blob, b"n/%d" % contact.id).decode())
            if not sealed:
                readable.append(contact)
                continue
            cipher = self.sealer.cipher_for(contact.id)
            opened: dict[tuple[str, str], Address] = {}
            for kind, blind, blob in sealed:
                value, name = _loads(Keyring.open(cipher, blob, f"a/{kind}/{blind}".encode()))
                opened[(kind, blind)] = Address(kind=kind, value=value, name=name)
            readable.append(attrs.evolve(contact, addresses=tuple(
                opened.get((str(a.kind), a.value), a) for a in contact.addresses)))
        return readable
