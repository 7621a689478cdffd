"""Meta's platforms: WhatsApp Cloud API, Messenger and Instagram.

What the three share is written once, in `_graph`: the Graph webhook's
``X-Hub-Signature-256`` check, the subscription handshake and the Graph API
client with its retries and typed errors; and in `_window`, the look-up of the
customer's last message for the customer-service window. Each platform adds
its parser and its error-code map:

- `whatsapp`: the `WhatsApp` adapter and sender; `_whatsapp_parse` (the
  webhook body to `ChannelEvent`s, pure), `_whatsapp_send` (request bodies,
  the 24-hour window, WhatsApp's error codes);
- `messenger`: the `Messenger` and `Instagram` adapters and senders;
  `_messaging_parse` (``entry[].messaging[]``, both platforms),
  `_messaging_send` (Send API bodies, window and message tags, error codes).
"""

from __future__ import annotations

from ._graph import Handshake
from .messenger import Instagram, Messenger
from .whatsapp import WhatsApp

__all__ = ["Handshake", "Instagram", "Messenger", "WhatsApp"]
