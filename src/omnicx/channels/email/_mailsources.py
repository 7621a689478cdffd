"""Streaming raw messages out of ``.eml`` files, mbox files and Maildirs.

`iter_messages(path, after=position)` yields ``(position, raw bytes)`` pairs,
one message in memory at a time, whatever the size of the archive. The
position is an opaque string naming the point *after* that message: store
it with the message (``History.receive_batch(..., cursor=...)``) and pass it
back as ``after`` to resume, after a crash, exactly behind the last message
committed.

- a single ``.eml`` file: one message, position ``"eml:1"``;
- an mbox file (first line ``From ``): split on ``From sender date`` lines
  that follow a blank line (an unescaped ``From here on`` in a body is not a
  separator); ``>From`` escapes are undone (mboxrd); the position is the
  byte offset of the next message (``"mbox:<offset>"``), so resuming seeks
  instead of re-reading;
- a Maildir (``cur``/``new``/``tmp``): messages in the order of their unique
  names (which begin with the delivery time), position ``"maildir:<name>"``
  without the ``:2,`` flags, so a message moved from ``new`` to ``cur`` is
  still recognised;
- a directory of ``*.eml`` files: in name order, position ``"dir:<name>"``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..._errors import OmnicxError

__all__ = ["MailSourceError", "detect_format", "iter_messages"]

_ESCAPED_FROM = re.compile(rb"^>(>*From )")
# "From sender asctime-date": unescaped body lines ("From here on ...") do not end in a year.
_SEPARATOR = re.compile(rb"^From \S+ .*\d\d:\d\d.*\d{4}(?: [+-]\d{4})?\s*$")


class MailSourceError(OmnicxError, OSError):
    """A mail archive or server could not be read (missing file, bad cursor, IMAP failure)."""


def detect_format(path: Path) -> str:
    """``"eml"``, ``"mbox"``, ``"maildir"`` or ``"dir"`` for ``path``."""
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            return "maildir"
        return "dir"
    if not path.is_file():
        raise MailSourceError(f"no such mail file or directory: {path}")
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:
        raise MailSourceError(f"cannot read {path}: {exc}") from exc
    return "mbox" if head == b"From " else "eml"


def iter_messages(path: str | os.PathLike[str], *, after: str | None = None
                  ) -> Iterator[tuple[str, bytes]]:
    """Yield ``(position, raw message)`` from ``path``, resuming behind ``after``."""
    source = Path(path)
    kind = detect_format(source)
    if after is not None and not after.startswith(f"{kind}:"):
        raise MailSourceError(f"position {after!r} does not belong to the {kind} at {source}")
    try:
        if kind == "eml":
            if after is None:
                yield "eml:1", source.read_bytes()
        elif kind == "mbox":
            yield from _mbox(source, int(after[5:]) if after else 0)
        elif kind == "maildir":
            yield from _maildir(source, after[8:] if after else None)
        else:
            yield from _eml_dir(source, after[4:] if after else None)
    except ValueError as exc:
        raise MailSourceError(f"bad position {after!r} for {source}: {exc}") from exc
    except OSError as exc:
        if isinstance(exc, MailSourceError):
            raise
        raise MailSourceError(f"cannot read {source}: {exc}") from exc


def _finish(lines: list[bytes]) -> bytes:
    # mbox writers add one empty line before the next "From " separator.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def _mbox(path: Path, offset: int) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if offset > size:
            raise MailSourceError(f"position {offset} is past the end of {path} ({size} bytes)")
        handle.seek(offset)
        position = offset
        lines: list[bytes] | None = None
        previous_blank = True
        for line in handle:
            if previous_blank and line.startswith(b"From ") and _SEPARATOR.match(line):
                if lines is not None:
                    yield f"mbox:{position}", _finish(lines)
                lines = []
                previous_blank = False
                position += len(line)
                continue
            if lines is None:
                if offset:
                    raise MailSourceError(f"position {offset} in {path} is not a message start")
                lines = []
            position += len(line)
            previous_blank = line in (b"\n", b"\r\n")
            lines.append(_ESCAPED_FROM.sub(rb"\1", line) if line.startswith(b">") else line)
        if lines:
            yield f"mbox:{position}", _finish(lines)


def _stem(name: str) -> str:
    return name.split(":", 1)[0].split("!", 1)[0]


def _maildir(path: Path, after: str | None) -> Iterator[tuple[str, bytes]]:
    entries: dict[str, Path] = {}
    for sub in ("new", "cur"):
        folder = path / sub
        if folder.is_dir():
            for entry in os.scandir(folder):
                if entry.is_file() and not entry.name.startswith("."):
                    entries.setdefault(_stem(entry.name), Path(entry.path))
    for stem in sorted(entries):
        if after is not None and stem <= after:
            continue
        file = entries[stem]
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            # Moved between new/ and cur/ (or deleted) while we were reading.
            moved = [p for p in (path / "cur").glob(f"{stem}*") if _stem(p.name) == stem]
            if not moved:
                continue
            raw = moved[0].read_bytes()
        yield f"maildir:{stem}", raw


def _eml_dir(path: Path, after: str | None) -> Iterator[tuple[str, bytes]]:
    names = sorted(entry.name for entry in os.scandir(path)
                   if entry.is_file() and entry.name.lower().endswith(".eml"))
    for name in names:
        if after is not None and name <= after:
            continue
        yield f"dir:{name}", (path / name).read_bytes()
