"""Telegram: the Bot API, by webhook or by polling, and its sender.

- `_channel`: the `Telegram` adapter (secret-token check, parsing, polling
  with ``getUpdates``, sending);
- `_parse`: ``Update`` objects to `ChannelEvent`s (pure);
- `_api`: the Bot API client with its retries and typed errors.
"""

from __future__ import annotations

from ._channel import Telegram

__all__ = ["Telegram"]
