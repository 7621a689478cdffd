"""Channel adapters, each a `omnicx.typing.ChannelAdapter`.

One subpackage per provider family (``email/``, ``meta/`` for WhatsApp,
Messenger and Instagram, ``telegram/``), one module for a single-adapter provider
(``webchat``). Parsing is a pure function of (headers, body), so adapters
are fast, fuzzable and need no server. ``omnicx.channels._common`` has what
families share (signatures, JSON, timestamps) and keeps provider quirks from
leaking third-party exceptions. ``Authenticated`` gives a channel whose
requests carry no signature (email) a bearer token or HMAC, so that it can
be served over HTTP. The public names are importable from here.
"""

from __future__ import annotations

from ._authenticated import Authenticated
from .email import Email, IMAPSettings, SMTPSettings
from .forms import WebForm
from .meta import Instagram, Messenger, WhatsApp
from .telegram import Telegram
from .twilio import Twilio
from .webchat import WebChat

__all__ = [
    "Authenticated",
    "Email",
    "IMAPSettings",
    "Instagram",
    "Messenger",
    "SMTPSettings",
    "Telegram",
    "Twilio",
    "WebChat",
    "WebForm",
    "WhatsApp",
]
