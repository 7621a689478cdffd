"""The plug-in points of omnicx, as small Protocols.

- `ChannelAdapter`: verify and parse a provider's inbound payloads. Every
  class in `omnicx.channels` implements it; so can yours.
- `Sender`: a channel that can also send (``History.send``).
- `BlobStore`: where attachment bytes go (filesystem by default).
- `Translator`: machine translation (`omnicx.DeepL`, `omnicx.LibreTranslate`).
- `Bot`: answers customers first and hands over to a human (``omnicx.bots``).
- `Poller`: a channel that fetches its payloads (Telegram's ``getUpdates``)
  instead of receiving webhooks (``History.poll``), and `PollBatch`, what
  one fetch returns.

The storage protocol lives in `omnicx.storage` (`omnicx.storage.Store`),
next to the backends that implement it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from ._enums import Channel
from ._events import ChannelEvent

if TYPE_CHECKING:
    from ._bots import BotContext
    from ._models import Interaction
    from ._outbound import Outgoing, SendResult
    from ._translation import Translated

__all__ = [
    "BlobStore",
    "Bot",
    "ChannelAdapter",
    "Headers",
    "PollBatch",
    "Poller",
    "Sender",
    "Translator",
]

Headers = Mapping[str, str]


@runtime_checkable
class ChannelAdapter(Protocol):
    """Turns a provider's raw request into `ChannelEvent`s.

    ``channel`` and ``account`` name where payloads come from (for WhatsApp
    the phone number id, for email the mailbox). ``channel`` may be a plain
    string (``"phone"``, ``"Phone"`` or a channel omnicx does not know): omnicx
    reads it through `omnicx.Channel` once, where the adapter enters. Both
    methods are pure: no I/O, no clock other than what the payload says.
    """

    @property
    def channel(self) -> Channel | str: ...

    @property
    def account(self) -> str: ...

    def verify(self, body: bytes, headers: Headers) -> None:
        """Raise `omnicx.SignatureError` unless the request is authentic."""
        ...

    def parse(self, body: bytes, headers: Headers) -> Sequence[ChannelEvent]:
        """Return the events in ``body``; raise `omnicx.PayloadError` if malformed."""
        ...


@runtime_checkable
class Sender(Protocol):
    """A channel that can deliver outbound messages.

    ``History.send(channel, to=contact)`` picks the contact's first address
    whose kind is in the sender's optional ``address_kinds`` class attribute,
    most preferred first (default ``("phone",)``; WhatsApp uses
    ``("phone", "whatsapp")``, email ``("email",)``). ``channel`` may be a
    plain string, as for `ChannelAdapter`.
    """

    @property
    def channel(self) -> Channel | str: ...

    @property
    def account(self) -> str: ...

    def send(self, message: Outgoing) -> SendResult:
        """Deliver ``message``; return the provider's id or raise `omnicx.SendError`."""
        ...


class BlobStore(Protocol):
    """Content-addressed storage for attachment bytes."""

    def put(self, data: bytes, *, content_type: str | None = None) -> str:
        """Store ``data``; return its key (stable for equal bytes)."""
        ...

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; raise `omnicx.NotFoundError`."""
        ...

    def delete(self, key: str) -> None:
        """Remove the bytes stored under ``key`` (erasure); nothing if there are none."""
        ...


@attrs.frozen(kw_only=True)
class PollBatch:
    """What one `Poller.fetch` returned.

    ``payloads`` are stored like webhook bodies, parsed by ``adapter``;
    ``cursor`` is where the next fetch starts (``None``: where it started),
    saved in the same transaction as the payloads.
    """

    payloads: tuple[bytes, ...]
    cursor: str | None
    adapter: ChannelAdapter


@runtime_checkable
class Poller(Protocol):
    """A channel that fetches what is new from the provider (``History.poll``)."""

    @property
    def poll_cursor(self) -> str:
        """The name of the cursor that keeps this channel's position."""
        ...

    def fetch(self, cursor: str | None, *, limit: int = 100) -> PollBatch:
        """Fetch from ``cursor`` (``None``: from the start) what the provider has."""
        ...


class Translator(Protocol):
    """Translates texts; ``name`` is recorded with every translation it makes."""

    name: str

    def translate(self, texts: Sequence[str], *, target: str,
                  source: str | None = None) -> Sequence[Translated]:
        """``texts`` in ``target`` (ISO 639-1), in order; raise `omnicx.TranslationError`."""
        ...


class Bot(Protocol):
    """Answers customers before a person does (see ``omnicx.bots.BotRunner``).

    ``name`` makes its assignee ``"bot:<name>"``. ``answer`` returns the reply
    to ``message``, or ``None`` when it cannot help (counted as a failure; the
    runner's rules decide when failures mean a handover to a human).
    """

    name: str

    def answer(self, message: Interaction, context: BotContext) -> str | None: ...
