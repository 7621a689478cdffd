"""Encryption at rest: the master key, per-contact data keys, sealing and opening.

The key hierarchy (``docs/privacy.md`` explains it for operators):

- the **master key** (32 bytes) is given to `omnicx.open` (``key=``) or in the
  ``OMNICX_KEY`` environment variable; it is never stored;
- each contact has a random **data key**, kept in ``contacts.data_key``
  wrapped (AES-GCM) by the master key; erasing a contact destroys it, which
  makes its content unreadable for everyone, including the master key's owner;
- one **archive key**, wrapped the same way (in ``omnicx_meta``), seals what
  belongs to no known contact yet: raw payloads and updates that arrived
  before their message. Erasure deletes those rows' ciphertext outright;
- one **index key**, wrapped the same way, keys the HMAC that addresses are
  stored and found by (a blind index): exact-match lookups work, the stored
  value does not reveal the address. The readable address is sealed beside
  it under the contact's data key.

Sealed values are ``b"\\x01" + key tag + 12-byte nonce + AES-256-GCM
ciphertext``; the associated data binds a ciphertext to its table and row id,
so a sealed value copied onto another row does not open. Rotating the master
key re-wraps the data keys and leaves the content untouched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._errors import ConfigurationError, TamperedError

__all__ = [
    "ARCHIVE",
    "CONTACT",
    "KEY_ENV",
    "Keyring",
    "forget_cached",
    "key_from_env",
    "parse_key",
    "warn_clear",
]

KEY_ENV = "OMNICX_KEY"
CONTACT = 1  # key tag: sealed under the owning contact's data key
ARCHIVE = 2  # key tag: sealed under the archive key
_FORMAT = 1
_NONCE = 12
_CHECK_INFO = b"omnicx key check v1"
_CACHE_LIMIT = 4096

log = logging.getLogger("omnicx")
_warned: set[str] = set()  # what was already said once in this process


def warn_clear() -> None:
    """Log, once per process, that content is being written without encryption at rest."""
    if "clear" not in _warned:
        _warned.add("clear")
        log.warning(
            "omnicx: no encryption key configured (key= or %s); message content is stored"
            " in the clear and erasure cannot crypto-shred", KEY_ENV)


def parse_key(value: bytes | str) -> bytes:
    """A 32-byte master key from raw bytes, base64 (standard or URL-safe) or hex text."""
    if isinstance(value, bytes) and len(value) == 32:
        return value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(text.replace("-", "+").replace("_", "/")
                                   + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("an omnicx key is 32 bytes, or their base64 or hex") from exc
    if len(decoded) != 32:
        raise ConfigurationError(f"an omnicx key is 32 bytes, got {len(decoded)}")
    return decoded


def key_from_env() -> bytes | None:
    """The master key from ``OMNICX_KEY``, or ``None`` when it is unset or empty."""
    value = os.environ.get(KEY_ENV, "").strip()
    return parse_key(value) if value else None


def new_key() -> bytes:
    return os.urandom(32)


class Keyring:
    """The master key and the data keys it unwraps, for one `History`."""

    def __init__(self, master: bytes) -> None:
        self._master = AESGCM(master)
        self._check = hmac.new(master, _CHECK_INFO, hashlib.sha256).hexdigest()
        self._opened: dict[tuple[str, bytes], AESGCM] = {}

    @property
    def check_value(self) -> str:
        """A fingerprint of the master key, stored to refuse a wrong key early."""
        return self._check

    # -- data keys ---------------------------------------------------------------------
    def wrap(self, owner: str, data_key: bytes) -> bytes:
        """Wrap ``data_key`` for ``owner`` (``"contact:12"``, ``"archive"``)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._master.encrypt(nonce, data_key, b"omnicx/key/" + owner.encode())

    def unwrap(self, owner: str, wrapped: bytes) -> AESGCM:
        """The cipher of a wrapped data key; `ConfigurationError` under a wrong master key."""
        cached = self._opened.get((owner, wrapped))
        if cached is not None:
            return cached
        try:
            key = self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:],
                                       b"omnicx/key/" + owner.encode())
        except InvalidTag as exc:
            raise ConfigurationError(
                f"the data key of {owner} does not open with this master key") from exc
        if len(self._opened) >= _CACHE_LIMIT:
            self._opened.clear()
        cipher = self._opened[(owner, wrapped)] = AESGCM(key)
        return cipher

    def unwrap_raw(self, owner: str, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:],
                                        b"omnicx/key/" + owner.encode())
        except InvalidTag as exc:
            raise ConfigurationError(
                f"the data key of {owner} does not open with this master key") from exc

    # -- content -----------------------------------------------------------------------
    @staticmethod
    def seal(cipher: AESGCM, tag: int, plaintext: bytes, row: bytes) -> bytes:
        """Encrypt ``plaintext`` for the row named ``row`` (e.g. ``b"i/42"``)."""
        nonce = os.urandom(_NONCE)
        head = bytes((_FORMAT, tag))
        return head + nonce + cipher.encrypt(nonce, plaintext, head + row)

    @staticmethod
    def tag(sealed: bytes) -> int:
        if (not isinstance(sealed, bytes) or len(sealed) < 2 + _NONCE
                or sealed[0] != _FORMAT):
            raise TamperedError("a sealed value is damaged or of an unknown format")
        return sealed[1]

    @staticmethod
    def open(cipher: AESGCM, sealed: bytes, row: bytes) -> bytes:
        """Decrypt a value `seal` produced for the same row.

        `TamperedError` (a `StorageError`) when it does not open: damaged,
        moved to another row, under another key, or not bytes at all.
        """
        if not isinstance(sealed, bytes) or len(sealed) < 2 + _NONCE:
            raise TamperedError(f"sealed content of {row.decode()} is damaged")
        head = sealed[:2]
        try:
            return cipher.decrypt(sealed[2:2 + _NONCE], sealed[2 + _NONCE:], head + row)
        except InvalidTag as exc:
            raise TamperedError(
                f"sealed content of {row.decode()} does not open: damaged, moved or"
                " under another key") from exc

    # -- blind index -------------------------------------------------------------------
    @staticmethod
    def blind(index_key: bytes, kind: str, value: str) -> str:
        """The keyed hash an address is stored and found by (its blind index)."""
        return _blind(index_key, kind, value)


def forget_cached(keyring: Keyring | None) -> None:
    """Drop what this process remembers of keys and addresses (after an erasure):
    the blind-index cache is keyed by readable addresses, the keyring's by
    wrapped data keys."""
    _blind.cache_clear()
    if keyring is not None:
        keyring._opened.clear()


@lru_cache(maxsize=65536)
def _blind(index_key: bytes, kind: str, value: str) -> str:
    digest = hmac.digest(index_key, f"{kind}\x00{value}".encode(), "sha256")
    return "bi:" + base64.urlsafe_b64encode(digest[:24]).decode()
