"""MIME header parameters (``filename``, ``name``) decoded from the raw header bytes.

The standard library reads parameters from the header *text*; with the
``compat32`` policy a header holding raw 8-bit bytes (a UTF-8 file name
written without any encoding, which Apple Mail, Gmail's web client and many
scanners do) is first turned into U+FFFD, and RFC 2231 values whose bytes
are not all percent-encoded are decoded from a latin-1 view of the text. The
file name a customer sent is then lost.

This module parses the parameters itself, from the header as the parser
stored it (raw bytes kept as surrogate escapes), and decodes each value once
from its real bytes:

- ``filename*=utf-8''%C3%A9t%C3%A9.pdf`` and continuations
  (``filename*0*=...; filename*1=...``, RFC 2231), with raw 8-bit bytes
  allowed in any section, decoded with the declared charset;
- ``filename="=?utf-8?B?...?="`` (RFC 2047 inside a quoted parameter, what
  Outlook and Thunderbird send), and raw 8-bit ``filename="Grüße.pdf"``;
- an extended parameter wins over the plain one of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from ._charsets import decode_bytes

__all__ = ["header_param"]

_PARAM = re.compile(
    r';\s*([^\s=;"]+?)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)', re.DOTALL)
_SECTION = re.compile(r"^(.+?)(?:\*(\d{1,3}))?(\*)?$")
_UNESCAPE = re.compile(r"\\(.)")
_MAX_SECTIONS = 100


def _raw_bytes(text: str) -> bytes:
    """The bytes behind header text the parser stored (8-bit bytes as surrogate escapes)."""
    return text.encode("utf-8", "surrogateescape")


def _unquoted(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        value = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
        return _UNESCAPE.sub(r"\1", value)
    return value


def header_param(header: str | None, wanted: str,
                 decode_words: Callable[[str], str]) -> str | None:
    """The decoded value of parameter ``wanted`` in a raw header, or ``None``."""
    if not header or ";" not in header:
        return None
    wanted = wanted.lower()
    plain: str | None = None
    sections: dict[int, tuple[bool, str]] = {}
    for match in _PARAM.finditer(header):
        name_match = _SECTION.match(match.group(1).lower())
        if name_match is None or name_match.group(1) != wanted:
            continue
        number, extended = name_match.group(2), name_match.group(3) is not None
        value = _unquoted(match.group(2))
        if number is None and not extended:
            if plain is None:
                plain = value
            continue
        index = int(number) if number is not None else 0
        if index < _MAX_SECTIONS:
            sections.setdefault(index, (extended, value))
    if sections:
        return _rfc2231(sections) or None
    if plain is None:
        return None
    text = decode_bytes(_raw_bytes(plain), None)
    return decode_words(text).strip() or None


def _rfc2231(sections: dict[int, tuple[bool, str]]) -> str:
    charset: str | None = None
    data = bytearray()
    for index in sorted(sections):
        extended, value = sections[index]
        if index == 0 and extended and value.count("'") >= 2:
            charset, _, value = value.split("'", 2)  # charset'language'value
        raw = _raw_bytes(value)
        data += unquote_to_bytes(raw) if extended else raw
    return decode_bytes(bytes(data), charset or None).strip()
