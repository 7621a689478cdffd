"""Full-text search over subjects and texts: words to index terms, queries, hits.

Why it looks like this:

- **Stemming in every supported language at once.** A message carries no
  reliable language (a Swiss customer writes German, the agent answers in
  French, a subject line is English), and guessing one per message fails on
  short texts. So every word is indexed under its Snowball stem in each of
  `LANGUAGES`, and a query word matches a document word when they share one
  of those stems ("Pakete" and "Paket" share the German stem ``pak``,
  "deliveries" and "delivery" the English ``deliveri``). The price is a few
  false friends across languages, and an index about twice the size of a
  one-language one (most words have the same stem in several languages).
  Stems come from ``snowballstemmer``, which uses PyStemmer's C code when
  it is installed (the ``fast`` extra).
- **The database does the matching and ranking** (SQLite FTS5 ``bm25``,
  PostgreSQL ``ts_rank``, the memory store a BM25 of its own) over terms this
  module makes, so every backend matches exactly the same rows. The terms are
  stems, or, with a key, keyed hashes of stems (see
  ``omnicx._vault.VaultTransaction.index_terms``): no plaintext index reaches
  the disk, and whole-word search still works.
- **Snippets are made here, after the matched rows were decrypted**, by
  marking the words whose stems the query asked for.

`search` is the one function the `History` method, the CLI and a read API
call.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import threading
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache, partial
from typing import Any

import attrs
import snowballstemmer

from ._adapters import channel_names
from ._enums import Channel
from ._errors import ConfigurationError, NotFoundError
from ._models import Contact, Interaction
from .storage._base import Store, TimelineQuery, Transaction
from .storage._fulltext import SearchQuery

__all__ = [
    "LANGUAGES",
    "SearchHit",
    "blind_term",
    "document_terms",
    "query_terms",
    "reindex",
    "search",
    "search_key",
    "word_stems",
]

#: The Snowball stemmers every word is indexed under.
LANGUAGES = ("english", "french", "german", "italian")

# A word: a run of letters and digits (no underscore). Apostrophes split
# ("l'envoi" is "l" and "envoi"), as do hyphens ("E-Mail" is "e" and "mail").
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
# Longer runs are not words (base64, hashes, URLs glued together).
_MAX_WORD = 40
_SNIPPET_WORDS = 24
_Opener = Callable[[Transaction, Sequence[Interaction]], list[Interaction]]
_local = threading.local()  # PyStemmer's stemmers are not thread-safe: one set a thread


def _stemmers() -> list[Any]:
    found: list[Any] | None = getattr(_local, "stemmers", None)
    if found is None:
        found = _local.stemmers = [snowballstemmer.stemmer(name) for name in LANGUAGES]
    return found


def _fold(word: str) -> str:
    """Drop diacritics: "café" and "cafe", "Übergabe" and "Ubergabe" meet."""
    # NFKD also splits compatibility forms (a vulgar fraction becomes digits and a
    # fraction slash): keep letters and digits only, so that a term is always one
    # word to FTS5 and to PostgreSQL's parser.
    decomposed = unicodedata.normalize("NFKD", word).casefold()
    return "".join(c for c in decomposed if c.isalnum())


@lru_cache(maxsize=131072)
def word_stems(word: str) -> tuple[str, ...]:
    """The index terms of one word: its stem in each of `LANGUAGES`, folded, deduplicated.

    >>> word_stems("Pakete")
    ('pak', 'paket')
    """
    if word.isascii() and word.isdigit():  # order and phone numbers: no stem to find
        return (word,)
    # Compatibility forms first (the ordinal "º" is "o", the ligature "ﬁ" is "fi",
    # full-width letters are letters): a stemmer must see what a reader sees, or "ºy"
    # and "oy" stem apart.
    # What compatibility adds that is no letter ("Ŀ" is "L·") goes too.
    lowered = "".join(c for c in unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", word).casefold()) if c.isalnum())
    # The stemmers treat accented letters as their own, so a word is also stemmed
    # without its accents: then "cafe" typed for "café" still shares its stems.
    forms = {lowered, _fold(lowered)} - {""}
    return tuple(sorted({f for s in _stemmers() for w in forms if (f := _fold(s.stemWord(w)))}))


def search_key(index_key: bytes) -> bytes:
    """The key of the search index's hashes, derived from the vault's index key."""
    return hmac.digest(index_key, b"omnicx search terms", "sha256")


_LETTERS = bytes.maketrans(b"0123456789abcdef", b"abcdefghijklmnop")


@lru_cache(maxsize=262144)
def blind_term(key: bytes, term: str) -> str:
    """The keyed hash a term is stored and found by when a key is set: 80 bits of
    HMAC-SHA256, written in twenty letters (a single word to every full-text
    parser, which a hex digit run such as ``1e10`` is not)."""
    return hmac.digest(key, term.encode(), "sha256")[:10].hex().encode().translate(
        _LETTERS).decode()


def _words(text: str) -> list[re.Match[str]]:
    return [m for m in _WORD.finditer(text) if 1 < len(m.group()) <= _MAX_WORD]


def document_terms(subject: str | None, text: str | None) -> list[str]:
    """The terms an interaction is indexed under, in order, repeated as often as they
    occur (the ranking counts them)."""
    terms: list[str] = []
    for part in (subject, text):
        if part:
            # The words as `_words` finds them, without a match object each (this runs
            # for every message stored); ASCII is in NFC already.
            for word in _WORD.findall(part if part.isascii()
                                      else unicodedata.normalize("NFC", part)):
                if 1 < len(word) <= _MAX_WORD:
                    terms += word_stems(word)
    return terms


def query_terms(query: str) -> tuple[tuple[str, ...], ...]:
    """One group of terms a distinct query word: a row must match every group, and
    a group when it holds any of its terms."""
    groups = dict.fromkeys(word_stems(m.group()) for m in _words(
        unicodedata.normalize("NFC", query)))
    return tuple(groups)


@attrs.frozen(kw_only=True)
class SearchHit:
    """One interaction found by `History.search`.

    ``score``: the backend's relevance (higher is better; comparable within
    one result, not across backends). ``snippet``: an excerpt of the subject
    or text around the matches, ``highlights`` the ``(start, end)`` positions
    of the matched words in it; `marked` wraps them.
    """

    interaction: Interaction
    score: float
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()

    def marked(self, before: str = "[", after: str = "]") -> str:
        """The snippet with every matched word wrapped in ``before`` and ``after``."""
        out, last = [], 0
        for start, end in self.highlights:
            out += [self.snippet[last:start], before, self.snippet[start:end], after]
            last = end
        out.append(self.snippet[last:])
        return "".join(out)


def snippet(item: Interaction, wanted: Iterable[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """An excerpt of ``item``'s text (or subject) around the words whose stems are
    ``wanted``, and the positions of those words in the excerpt."""
    wanted = set(wanted)
    fallback: tuple[str, tuple[tuple[int, int], ...]] = ("", ())
    for field in (item.text, item.subject):
        if not field:
            continue
        part = unicodedata.normalize("NFC", field)
        words = _words(part)
        hits = [i for i, m in enumerate(words) if wanted.intersection(word_stems(m.group()))]
        if not hits:
            if not fallback[0]:
                fallback = (_excerpt(part, words), ())
            continue
        # The window of words that holds the most matches, starting a little before one.
        best, first = -1, 0
        for h in hits:
            start = max(0, h - 3)
            count = sum(1 for x in hits if start <= x < start + _SNIPPET_WORDS)
            if count > best:
                best, first = count, start
        first = min(first, max(0, len(words) - _SNIPPET_WORDS))  # a full window
        begin = 0 if first == 0 else words[first].start()
        last = min(len(words), first + _SNIPPET_WORDS) - 1
        end = len(part) if last == len(words) - 1 else words[last].end()
        text = part[begin:end]
        prefix = "" if begin == 0 else "…"
        suffix = "" if end == len(part) else "…"
        offset = len(prefix) - begin
        spans = tuple((words[h].start() + offset, words[h].end() + offset)
                      for h in hits if first <= h <= last)
        return _squash(prefix + text + suffix, spans)
    return fallback


def _excerpt(part: str, words: Sequence[re.Match[str]]) -> str:
    """The start of a text no query word is in (a hit matched by its other field)."""
    if len(words) <= _SNIPPET_WORDS:
        return " ".join(part.split())
    return " ".join(part[: words[_SNIPPET_WORDS - 1].end()].split()) + "…"


def _squash(text: str, spans: tuple[tuple[int, int], ...]
            ) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Collapse runs of whitespace (line breaks of an email) to one space, moving spans
    (which start and end at words, never inside a run)."""
    out: list[str] = []
    ends: list[int] = []  # the end of each collapsed run in ``text``...
    removed: list[int] = []  # ...and how many characters were dropped up to it
    last = dropped = 0
    for run in _SPACE.finditer(text):
        if run.group() == " ":
            continue
        out += [text[last:run.start()], " "]
        dropped += len(run.group()) - 1
        ends.append(run.end())
        removed.append(dropped)
        last = run.end()
    if not ends:
        return text, spans
    out.append(text[last:])

    def moved(at: int) -> int:
        index = bisect_right(ends, at) - 1
        return at - (removed[index] if index >= 0 else 0)

    return "".join(out), tuple((moved(a), moved(b)) for a, b in spans)

def search(
    store: Store,
    open_interactions: _Opener,
    query: str,
    *,
    contact: Contact | int | None = None,
    channels: Iterable[Channel | str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    snapshot: bool = True,
) -> list[SearchHit]:
    """The interactions whose subject or text holds every word of ``query``, best first.

    ``open_interactions`` decrypts the matched rows (`omnicx._vault.Vault`).
    A query without a word finds nothing. ``snapshot=False`` reads without a
    transaction of its own (see `Store.reading`): the hits are one statement,
    and the contact group looked up before it can only grow (contacts are
    never deleted), so only decrypting, which reads keys too, needs one.
    """
    if limit < 1:
        raise ConfigurationError("limit must be at least 1")
    if (since is not None and since.tzinfo is None) or (until is not None and until.tzinfo is None):
        raise ConfigurationError("since and until must be timezone-aware")
    groups = query_terms(query)
    if not groups:
        return []
    wanted = {term for group in groups for term in group}
    with store.reading(snapshot=snapshot) as tx:
        contact_ids: tuple[int, ...] = ()
        if contact is not None:
            contact_id = contact.id if isinstance(contact, Contact) else int(contact)
            group = tx.group(contact_id)
            if group is None:
                raise NotFoundError(f"no contact #{contact_id}")
            contact_ids = group
        found = tx.search(SearchQuery(
            words=groups, contact_ids=contact_ids,
            channels=channel_names(channels),  # "Email", Channel.EMAIL: one channel
            since=since, until=until, limit=limit))
        items = open_interactions(tx, [item for item, _ in found])
    hits = []
    for item, (_, score) in zip(items, found, strict=True):
        text, spans = snippet(item, wanted)
        hits.append(SearchHit(interaction=item, score=score, snippet=text, highlights=spans))
    return hits


def _index(batch: Sequence[tuple[int, Sequence[str]]], tx: Transaction) -> None:
    tx.index_terms(batch)


def reindex(store: Store, open_interactions: _Opener, *, page: int = 500) -> int:
    """Index every unerased interaction again, one contact group and page at a time;
    return how many were indexed. For a history whose interactions predate search
    (the migration adds an empty index) or whose index was lost; safe to re-run and
    to run while others write (each page is its own transaction)."""
    with store.reading() as tx:
        roots = [c.id for c in tx.contacts()]
    indexed = 0
    for root in roots:
        before: tuple[dt.datetime, int] | None = None
        while True:
            with store.reading() as tx:
                rows = tx.timeline(TimelineQuery(group_of=root, limit=page, before=before))
                items = open_interactions(tx, [i for i in rows if not i.erased])
            batch = [(i.id, terms) for i in items if not i.erased
                     and (terms := document_terms(i.subject, i.text))]
            if batch:
                store.atomic(partial(_index, batch))
                indexed += len(batch)
            if len(rows) < page:
                break
            before = (rows[-1].occurred_at, rows[-1].id)
    return indexed
