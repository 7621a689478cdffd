"""`History.poll`: store what a polling channel fetched, with its position, in one transaction.

A provider that keeps undelivered updates until asked for a later position
(Telegram's ``getUpdates`` with ``offset``) gives at-least-once delivery for
free if the position is saved *with* the updates: fetch from the saved
cursor, store the payloads and the next cursor in one `receive_batch`
transaction, and only the next fetch tells the provider it may forget them.
A crash before the commit fetches the same updates again; each is stored
once, by its external id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._history import History, Receipt
    from .typing import Poller

__all__ = ["poll"]


def poll(history: History, channel: Poller, *, limit: int = 100) -> Receipt:
    """One fetch from ``channel``'s saved cursor, stored with the cursor it reached."""
    from ._history import Receipt

    name = channel.poll_cursor
    batch = channel.fetch(history.cursor(name), limit=limit)
    if not batch.payloads:
        return Receipt()
    cursor = None if batch.cursor is None else (name, batch.cursor)
    return history.receive_batch(batch.adapter, batch.payloads, cursor=cursor)
