"""Where a user's adapter or channel name enters omnicx, read once as a `Channel`.

The protocols of `omnicx.typing` let an adapter say ``channel = "phone"`` as
readily as ``channel = Channel.PHONE``, and every public API that filters by
channel takes names too. Inside, code relies on a `Channel` (``.value`` is
the stored name, ``"Phone"`` and ``"phone"`` are one channel), so each entry
point converts here, and a value that names no channel at all (``""``, a
number) is a `ConfigurationError` that says which adapter is wrong, not an
``AttributeError`` from deep inside the ingest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._enums import Channel, to_channel
from ._errors import ConfigurationError

if TYPE_CHECKING:
    from .typing import ChannelAdapter, Sender

__all__ = ["adapter_channel", "channel_names"]


def _channel(value: object, what: str) -> Channel:
    if isinstance(value, Channel):
        return value
    if isinstance(value, str) and value.strip():
        return to_channel(value.strip())
    raise ConfigurationError(f"{what} must be a channel name such as 'phone', not {value!r}")


def adapter_channel(adapter: ChannelAdapter | Sender) -> Channel:
    """The channel an adapter serves, whether it says ``"phone"`` or ``Channel.PHONE``."""
    return _channel(getattr(adapter, "channel", None), f"{type(adapter).__name__}.channel")


def channel_names(channels: Iterable[Channel | str] | None) -> frozenset[str] | None:
    """A channel filter (``{"email", Channel.PHONE}``) as stored names; ``None`` is all."""
    if channels is None:
        return None
    if isinstance(channels, str):  # "email" is one channel, not five letters
        channels = (channels,)
    names = frozenset(_channel(c, "a channel filter").value for c in channels)
    return names or None
