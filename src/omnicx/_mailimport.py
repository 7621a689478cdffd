"""Bulk mail intake: `History.import_path` and `History.sync_imap`.

Both stream messages from their source, one batch in memory at a time, and
store each batch with `History.receive_batch` *together with the source
position reached* (a named cursor), in one transaction. After a crash the
next run reads the cursor and continues right behind the last committed
batch; the Message-ID dedupe covers the rest, so nothing is stored twice and
nothing is skipped.

- ``import_path``: an ``.eml`` file, an mbox file, a Maildir or a directory of
  ``.eml`` files (`omnicx.channels.email._mailsources`). Cursor name
  ``import:<channel>:<account>:<absolute path>``.
- ``sync_imap``: every configured folder of ``channel.imap``, cursor
  ``imap:<account>:<folder>`` holding ``<uidvalidity>:<uid>``.

The returned `Receipt` has the counts but no ``interactions`` or
``raw_ids``: an archive of a million messages must not come back as a
million objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import attrs

from ._adapters import adapter_channel
from ._errors import ConfigurationError
from .channels.email._imap import FetchedMail, ImapCursor, fetch_new
from .channels.email._mailsources import iter_messages
from .typing import ChannelAdapter

if TYPE_CHECKING:
    from ._history import History, Receipt

__all__ = ["ImportProgress", "import_path", "sync_imap"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class ImportProgress:
    """Where an import stands after a committed batch (passed to ``progress``)."""

    source: str
    messages: int  # read from the source in this run
    stored: int
    duplicates: int
    quarantined: int
    position: str  # the cursor value just committed
    fraction: float | None = None  # of the source read, when it is known (mbox)


Progress = Callable[[ImportProgress], None]


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _counts(receipt: Receipt) -> Receipt:
    return attrs.evolve(receipt, interactions=(), raw_ids=())


def import_cursor_name(path: str | os.PathLike[str], channel: ChannelAdapter) -> str:
    return f"import:{adapter_channel(channel).value}:{channel.account}:{Path(path).resolve()}"


def import_path(
    history: History,
    path: str | os.PathLike[str],
    *,
    channel: ChannelAdapter,
    batch_size: int = 200,
    progress: Progress | None = None,
) -> Receipt:
    from ._history import Receipt

    if batch_size < 1:
        raise ConfigurationError("batch_size must be at least 1")
    name = import_cursor_name(path, channel)
    source = Path(path)
    try:
        size = source.stat().st_size if source.is_file() else None
    except OSError:
        size = None  # iter_messages says what is wrong with the path
    total = Receipt()
    read = 0
    for batch in _batches(iter_messages(source, after=history.cursor(name)), batch_size):
        position = batch[-1][0]
        receipt = history.receive_batch(channel, [raw for _, raw in batch],
                                        cursor=(name, position))
        total = total + _counts(receipt)
        read += len(batch)
        if progress is not None:
            fraction = None
            if size and position.startswith("mbox:"):
                fraction = min(1.0, int(position[5:]) / size)
            progress(ImportProgress(source=str(source), messages=read, stored=total.stored,
                                    duplicates=total.duplicates,
                                    quarantined=total.quarantined, position=position,
                                    fraction=fraction))
    return total


def sync_imap(
    history: History,
    channel: ChannelAdapter,
    *,
    folders: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> Receipt:
    from ._history import Receipt

    settings = getattr(channel, "imap", None)
    if settings is None:
        raise ConfigurationError("sync_imap needs a channel with imap=IMAPSettings(...)")
    total = Receipt()
    for folder in folders if folders is not None else settings.folders:
        name = f"imap:{channel.account}:{folder}"
        cursor = ImapCursor.parse(history.cursor(name))
        read = 0
        fetched: Iterator[FetchedMail] = fetch_new(settings, folder, cursor)
        for batch in _batches(fetched, max(1, settings.batch_size)):
            position = str(batch[-1].cursor)
            receipt = history.receive_batch(channel, [m.raw for m in batch],
                                            cursor=(name, position))
            total = total + _counts(receipt)
            read += len(batch)
            if progress is not None:
                progress(ImportProgress(source=f"imap:{folder}", messages=read,
                                        stored=total.stored, duplicates=total.duplicates,
                                        quarantined=total.quarantined, position=position))
    return total
