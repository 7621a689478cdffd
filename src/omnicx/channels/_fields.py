"""Typed access to decoded JSON for parsers: a wrong shape is a `PayloadError`, never a crash.

Webhook bodies are untrusted. A parser that writes ``message["from"]["id"]``
leaks a `KeyError` or `TypeError` on the first odd payload; one that reads
through a `Fields` gets a `PayloadError` naming the field and the channel,
which the history quarantines. The Telegram and Messenger/Instagram parsers
read every value through one; the hypothesis tests mutate valid payloads to
prove nothing else escapes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from .._errors import PayloadError
from ._common import parse_epoch

__all__ = ["EMPTY", "Fields"]

EMPTY: Mapping[str, Any] = {}


class Fields:
    """Readers for one channel's decoded JSON; errors name ``channel``."""

    __slots__ = ("channel",)

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def owned(self, exc: PayloadError) -> PayloadError:
        """``exc`` naming this channel (errors from shared code, e.g. an `Address`, name none)."""
        if exc.channel is None:
            exc.channel = self.channel
        return exc

    def fail(self, message: str) -> PayloadError:
        return PayloadError(message, channel=self.channel)

    def obj(self, value: Any, what: str) -> Mapping[str, Any]:
        """``value`` if it is an object, else `PayloadError`."""
        if type(value) is dict:
            return value
        if isinstance(value, Mapping):
            return value
        raise self.fail(f"{what}: expected an object, got {type(value).__name__}")

    def opt_obj(self, parent: Mapping[str, Any], key: str, what: str) -> Mapping[str, Any]:
        """``parent[key]`` as an object; an empty one when absent or null."""
        value = parent.get(key)
        if value is None:
            return EMPTY
        return self.obj(value, f"{what}.{key}")

    def objs(self, parent: Mapping[str, Any], key: str, what: str,
             *, required: bool = False) -> list[Mapping[str, Any]]:
        """``parent[key]`` as a list of objects; empty when absent (unless ``required``)."""
        value = parent.get(key)
        if value is None:
            if required:
                raise self.fail(f"{what}.{key} is required")
            return []
        if type(value) is not list:
            raise self.fail(f"{what}.{key}: expected a list, got {type(value).__name__}")
        for item in value:
            if type(item) is not dict:
                self.obj(item, f"{what}.{key}[]")
        return value

    def text(self, parent: Mapping[str, Any], key: str, what: str,
             *, required: bool = False) -> str | None:
        """``parent[key]`` as a non-empty string (ids given as numbers become strings)."""
        value = parent.get(key)
        if type(value) is str and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if value is not None and not isinstance(value, str):
            raise self.fail(f"{what}.{key}: expected a string, got {type(value).__name__}")
        if required:
            raise self.fail(f"{what}.{key} is required")
        return None

    def integer(self, parent: Mapping[str, Any], key: str, what: str,
                *, required: bool = False) -> int | None:
        """``parent[key]`` as an integer (a string of digits is accepted)."""
        value = parent.get(key)
        if type(value) is int:
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit() and value.isascii():
            return int(value)
        if value is None and not required:
            return None
        # The type, never the value: error texts are kept in the clear with the
        # quarantined payload, and a value may be personal data.
        raise self.fail(f"{what}.{key}: expected an integer, got {type(value).__name__}")

    def number(self, parent: Mapping[str, Any], key: str, what: str) -> float | None:
        """``parent[key]`` as a finite number, or ``None`` when absent."""
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{what}.{key}: expected a number, got {type(value).__name__}")
        try:
            number = float(value)
        except OverflowError as exc:
            raise self.fail(f"{what}.{key}: out of range") from exc
        if not math.isfinite(number):
            raise self.fail(f"{what}.{key}: not a finite number")
        return number

    def flag(self, parent: Mapping[str, Any], key: str) -> bool:
        """``parent[key]`` is true (JSON ``true``; anything else is false)."""
        return parent.get(key) is True

    def time(self, parent: Mapping[str, Any], key: str, what: str) -> dt.datetime | None:
        """``parent[key]`` as Unix seconds or milliseconds, to aware UTC; ``None`` when absent."""
        value = parent.get(key)
        if value is None:
            return None
        return parse_epoch(value, channel=self.channel, what=f"{what}.{key}")
