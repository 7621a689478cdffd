"""Meta's platforms: WhatsApp Cloud API (and, sharing its Graph webhook
envelope, ``X-Hub-Signature-256`` check and send client, Messenger and
Instagram).

- `whatsapp`: the `WhatsApp` adapter, its verification handshake and sender.
- `_whatsapp_parse`: the webhook body to `ChannelEvent`s (pure).
- `_whatsapp_send`: the Graph API client and the 24-hour window.
"""

from __future__ import annotations

from .whatsapp import Handshake, WhatsApp

__all__ = ["Handshake", "WhatsApp"]
