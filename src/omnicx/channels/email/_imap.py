"""Incremental IMAP fetching with a UIDVALIDITY/UID cursor (stdlib `imaplib`).

A folder's position is ``"<uidvalidity>:<last uid>"``. Fetching from a cursor
asks the server for ``UID <last+1>:*`` and yields every newer message with
the cursor that includes it, so a caller that stores the cursor in the same
transaction as the messages (``History.receive_batch``) resumes exactly
where it stopped, however long it was down. If the server's UIDVALIDITY
differs from the cursor's, UIDs were renumbered: the folder is read again
from the start, and the Message-ID dedupe of the pipeline keeps the messages
already stored from being stored twice.

Messages are fetched with ``BODY.PEEK[]``: syncing never marks mail as read.
Network and protocol errors become `MailSourceError`.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterator

import attrs

from ..._errors import ConfigurationError
from ._mailsources import MailSourceError

__all__ = ["FetchedMail", "IMAPSettings", "ImapCursor", "fetch_new"]

_UID = re.compile(rb"UID (\d+)")


@attrs.frozen(kw_only=True)
class IMAPSettings:
    """How to reach the mailbox: ``security`` is ``"ssl"`` (993), ``"starttls"`` or ``"none"``."""

    host: str
    port: int = 993
    username: str
    password: str = attrs.field(repr=False)
    security: str = attrs.field(default="ssl")
    folders: tuple[str, ...] = ("INBOX",)
    timeout: float = 60.0
    batch_size: int = 100

    @security.validator
    def _check_security(self, _attribute: object, value: str) -> None:
        if value not in ("starttls", "ssl", "none"):
            raise ConfigurationError(
                f"IMAP security must be 'ssl', 'starttls' or 'none', not {value!r}")


@attrs.frozen
class ImapCursor:
    """A folder position: the UIDVALIDITY it belongs to and the last UID stored."""

    uidvalidity: int
    uid: int

    def __str__(self) -> str:
        return f"{self.uidvalidity}:{self.uid}"

    @classmethod
    def parse(cls, text: str | None) -> ImapCursor | None:
        """Read a stored cursor; ``None`` (start from the beginning) when there is none."""
        if not text:
            return None
        validity, sep, uid = text.partition(":")
        if not sep or not validity.isdigit() or not uid.isdigit():
            raise ConfigurationError(f"not an IMAP cursor: {text!r}")
        return cls(int(validity), int(uid))


@attrs.frozen(kw_only=True)
class FetchedMail:
    """One message as fetched, with the cursor to store once it is committed."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes
    resynced: bool = False

    @property
    def cursor(self) -> ImapCursor:
        return ImapCursor(self.uidvalidity, self.uid)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(settings: IMAPSettings) -> imaplib.IMAP4:
    """An authenticated IMAP connection (the caller logs out)."""
    client: imaplib.IMAP4 | None = None
    try:
        if settings.security == "ssl":
            client = imaplib.IMAP4_SSL(settings.host, settings.port,
                                       ssl_context=ssl.create_default_context(),
                                       timeout=settings.timeout)
        else:
            client = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
            if settings.security == "starttls":
                client.starttls(ssl.create_default_context())
        client.login(settings.username, settings.password)
    except (imaplib.IMAP4.error, OSError) as exc:
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown()
        raise MailSourceError(f"IMAP {settings.host}:{settings.port}: {exc}") from exc
    return client


def _uidvalidity(client: imaplib.IMAP4, folder: str) -> int:
    status, _ = client.select(_quote(folder), readonly=True)
    if status != "OK":
        raise MailSourceError(f"IMAP folder {folder!r} cannot be selected")
    _, values = client.response("UIDVALIDITY")
    for value in values or ():
        if isinstance(value, bytes) and value.strip().isdigit():
            return int(value)
    raise MailSourceError(f"IMAP folder {folder!r}: the server sent no UIDVALIDITY")


def _new_uids(client: imaplib.IMAP4, after: int) -> list[int]:
    status, data = client.uid("SEARCH", f"UID {after + 1}:*")
    if status != "OK":
        raise MailSourceError(f"IMAP UID SEARCH failed: {data!r}")
    uids: set[int] = set()
    for line in data:
        if isinstance(line, bytes):
            uids.update(int(t) for t in line.split() if t.isdigit())
    # "n:*" always matches the highest UID, even one below n.
    return sorted(u for u in uids if u > after)


def _fetch(client: imaplib.IMAP4, uids: list[int]) -> Iterator[tuple[int, bytes]]:
    status, data = client.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
    if status != "OK":
        raise MailSourceError(f"IMAP UID FETCH failed: {data!r}")
    found: dict[int, bytes] = {}
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            match = _UID.search(item[0])
            if match:
                found[int(match.group(1))] = item[1]
    for uid in uids:
        if uid in found:
            yield uid, found[uid]


def fetch_new(
    settings: IMAPSettings,
    folder: str,
    cursor: ImapCursor | None,
    *,
    client: imaplib.IMAP4 | None = None,
) -> Iterator[FetchedMail]:
    """Every message in ``folder`` after ``cursor``, oldest UID first, in batches."""
    own = client is None
    conn = connect(settings) if client is None else client
    try:
        validity = _uidvalidity(conn, folder)
        resynced = cursor is not None and cursor.uidvalidity != validity
        after = cursor.uid if cursor is not None and not resynced else 0
        uids = _new_uids(conn, after)
        size = max(1, settings.batch_size)
        for start in range(0, len(uids), size):
            for uid, raw in _fetch(conn, uids[start:start + size]):
                yield FetchedMail(folder=folder, uidvalidity=validity, uid=uid, raw=raw,
                                  resynced=resynced)
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailSourceError(f"IMAP {settings.host}:{settings.port} {folder!r}: {exc}") from exc
    finally:
        if own:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                conn.logout()
