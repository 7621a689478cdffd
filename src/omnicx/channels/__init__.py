"""Channel adapters: one module per provider, each a `omnicx.typing.ChannelAdapter`.

Parsing is a pure function of (headers, body), so adapters are fast,
fuzzable and need no server. ``omnicx.channels._common`` has the helpers
(signatures, JSON, timestamps) that keep provider quirks from leaking
third-party exceptions.
"""

from __future__ import annotations

from .email import Email, IMAPSettings, SMTPSettings
from .webchat import WebChat
from .whatsapp import WhatsApp

__all__ = ["Email", "IMAPSettings", "SMTPSettings", "WebChat", "WhatsApp"]
