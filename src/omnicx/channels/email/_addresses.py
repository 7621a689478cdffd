"""Address lists of mail headers (From, To, Cc, Reply-To, ...) read as mail clients write them.

RFC 5322 says an address is ``display-name <local@domain>`` or a bare
``local@domain``, grouped by commas, optionally inside ``group: ...;``,
with comments in parentheses. Real mail bends every part of that, and the
standard library's `email.utils.getaddresses` reads the bent forms in ways
that put the wrong address first (``alice@example.com <bob@example.com>``
becomes two addresses, alice's first; ``John Doe john@example.com`` one
invalid address). The sender of a message decides whose history it joins,
so this is a small, linear tokenizer with one rule at its centre:

- **the angle address wins.** Whatever the display name says (an address,
  quoted or not, RFC 2047-encoded, in a comment) it is only a name; the
  mailbox is the ``<...>`` part. Quoted strings and comments never supply an
  address.

Around it, what real clients send:

- groups (``undisclosed-recipients:;``, ``Team: a@x, b@y;``) give their
  members, the group name is dropped;
- obsolete syntax: routes (``<@relay:bob@example.com>``), spaces around
  ``@`` and ``.`` (``bob @ example . com``), ``mailto:`` inside brackets;
- missing angle brackets: ``John Doe john@example.com`` is John Doe's
  address with his name; ``bob@example.com (Bob)`` takes the comment as name;
- encoded words are kept whole while tokenizing (an encoded comma, colon or
  ``<`` never splits an address) and decoded in the name afterwards; a
  header that is one encoded word around ``Name <a@b>`` (some web mailers do
  that) is decoded and read again when nothing else gave an address.

A name that is itself an address, or contains one in angle brackets, loses
that part: it is not who the mail is from, and shown as a contact's name it
is how a spoofed sender looks real.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["parse_address_list"]

Pair = tuple[str, str]

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<ew>=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)"
    r'|(?P<quoted>"(?:[^"\\]|\\.)*(?:"|\\?$))'
    r"|(?P<angle><[^<>]*>)"
    r"|(?P<special>[,;:])"
    r"|(?P<comment>\()"
    r'|(?P<atom>[^\s"<>(),;:]+)'
    r"|(?P<other>.)",
    re.DOTALL,
)
_ROUTE = re.compile(r"^(?:@[^:]*:)")
_ADDR_IN_NAME = re.compile(r"<[^<>]*@[^<>]*>")
_BARE_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")
_UNESCAPE = re.compile(r"\\(.)")
_MAX_COMMENT_DEPTH = 32


def _comment_end(text: str, start: int) -> tuple[int, str]:
    """Index after the comment opened at ``start`` (nested, escaped) and its text."""
    depth = 0
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1, text[start + 1:index]
        index += 1
    return length, text[start + 1:]


# One token: (kind, text, preceded by whitespace)
_Token = tuple[str, str, bool]


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    length = len(text)
    space = False
    while position < length:
        match = _TOKEN.match(text, position)
        if match is None:  # pragma: no cover - the last alternative matches any character
            break
        kind = match.lastgroup or "other"
        if kind == "ws":
            space = True
            position = match.end()
            continue
        if kind == "comment":
            position, comment = _comment_end(text, match.start())
            tokens.append(("comment", comment, space))
        else:
            tokens.append((kind, match.group(), space))
            position = match.end()
        space = False
    return tokens


def _angle_address(token: str) -> str | None:
    inner = "".join(token[1:-1].split())
    if inner[:7].lower() == "mailto:":
        inner = inner[7:]
    inner = _ROUTE.sub("", inner)
    if "@" not in inner or inner.startswith("@") or inner.endswith("@"):
        return None
    return inner


def _unquote(token: str) -> str:
    body = token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]
    return _UNESCAPE.sub(r"\1", body)


def _clean_name(name: str, address: str, decode: Callable[[str], str]) -> str:
    name = decode(" ".join(name.split())).strip().strip('"').strip()
    if "@" not in name:
        return name
    name = " ".join(_ADDR_IN_NAME.sub(" ", name).split()).strip('"').strip()
    if _BARE_ADDRESS.fullmatch(name.strip("<>'")) or name.casefold() == address.casefold():
        return ""
    return name


def _merged_atoms(tokens: list[_Token]) -> list[tuple[str, bool]]:
    """Atoms (with quoted local parts) re-joined where obsolete syntax spaced ``@`` and ``.``.

    Returns ``(text, is_address_part)`` pieces in order.
    """
    pieces: list[list[str]] = []
    joinable: list[bool] = []
    for kind, text, _ in tokens:
        if kind not in ("atom", "quoted", "ew"):
            continue
        # "bob @ example . com", '"john doe"@example.com': rejoin around "@" and "."
        if (pieces and kind == "atom" and joinable[-1]
                and (text[0] in "@." or pieces[-1][-1][-1] in "@.")):
            pieces[-1].append(text)
            continue
        pieces.append([text])
        joinable.append(kind != "ew")
    return [("".join(p), j) for p, j in zip(pieces, joinable, strict=True)]


def _mailbox(tokens: list[_Token], decode: Callable[[str], str]) -> Pair | None:
    words: list[str] = []
    comments: list[str] = []
    for kind, text, _ in tokens:
        if kind == "angle":
            address = _angle_address(text)
            if address is not None:
                name = " ".join(words) or " ".join(comments)
                return _clean_name(name, address, decode), address
        elif kind == "quoted":
            words.append(_unquote(text))
        elif kind == "comment":
            comments.append(text)
        elif kind in ("atom", "ew", "other"):
            words.append(text)
    # No usable angle address: a bare addr-spec among the atoms, the last one.
    pieces = _merged_atoms(tokens)
    for index in range(len(pieces) - 1, -1, -1):
        text, joinable = pieces[index]
        candidate = text.strip("<>.")
        at = candidate.find("@")
        if not joinable or at <= 0 or at == len(candidate) - 1:
            continue
        if candidate.startswith('"') and not candidate[:at].endswith('"'):
            continue  # an "@" inside a quoted display name is not an address
        name_words = [p for p, _ in pieces[:index] + pieces[index + 1:]]
        name = " ".join(_unquote(w) if w.startswith('"') else w for w in name_words)
        return _clean_name(name or " ".join(comments), candidate, decode), candidate
    return None


def _split(tokens: list[_Token]) -> list[list[_Token]]:
    """Mailboxes of an address list: split at commas, groups opened and closed."""
    boxes: list[list[_Token]] = []
    current: list[_Token] = []
    for token in tokens:
        kind, text, _ = token
        if kind == "special":
            if text == ":" and not any(k == "angle" for k, _, _ in current):
                current = []  # "group name:" - the name is not an address
                continue
            if text in ",;":
                if current:
                    boxes.append(current)
                current = []
                continue
        current.append(token)
    if current:
        boxes.append(current)
    return boxes


_SIMPLE = re.compile(
    r'\s*(?:"([^"\\]*)"|([^"<>,;:()\\@]*?))\s*<([^<>\s,;:()"\\]+@[^<>\s,;:()"\\]+)>\s*'
    r'|\s*([^<>\s,;:()"\\]+@[^<>\s,;:()"\\]+)\s*')


def parse_address_list(text: str, decode: Callable[[str], str]) -> list[Pair]:
    """``(display name, address)`` pairs of one header value, in order.

    ``decode`` turns RFC 2047 encoded words into text; it is applied to
    display names after the structure is known.
    """
    simple = _SIMPLE.fullmatch(text)
    if simple is not None:  # the common ``Name <a@b>`` / ``a@b``: no tokenizing (hot path)
        quoted, plain, bracketed, bare = simple.groups()
        if bare is not None:
            return [("", bare)]
        name = quoted if quoted is not None else plain or ""
        return [(_clean_name(name, bracketed, decode) if name else "", bracketed)]
    pairs = [pair for box in _split(_tokens(text))
             if (pair := _mailbox(box, decode)) is not None]
    if not pairs and "=?" in text:
        decoded = decode(text)
        if decoded != text and "=?" not in decoded:
            return parse_address_list(decoded, decode)
    return pairs
