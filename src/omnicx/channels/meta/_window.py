"""The customer-service window Meta's platforms share: how long since the customer wrote.

WhatsApp, Messenger and Instagram allow free-form messages for 24 hours
after the customer's last message (Messenger's ``HUMAN_AGENT`` tag for 7
days). A CRM asks before offering a free-form reply; the answer comes from
the history itself, through the public timeline (merged contacts included).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..._history import History
    from ..._models import Contact

__all__ = ["last_inbound"]


def last_inbound(history: History, contact: Contact | int, channel: str, account: str,
                 since: dt.datetime) -> dt.datetime | None:
    """When ``contact`` last wrote to ``account`` on ``channel`` after ``since`` (or ``None``)."""
    cursor = None
    while True:
        page = history.timeline(contact, limit=100, before=cursor, channels={channel},
                                since=since)
        for item in page.items:
            if item.account == account and item.direction == "inbound":
                return item.occurred_at
        if page.next_cursor is None:
            return None
        cursor = page.next_cursor
