"""Twilio webhook bodies to (name, value) pairs: form-encoded, or a flat JSON object.

Separate from the parsing rules (``_parse``) because the signature check
needs the same pairs (``_signature`` signs them), for any body, valid or not.
`split_form` is ``parse_qsl`` made fast for the escapes Twilio's bodies
consist of; a property test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from ..._errors import PayloadError
from .._common import load_json

__all__ = ["MAX_FIELDS", "decode_params", "form_pairs", "is_json", "split_form"]

_CHANNEL = "sms"
MAX_FIELDS = 1000


def decode_params(body: bytes, content_type: str | None = None) -> Sequence[tuple[str, str]]:
    """The (name, value) pairs of a form-encoded or flat JSON webhook body."""
    if is_json(body, content_type):
        document = load_json(body, channel=_CHANNEL)
        if not isinstance(document, dict):
            raise PayloadError("JSON webhook body is not an object", channel=_CHANNEL)
        pairs: list[tuple[str, str]] = []
        for name, value in document.items():
            if isinstance(value, (dict, list)):
                continue  # nested data is not a webhook parameter; the raw body keeps it
            pairs.append((name, "" if value is None else _scalar(value)))
        return pairs
    form, clean = form_pairs(body)
    if not clean:
        raise PayloadError("form-encoded Twilio webhook is not UTF-8", channel=_CHANNEL)
    if len(form) > MAX_FIELDS:
        raise PayloadError(f"more than {MAX_FIELDS} form fields", channel=_CHANNEL)
    return form


@lru_cache(maxsize=64)
def form_pairs(body: bytes) -> tuple[tuple[tuple[str, str], ...], bool]:
    """A form body's (name, value) pairs, and whether it was valid UTF-8 throughout.

    Signature checks need the pairs of any body, valid or not (bytes that are
    not UTF-8 survive as surrogate escapes, so the signature still covers
    them); parsing refuses an unclean one. Cached because `Twilio.verify`
    and `Twilio.parse` read the same body one after the other.
    """
    try:
        return split_form(body.decode("utf-8"), "strict"), True
    except UnicodeDecodeError:
        return split_form(body.decode("utf-8", "surrogateescape"), "surrogateescape"), False


# The escapes Twilio's bodies are made of (numbers, URLs, times), decoded with
# str.replace: ``unquote`` costs more than the rest of a field's parsing.
# None of them decodes to "%", so a "%" left afterwards means another escape,
# and the field goes to ``unquote`` after all.
_COMMON_ESCAPES = (("%2B", "+"), ("%3A", ":"), ("%2F", "/"), ("%2C", ","), ("%40", "@"),
                   ("%3D", "="), ("%3F", "?"), ("%26", "&"), ("%20", " "))


def _unquote_plus(text: str, errors: str) -> str:
    spaced = text.replace("+", " ") if "+" in text else text
    if "%" not in spaced:
        return spaced
    quick = spaced
    for escape, char in _COMMON_ESCAPES:
        if escape in quick:
            quick = quick.replace(escape, char)
    return quick if "%" not in quick else unquote(spaced, errors=errors)


def split_form(text: str, errors: str = "strict") -> tuple[tuple[str, str], ...]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True)``, several times faster.

    The same rules (fields split on ``&``, ``+`` is a space, ``%XX`` escapes
    decoded as UTF-8, empty fields skipped), with ``unquote`` kept for the
    rare escapes Twilio's bodies do not consist of. A property test holds it
    to ``parse_qsl``.
    """
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name or "%" in name:
            name = _unquote_plus(name, errors)
        if "+" in value or "%" in value:
            value = _unquote_plus(value, errors)
        pairs.append((name, value))
    return tuple(pairs)


def is_json(body: bytes, content_type: str | None) -> bool:
    """Whether a webhook body is JSON: by its Content-Type, else by its first byte."""
    if content_type:
        return "json" in content_type.lower()
    return body.lstrip()[:1] == b"{"


def _scalar(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)
