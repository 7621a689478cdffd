"""Recovering multipart mail whose boundary is missing or wrong.

When a ``multipart/*`` part names no boundary, or a boundary that never
occurs in its body (a mailer that rewrote the body and not the header, a
case-changed boundary, a relay that cut the parameter), the standard
library gives up and hands the whole body back as one opaque string: the
customer's text would end up in a nameless attachment. The same happens to
a message whose Content-Type header was lost although its body is MIME.

This module finds the boundary the body really uses: the first line
``--<something>`` that is followed by a MIME header line
(``Content-Type:``, ``Content-Transfer-Encoding:``, ...). The part is then
parsed again with that boundary. A body without any delimiter line is no
multipart at all: it is read as the text (or HTML) it is.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

__all__ = ["find_boundary", "looks_like_html", "reparse_multipart"]

_PARSER = BytesParser(policy=compat32)
# A delimiter line followed by a MIME header line, within the first lines of the body.
_DELIMITER = re.compile(
    rb"^--([^\r\n\"\\]{1,200}?)[ \t]*\r?\n(?:[ \t]*\r?\n)?"
    rb"(?:Content-[A-Za-z-]{1,40}|MIME-Version)[ \t]*:",
    re.MULTILINE | re.IGNORECASE)
_HTML = re.compile(rb"<(?:html|body|div|p|br|table|span)\b", re.IGNORECASE)
_SCAN = 64 * 1024  # a lost boundary shows up near the start, not deep in the body


def find_boundary(body: bytes) -> bytes | None:
    """The boundary the body's delimiter lines use, or ``None``."""
    match = _DELIMITER.search(body, 0, _SCAN)
    if match is None:
        return None
    # A close delimiter is never followed by a part's header lines, so the
    # line found opens a part: its text is the boundary, even if it ends in "--".
    return match.group(1).rstrip() or None


def reparse_multipart(body: bytes, subtype: str, boundary: bytes) -> Message:
    """``body`` parsed as ``multipart/<subtype>`` with ``boundary``."""
    head = b'Content-Type: multipart/%s; boundary="%s"\r\n\r\n' % (
        subtype.encode("ascii", "replace"), boundary)
    return _PARSER.parsebytes(head + body)


def looks_like_html(body: bytes) -> bool:
    """Whether a body without a usable type is HTML rather than plain text."""
    return _HTML.search(body, 0, 4096) is not None
