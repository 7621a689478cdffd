"""HTML to plain text for mail that has no text/plain part.

A small `html.parser` walker, linear in the input: block elements become
line breaks, ``<br>`` a newline, list items a dash, links keep their target,
``<script>``/``<style>``/``<head>`` vanish, and quoted history
(``<blockquote>``, Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg``) is
prefixed with ``> `` so that quote separation works on the result exactly as
it does on plain-text mail.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCKS = frozenset({
    "p", "div", "table", "tr", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
    "section", "article", "header", "footer", "hr", "address", "center", "dl", "dt", "dd",
})
_SKIP = frozenset({"script", "style", "head", "title", "xml", "o:p"})
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote")
_QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container")
_MAX_OPEN = 256
_BLANKS = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self._line: list[str] = []
        self._skip = 0
        self._depth = 0
        # Open elements and whether each opened a quote. Real mail leaves <p> and
        # <div> unclosed, so an end tag closes up to its own start tag.
        self._open: list[tuple[str, bool]] = []
        self._outlook_quote = False

    # A quote opened by an Outlook reply header div runs to the end of the body.
    @property
    def quote_depth(self) -> int:
        return self._depth + (1 if self._outlook_quote else 0)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
            return
        attributes = {k.lower(): (v or "") for k, v in attrs}
        opens_quote = tag == "blockquote" or any(
            c in attributes.get("class", "").lower() for c in _QUOTE_CLASSES)
        if attributes.get("id", "").lower() in _QUOTE_IDS:
            self._flush()
            self._outlook_quote = True
        if tag in ("br",):
            self._flush(force=True)
        elif tag in _BLOCKS or tag in {"blockquote", "li"}:
            self._flush()
        if tag == "li":
            self._line.append("- ")
        if tag == "hr":
            self._flush()
        if tag in ("br", "hr", "img", "meta", "link", "input", "wbr"):
            return  # void elements never close
        if opens_quote:
            self._depth += 1
        if len(self._open) < _MAX_OPEN or opens_quote:  # bounded work on hostile nesting
            self._open.append((tag, opens_quote))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._flush(force=True)
        elif tag == "hr":
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if tag in ("br", "hr", "img", "meta", "link", "input", "wbr"):
            return
        if tag in _BLOCKS or tag in ("blockquote", "li", "td", "th"):
            if tag in ("td", "th"):
                self._line.append(" ")
            else:
                self._flush()
        if not any(name == tag for name, _ in self._open):
            return  # a stray end tag closes nothing
        while self._open:
            name, opened_quote = self._open.pop()
            if opened_quote:
                self._flush()
                self._depth = max(0, self._depth - 1)
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._line.append(data)

    def _flush(self, *, force: bool = False) -> None:
        text = _SPACES.sub(" ", "".join(self._line).replace("\n", " ")).strip()
        self._line = []
        if text or force:
            self.lines.append((self.quote_depth, text))

    def result(self) -> str:
        self._flush()
        out: list[str] = []
        for depth, text in self.lines:
            prefix = "> " * depth
            out.append((prefix + text).rstrip() if text else prefix.rstrip())
        return _BLANKS.sub("\n\n", "\n".join(out)).strip()


def html_to_text(html: str) -> str:
    """Readable plain text for ``html``, quoted history marked with ``> ``."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError, IndexError):  # malformed markup in old Pythons
        pass
    return parser.result()
