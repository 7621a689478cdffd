"""Plain-text views for a terminal: a timeline, an attachment, a size.

Used by ``omnicx timeline`` and ``omnicx demo``. A message keeps its own line
breaks (a customer's paragraphs are part of what they said), long lines wrap
on word boundaries to the terminal's width, and a long message is cut after
a few lines at a word boundary with a marker saying how much was left out,
never mid-word. Attachments show with name, type and size, since an
interaction that is only a photo would otherwise look empty.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

from ._models import Attachment, Interaction

__all__ = ["describe_attachment", "format_size", "format_timeline"]

_INDENT = " " * 6
_ARROWS = {"inbound": "<-", "outbound": "->"}


def format_size(size: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as file managers show them)."""
    if size is None:
        return "size unknown"
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def describe_attachment(attachment: Attachment) -> str:
    """``invoice.pdf (application/pdf, 48.2 kB)``; without a name, ``image/jpeg, 12.0 kB``."""
    details = f"{attachment.content_type}, {format_size(attachment.size)}"
    return f"{attachment.filename} ({details})" if attachment.filename else details


def _paragraph_lines(text: str, width: int) -> list[str]:
    """``text`` wrapped to ``width`` on word boundaries, its own line breaks kept."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if not line:
            if lines and lines[-1]:  # one blank line between paragraphs, not runs
                lines.append("")
            continue
        # A word longer than the line (a URL) stays whole, to be copied as it is.
        lines.extend(textwrap.wrap(line, width=width, break_long_words=False,
                                   break_on_hyphens=False) or [""])
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _cut(lines: list[str], max_lines: int, width: int) -> list[str]:
    if max_lines <= 0 or len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    while len(kept) > 1 and not kept[-1]:  # the marker goes on text, not a blank line
        kept.pop()
    left = len(lines) - len(kept)
    marker = f" [... {left} more line{'s' if left > 1 else ''}]"
    last = kept[-1]
    # Make room for the marker by dropping whole words, never part of one.
    while last and len(last) + len(marker) > width and " " in last:
        last = last.rsplit(" ", 1)[0]
    kept[-1] = last + marker
    return kept


def _body(item: Interaction, width: int, max_lines: int) -> list[str]:
    if item.erased:
        return ["[erased]"]
    text = item.text
    if text is None and not item.attachments:
        text = item.message_type or ""
    lines = _cut(_paragraph_lines(text or "", width), max_lines, width)
    lines.extend(f"[file] {describe_attachment(a)}" for a in item.attachments)
    return lines


def format_timeline(
    items: Sequence[Interaction] | Iterable[Interaction],
    *,
    width: int = 100,
    max_lines: int = 4,
) -> str:
    """Interactions as text: a header line each, then the message indented below.

    ``width`` is the terminal's; ``max_lines`` cuts a long message (0 keeps
    every line).
    """
    text_width = max(width - len(_INDENT), 20)
    out: list[str] = []
    for item in items:
        arrow = _ARROWS.get(str(item.direction), "--")
        status = f" [{item.status}]" if item.status is not None else ""
        subject = f"  {item.subject}" if item.subject and not item.erased else ""
        out.append(f"  {item.occurred_at:%Y-%m-%d %H:%M} {item.channel!s:<9} {arrow}"
                   f" {item.kind!s:<8}{status}{subject}"[:width].rstrip())
        out.extend(f"{_INDENT}{line}".rstrip() for line in _body(item, text_width, max_lines))
    return "\n".join(out)
