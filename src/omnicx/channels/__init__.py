"""Channel adapters, each a `omnicx.typing.ChannelAdapter`.

One subpackage per provider family (``email/``, ``meta/`` for WhatsApp and
Meta's other platforms), one module for a single-adapter provider
(``webchat``). Parsing is a pure function of (headers, body), so adapters
are fast, fuzzable and need no server. ``omnicx.channels._common`` has what
families share (signatures, JSON, timestamps) and keeps provider quirks from
leaking third-party exceptions. The public names are importable from here.
"""

from __future__ import annotations

from .email import Email, IMAPSettings, SMTPSettings
from .forms import WebForm
from .meta import WhatsApp
from .twilio import Twilio
from .webchat import WebChat

__all__ = [
    "Email",
    "IMAPSettings",
    "SMTPSettings",
    "Twilio",
    "WebChat",
    "WebForm",
    "WhatsApp",
]
