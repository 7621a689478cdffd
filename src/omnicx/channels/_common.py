"""Helpers every channel adapter needs: signatures, JSON, headers, timestamps.

They translate third-party failures into omnicx errors at the boundary, so
an adapter written with them cannot leak a `json.JSONDecodeError`,
`KeyError` or `TypeError` to the caller.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from .._errors import ConfigurationError, PayloadError, SignatureError

try:  # the `fast` extra
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]

__all__ = [
    "expect",
    "get_header",
    "hmac_sha256_hex",
    "load_json",
    "parse_epoch",
    "require_secret",
    "verify_hmac_sha256",
]


def get_header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Return header ``name`` looked up case-insensitively, or ``None``."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def hmac_sha256_hex(secret: bytes, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.digest(secret, body, "sha256").hex()  # one-shot: no HMAC object per call


def require_secret(instance: object, attribute: Any, value: Any) -> None:
    """An attrs validator: a signing secret, when given, is not empty or blank.

    An empty key makes HMAC checks pass for anyone who signs with the empty
    key too, so it is refused at construction rather than at the first
    request. ``None`` stays allowed where the field is optional (a channel
    used only to send); verifying with it is a `ConfigurationError`.
    """
    if value is None:
        return
    if not isinstance(value, (str, bytes)):
        raise ConfigurationError(
            f"{type(instance).__name__}: {attribute.name} must be str or bytes,"
            f" not {type(value).__name__}")
    if not value.strip():
        raise ConfigurationError(
            f"{type(instance).__name__}: {attribute.name} is empty; give the secret"
            " the provider signs requests with")


def verify_hmac_sha256(
    secret: bytes,
    body: bytes,
    signature: str | None,
    *,
    prefix: str = "sha256=",
    what: str = "signature",
) -> None:
    """Raise `SignatureError` unless ``signature`` is ``prefix`` + the hex HMAC of ``body``.

    The comparison is constant-time.
    """
    if not signature:
        raise SignatureError(f"missing {what}")
    if not signature.startswith(prefix):
        raise SignatureError(f"malformed {what}: expected the prefix {prefix!r}")
    expected = prefix + hmac_sha256_hex(secret, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise SignatureError(f"{what} does not match the body")


def load_json(body: bytes | str, *, channel: str) -> Any:
    """Decode a JSON body or raise `PayloadError`.

    Uses orjson (the `fast` extra) when it is installed, else the json module.
    orjson is about three times faster on webhook bodies and stricter (no
    ``NaN``, no lone surrogates, integers within 64 bits), which no provider
    body needs: what it refuses is quarantined like any malformed body.
    """
    if orjson is not None:
        try:
            return orjson.loads(body)
        except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise PayloadError(f"body is not valid JSON: {exc}", channel=channel) from exc
    try:
        return json.loads(body)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PayloadError(f"body is not valid JSON: {exc}", channel=channel) from exc
    except RecursionError as exc:  # "[[[[...]]]]" nested deeper than the interpreter goes
        raise PayloadError("body is nested too deeply", channel=channel) from exc


def expect(value: Any, kind: type | tuple[type, ...], what: str, *, channel: str) -> Any:
    """Return ``value`` if it is an instance of ``kind``, else raise `PayloadError`."""
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise PayloadError(
            f"{what}: expected {names}, got {type(value).__name__}", channel=channel
        )
    return value


def parse_epoch(value: Any, *, channel: str, what: str = "timestamp") -> dt.datetime:
    """Parse Unix seconds (int, float or digit string; ms if implausibly large) to aware UTC."""
    if isinstance(value, bool):
        raise PayloadError(f"{what}: not a timestamp: {value!r}", channel=channel)
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what}: not a timestamp: {value!r}", channel=channel) from exc
    if seconds > 1e11:  # milliseconds
        seconds /= 1000.0
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise PayloadError(f"{what}: out of range: {value!r}", channel=channel) from exc


class HttpClientOwner:
    """``close()`` and ``with`` for an adapter whose HTTP client is a cached property.

    ``_client_attribute`` names that property. Closing reads the attribute with
    ``object.__getattribute__``, which bypasses the (attrs, slotted) cached
    property: closing never opens a client just to close it.
    """

    __slots__ = ()
    _client_attribute: ClassVar[str] = "_api"

    def close(self) -> None:
        """Close the HTTP connection pool (if one was opened)."""
        try:
            client = object.__getattribute__(self, self._client_attribute)
        except AttributeError:
            return
        client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
