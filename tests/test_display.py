"""The terminal view of a timeline: line breaks kept, words never cut, attachments shown."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from omnicx import Attachment, Interaction
from omnicx._display import describe_attachment, format_size, format_timeline

WORDS = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
                min_size=1, max_size=30)
LINES = st.lists(st.lists(WORDS, max_size=25).map(" ".join), min_size=1, max_size=12)


def _item(text: str | None, *attachments: Attachment) -> Interaction:
    at = dt.datetime(2026, 11, 2, 9, 14, tzinfo=dt.UTC)
    return Interaction(id=1, contact_id=1, conversation_id=1, channel="email", account="a",
                       direction="inbound", kind="message", external_id="x", occurred_at=at,
                       received_at=at, text=text, attachments=attachments)


def _body(rendered: str) -> list[str]:
    return [line[6:] for line in rendered.splitlines()[1:]]


@given(LINES, st.integers(min_value=26, max_value=160))
def test_every_word_is_kept_whole_and_in_order(lines: list[str], width: int) -> None:
    text = "\n".join(lines)
    body = _body(format_timeline([_item(text)], width=width, max_lines=0))
    assert " ".join(body).split() == text.split()
    for line in body:  # a line is longer than the width only if one word is
        assert len(line) <= width - 6 or " " not in line


@given(LINES, st.integers(min_value=26, max_value=160))
def test_line_breaks_are_kept(lines: list[str], width: int) -> None:
    body = _body(format_timeline([_item("\n".join(lines))], width=width, max_lines=0))
    non_blank = [line for line in lines if line.strip()]
    assert len([line for line in body if line]) >= len(non_blank)
    if non_blank:  # the first line of the text starts the first line of the view
        assert body[0].split()[0] == non_blank[0].split()[0]


@given(LINES, st.integers(min_value=40, max_value=160), st.integers(min_value=1, max_value=5))
def test_a_cut_is_between_words_and_says_so(lines: list[str], width: int, keep: int) -> None:
    text = "\n".join(lines)
    full = _body(format_timeline([_item(text)], width=width, max_lines=0))
    cut = _body(format_timeline([_item(text)], width=width, max_lines=keep))
    if len(full) <= keep:
        assert cut == full
        return
    assert len(cut) <= keep and "more line" in cut[-1]
    shown = " ".join(cut).rsplit(" [... ", 1)[0].split()
    assert shown == text.split()[:len(shown)]


def test_attachments_are_named_typed_and_sized() -> None:
    rendered = format_timeline([_item(None, Attachment(filename="Rechnung März.pdf",
                                                       content_type="application/pdf",
                                                       size=48_213),
                                      Attachment(content_type="image/jpeg"))])
    assert _body(rendered) == ["[file] Rechnung März.pdf (application/pdf, 48.2 kB)",
                               "[file] image/jpeg, size unknown"]
    assert describe_attachment(Attachment(filename="a.txt", size=0)) == (
        "a.txt (application/octet-stream, 0 B)")


def test_sizes_in_decimal_units() -> None:
    assert [format_size(n) for n in (0, 999, 1000, 1_234_567, 5 * 10**9, 7 * 10**15)] == [
        "0 B", "999 B", "1.0 kB", "1.2 MB", "5.0 GB", "7000.0 TB"]


def test_erased_content_shows_as_erased() -> None:
    at = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    item = Interaction(id=1, contact_id=1, conversation_id=1, channel="email", account="a",
                       direction="inbound", kind="message", external_id="x", occurred_at=at,
                       received_at=at, subject="secret", erased=True)
    rendered = format_timeline([item])
    assert "secret" not in rendered and _body(rendered) == ["[erased]"]
