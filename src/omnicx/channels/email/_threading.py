"""Email threading hints: JWZ-style ancestry and the subject fallback.

The pipeline threads a `MessageEvent` by ``thread_refs`` (ancestor
Message-IDs, oldest first; the nearest one already stored wins, and an unknown
``reply_to`` opens a missing-parent gap that closes when the parent arrives),
then by ``thread_key`` within ``thread_window`` and scoped to the contact.
This module computes both, following Jamie Zawinski's threading algorithm
(https://www.jwz.org/doc/threading.html) for the parts that belong to one
message:

- References are taken in order; In-Reply-To's first id is the parent and is
  appended when References does not already end with it (many clients send
  only one of the two);
- the message's own id is removed (self-references), duplicates are dropped
  keeping the first position, so a looping References chain cannot make a
  message its own ancestor;
- the subject key strips reply and forward prefixes in many languages
  (``Re:``, ``Fwd:``, ``AW:``, ``WG:``, ``SV:``, ``VS:``, ``Antw:``, ``RV:``,
  ``TR:``, ``RIF:``, ``Re[2]:``, ``Re(3):``, ...), bracketed list tags and
  case, and is ``None`` for empty or generic subjects so that unrelated mails
  without a subject are never merged.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["ThreadHints", "ancestry", "subject_key", "thread_index_root"]

_PREFIX = re.compile(
    r"^\s*(?:"
    r"re|fw|fwd|aw|wg|sv|vs|antw|antwort|rv|tr|rif|r|ref|res|enc|odp|pd|ynt|fs|vl|vb|"
    r"doorst|atb|vá|továbbítás|πρθ|σχετ|回复|回覆|答复|转发|轉寄|返信|転送|رد|ответ|пересл"
    r")\s?(?:\[\d{1,4}\]|\(\d{1,4}\))?\s?[:\uff1a]\s*",  # ASCII or full-width colon
    re.IGNORECASE,
)
_TAG = re.compile(r"^\s*\[[^\]]{1,40}\]\s*")
_SPACES = re.compile(r"\s+")
_GENERIC = frozenset({"", "(no subject)", "no subject", "(kein betreff)", "(sans objet)",
                      "(ohne betreff)", "(sin asunto)", "untitled"})

ThreadHints = tuple[tuple[str, ...], str | None]


def ancestry(
    message_id: str, references: tuple[str, ...], in_reply_to: tuple[str, ...]
) -> ThreadHints:
    """``(thread_refs, reply_to)`` for a message: its ancestors, oldest first, and its parent."""
    chain: list[str] = []
    seen = {message_id}
    for ref in references:
        if ref not in seen:
            seen.add(ref)
            chain.append(ref)
    parent = next((r for r in in_reply_to if r != message_id), None)
    if parent is not None:
        if parent in chain:
            # In-Reply-To is authoritative for the parent: move it to the end.
            chain.remove(parent)
        chain.append(parent)
    elif chain:
        parent = chain[-1]
    return tuple(chain), parent


def subject_key(subject: str | None) -> str | None:
    """The subject without reply/forward prefixes and list tags, case-folded; ``None`` if empty."""
    if not subject:
        return None
    text = _SPACES.sub(" ", subject).strip()
    for _ in range(20):  # bounded: "Re: AW: [list] Fwd: ..." peels off one layer per round
        stripped = _PREFIX.sub("", text, count=1)
        stripped = _TAG.sub("", stripped, count=1)
        if stripped == text:
            break
        text = stripped
    key = text.strip().casefold()
    if key in _GENERIC:
        return None
    return key


def thread_index_root(value: str | None) -> str | None:
    """The conversation part of an Outlook ``Thread-Index`` (its first 22 bytes), hex."""
    if not value:
        return None
    try:
        raw = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 22:
        return None
    return raw[:22].hex()
