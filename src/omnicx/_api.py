"""The read API: a CRM in any language reads the history over HTTP (plain ASGI).

`api_app` is an ASGI application, framework-free like ``omnicx._server``:
``omnicx serve`` mounts it at ``/api`` when a token is configured, and any
ASGI host can mount it anywhere (it honours ``root_path``, as Starlette's
``Mount`` sets it). Routes, relative to where it is mounted:

====================================  ===========================================
``GET /openapi.json``                  the OpenAPI 3.1 description (no token)
``GET /healthz``, ``GET /readyz``      liveness; readiness: the store answers (no token)
``GET /contacts``                      unmerged contacts by id, ``after``/``limit``
``GET /contacts/find``                 the contact of an ``address`` or ``crm_id``
``GET /contacts/{id}``                 one contact with its addresses
``GET /contacts/{id}/timeline``        newest first, ``before`` cursor, filters
``GET /interactions/{id}``             one interaction with statuses and events
``GET /conversations/{id}``            a conversation, its state and its changes
``GET /search``                        ``history.search`` (when this omnicx has it)
``GET /changes``                       the change feed after a cursor
====================================  ===========================================

Why it is built this way:

- **Off unless configured, one bearer token (or several, to rotate).** Every
  data route needs ``Authorization: Bearer <token>``; tokens are compared in
  constant time, and a token shorter than 16 characters is refused at
  construction (`ConfigurationError`). Authentication comes before routing,
  so an unauthenticated caller learns nothing, not even which ids exist.
- **Typed errors.** Every error is an RFC 9457 problem document
  (``application/problem+json``: ``type``, ``title``, ``status``,
  ``detail``): 400 for a bad parameter or cursor, 401, 404, 405, 501 for
  search in an omnicx without it, 503 when the store fails. Unknown query
  parameters are a 400, so a typo never silently widens a query.
- **Blocking reads off the event loop.** Each handler runs in a worker
  thread; the store's own transactions give each read its consistency.
- **Nothing personal in logs.** Only 5xx are logged here (the hosting app
  logs requests), without the query string, which may hold an address.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hmac
import json
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import _apijson as js
from ._enums import AddressKind, Channel
from ._errors import ConfigurationError, NotFoundError, OmnicxError, StorageError
from ._feed import KINDS, decode_cursor
from ._history import History, _decode_cursor
from ._models import Address
from ._openapi import openapi
from ._server import ASGIApp, Receive, Scope, Send

__all__ = ["API_TOKEN_ENV", "api_app", "api_tokens"]

log = logging.getLogger("omnicx.api")

#: The environment variable that turns the read API on in ``omnicx serve``.
API_TOKEN_ENV = "OMNICX_API_TOKEN"
MIN_TOKEN_LENGTH = 16
_MAX_LIMIT = 500
_MAX_CHANGES = 1000
_CHANNELS = frozenset(c.value for c in Channel)
_ADDRESS_KINDS = frozenset(k.value for k in AddressKind)
_PUBLIC = frozenset({"/openapi.json", "/healthz", "/readyz"})


class Problem(OmnicxError):
    """An answer other than 200: its status, a short type, a human detail (never escapes)."""

    def __init__(self, status: int, kind: str, detail: str,
                 headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = headers


_TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error", 501: "Not Implemented",
           503: "Service Unavailable"}


# -- query parameters -------------------------------------------------------------------------
class Query:
    """A request's query parameters, read by name; unknown names are a 400."""

    def __init__(self, raw: bytes, allowed: Iterable[str]) -> None:
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=False)
        except UnicodeDecodeError:
            raise Problem(400, "bad-parameter", "the query string is not UTF-8") from None
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)
        unknown = sorted(set(self._values) - set(allowed))
        if unknown:
            raise Problem(400, "bad-parameter",
                          f"unknown parameter {unknown[0]!r}; this route takes"
                          f" {', '.join(sorted(allowed)) or 'none'}")

    def one(self, name: str) -> str | None:
        """The parameter's value; ``None`` when absent."""
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise Problem(400, "bad-parameter", f"{name} is given more than once")
        return values[0]

    def cursor(self, name: str) -> str | None:
        """A cursor parameter; empty (``?after=``, as forms send it) is the same as absent."""
        return self.one(name) or None

    def many(self, name: str) -> list[str]:
        """Every value of a repeated parameter; commas split too (``a,b``: ``a`` and ``b``)."""
        found = [v for value in self._values.get(name, []) for v in value.split(",")]
        if "" in found:
            raise Problem(400, "bad-parameter", f"{name} has an empty value")
        return found

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.one(name)
        if text is None:
            return default
        if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
            raise Problem(400, "bad-parameter", f"{name} must be a whole number from {low}"
                                                f" to {high}")
        return int(text)

    def time(self, name: str) -> dt.datetime | None:
        text = self.one(name)
        if text is None:
            return None
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise Problem(400, "bad-parameter",
                          f"{name} must be an ISO 8601 time, e.g. 2026-11-03T08:00:00Z"
                          ) from None
        if value.tzinfo is None:
            raise Problem(400, "bad-parameter", f"{name} needs a time zone (Z or +01:00)")
        return value.astimezone(dt.UTC)

    def channels(self) -> list[str] | None:
        wanted = self.many("channel")
        unknown = sorted(set(wanted) - _CHANNELS)
        if unknown:
            raise Problem(400, "bad-parameter", f"unknown channel {unknown[0]!r}; known:"
                                                f" {', '.join(sorted(_CHANNELS))}")
        return wanted or None


def _contact_cursor(contact_id: int) -> str:
    return base64.urlsafe_b64encode(f"contacts:{contact_id}".encode()).decode().rstrip("=")


def _after_contact(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    found = re.fullmatch(r"contacts:([1-9][0-9]{0,18})", text)
    if found is None:
        raise Problem(400, "bad-cursor", "after is not a cursor of this listing")
    return int(found[1])


def _path_id(text: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,17}", text):
        raise Problem(404, "not-found", f"no such id: {text[:40]!r}")
    return int(text)


# -- handlers: each runs in a worker thread and returns the JSON body of a 200 -----------------
Handler = Callable[[History, Query, str], Any]


def _contacts(history: History, query: Query, _: str) -> Any:
    limit = query.integer("limit", 100, 1, _MAX_LIMIT)
    after = _after_contact(query.cursor("after"))
    with history.store.reading() as tx:
        found = list(islice(tx.contacts(after), limit + 1))
    items = found[:limit]
    return {"items": [js.contact(c) for c in items],
            "next_cursor": _contact_cursor(items[-1].id) if len(found) > limit else None}


def _find_contact(history: History, query: Query, _: str) -> Any:
    address, crm_id = query.one("address"), query.one("crm_id")
    if (address is None) == (crm_id is None):
        raise Problem(400, "bad-parameter", "give exactly one of address and crm_id")
    found = (history.contacts.find(_address(address)) if address is not None
             else history.contacts.by_crm_id(crm_id or ""))
    if found is None:
        raise Problem(404, "not-found", "no contact has this address" if address is not None
                      else "no contact is linked to this CRM id")
    return js.contact(found)


def _address(text: str) -> Address | str:
    """``kind:value`` (``webchat:site/visitor-7``) as an `Address`; else the text, whose kind
    `Contacts.find` tells (a phone number, an email)."""
    kind, colon, value = text.partition(":")
    if colon and kind in _ADDRESS_KINDS and value:
        try:
            return Address(kind=kind, value=value)
        except (OmnicxError, ValueError) as exc:
            raise Problem(400, "bad-parameter", f"not a {kind} address: {exc}") from None
    return text


def _contact(history: History, _: Query, ident: str) -> Any:
    return js.contact(history.contacts.get(_path_id(ident)))


def _timeline(history: History, query: Query, ident: str) -> Any:
    contact_id = _path_id(ident)
    before = query.cursor("before")
    if before is not None:
        try:
            _decode_cursor(before)
        except NotFoundError:
            raise Problem(400, "bad-cursor", "before is not a timeline cursor") from None
    history.contacts.get(contact_id)  # 404 before anything else about the query
    page = history.timeline(contact_id, limit=query.integer("limit", 50, 1, _MAX_LIMIT),
                            before=before, channels=query.channels(),
                            since=query.time("since"), until=query.time("until"))
    return js.timeline_page(page)


def _interaction(history: History, _: Query, ident: str) -> Any:
    found = history.interaction(_path_id(ident))
    return js.with_details(found, history.statuses(found), history.events(found))


def _conversation(history: History, _: Query, ident: str) -> Any:
    found = history.conversations.get(_path_id(ident))
    return js.conversation(found, history.conversations.state(found))


def _search(history: History, query: Query, _: str) -> Any:
    search = getattr(history, "search", None)
    if search is None:
        raise Problem(501, "search-unavailable",
                      "this omnicx has no search (history.search); upgrade omnicx")
    text = query.one("q")
    if not text or not text.strip():
        raise Problem(400, "bad-parameter", "q (the words to search for) is required")
    contact = query.integer("contact", 0, 1, 10**18 - 1) if query.one("contact") else None
    hits = search(text, contact=contact,
                  channels=query.channels(), since=query.time("since"),
                  until=query.time("until"), limit=query.integer("limit", 20, 1, _MAX_LIMIT))
    return {"items": [js.search_hit(h) for h in hits]}


def _changes(history: History, query: Query, _: str) -> Any:
    after = query.cursor("after")
    try:
        decode_cursor(after)
    except NotFoundError:
        raise Problem(400, "bad-cursor", "after is not a change feed cursor") from None
    kinds = query.many("kind")
    unknown = sorted(set(kinds) - KINDS)
    if unknown:
        raise Problem(400, "bad-parameter", f"unknown kind {unknown[0]!r}; known:"
                                            f" {', '.join(sorted(KINDS))}")
    page = history.changes(after=after, limit=query.integer("limit", 100, 1, _MAX_CHANGES),
                           kinds=kinds or None)
    return js.change_page(page)


def _ready(history: History, _: Query, __: str) -> Any:
    try:
        with history.store.reading(snapshot=False) as tx:
            tx.cursor("omnicx.readyz")
    except OmnicxError:
        log.exception("readiness: the store does not answer")
        raise Problem(503, "unavailable", "the store does not answer") from None
    return {"status": "ready"}


_ROUTES: list[tuple[re.Pattern[str], Handler, frozenset[str]]] = [
    (re.compile(r"/contacts"), _contacts, frozenset({"after", "limit"})),
    (re.compile(r"/contacts/find"), _find_contact, frozenset({"address", "crm_id"})),
    (re.compile(r"/contacts/([^/]+)"), _contact, frozenset()),
    (re.compile(r"/contacts/([^/]+)/timeline"), _timeline,
     frozenset({"before", "limit", "channel", "since", "until"})),
    (re.compile(r"/interactions/([^/]+)"), _interaction, frozenset()),
    (re.compile(r"/conversations/([^/]+)"), _conversation, frozenset()),
    (re.compile(r"/search"), _search,
     frozenset({"q", "contact", "channel", "since", "until", "limit"})),
    (re.compile(r"/changes"), _changes, frozenset({"after", "limit", "kind"})),
    (re.compile(r"/readyz"), _ready, frozenset()),
]


def _route(path: str) -> tuple[Handler, frozenset[str], str]:
    for pattern, handler, allowed in _ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            return handler, allowed, found[1] if found.groups() else ""
    raise Problem(404, "not-found", "no such route; see openapi.json")


def _call(handler: Handler, history: History, query: Query, ident: str) -> Any:
    """The handler's body, with omnicx's errors turned into problems."""
    try:
        return handler(history, query, ident)
    except Problem:
        raise
    except NotFoundError as exc:
        raise Problem(404, "not-found", str(exc)) from None
    except ConfigurationError as exc:
        raise Problem(400, "bad-parameter", str(exc)) from None
    except StorageError:
        log.exception("the store failed while answering a read")
        raise Problem(503, "unavailable", "the store failed; try again") from None


# -- configuration -------------------------------------------------------------------------------
def api_tokens(config: str | Path | None) -> list[str] | None:
    """The read API's tokens for ``omnicx serve``; ``None``: the API is off.

    From the ``[api]`` table of the channel config (``token = "…"``,
    ``tokens = ["…", "…"]`` to rotate, or ``token_env = "NAME"`` to read an
    environment variable), else from ``$OMNICX_API_TOKEN``. An ``[api]``
    table that names no token is a `ConfigurationError`, never an open API.
    """
    table: Any = None
    if config is not None:
        try:
            table = tomllib.loads(Path(config).read_text()).get("api")
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read config {config}: {exc}") from exc
    if table is None:
        token = os.environ.get(API_TOKEN_ENV)
        return [token] if token else None
    if not isinstance(table, dict):
        raise ConfigurationError("[api] must be a table")
    unknown = sorted(set(table) - {"token", "tokens", "token_env"})
    if unknown:
        raise ConfigurationError(f"[api] has unknown keys: {', '.join(unknown)}")
    found: list[Any] = []
    if "token" in table:
        found.append(table["token"])
    found.extend(table.get("tokens", []))
    if "token_env" in table:
        value = os.environ.get(str(table["token_env"]))
        if not value:
            raise ConfigurationError(f"[api] token_env names {table['token_env']}, which is"
                                     " not set")
        found.append(value)
    if not found or not all(isinstance(t, str) for t in found):
        raise ConfigurationError("[api] needs token, tokens or token_env (strings)")
    return found


# -- the app -------------------------------------------------------------------------------------
def api_app(history: History, *, tokens: str | Iterable[str]) -> ASGIApp:
    """The read API of ``history`` as an ASGI app, for callers holding one of ``tokens``.

    ``tokens``: one bearer token, or several (to rotate without downtime).
    Raises `ConfigurationError` when none is given or one is shorter than
    16 characters. Mount it with ``webhook_app(..., mount={"/api": app})``
    (what ``omnicx serve`` does), or in any ASGI framework.
    """
    given = [tokens] if isinstance(tokens, str) else list(tokens)
    if not given:
        raise ConfigurationError("the read API needs a bearer token")
    for token in given:
        if len(token.strip()) < MIN_TOKEN_LENGTH or token != token.strip():
            raise ConfigurationError(
                f"a read API token must have at least {MIN_TOKEN_LENGTH} characters and no"
                " surrounding spaces (make one with: python -c 'import secrets;"
                " print(secrets.token_urlsafe(32))')")
    expected = [t.encode() for t in given]
    documents: dict[str, bytes] = {}

    def document(root: str) -> bytes:
        """The OpenAPI document, its server URL where this app is mounted."""
        if root not in documents:
            described = openapi()
            described["servers"] = [{"url": root or "/"}]
            documents[root] = json.dumps(described, separators=(",", ":")).encode()
        return documents[root]

    def authorised(headers: Mapping[bytes, bytes]) -> bool:
        scheme, _, credential = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        # Compare with every token, always, so the time taken says nothing.
        return sum(hmac.compare_digest(credential.strip(), t) for t in expected) > 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        head = method == "HEAD"
        path = _relative(scope)
        try:
            if path == "/openapi.json" and method in ("GET", "HEAD"):
                await _send(send, 200, document(scope.get("root_path", "")), b"application/json",
                            head)
                return
            if path == "/healthz" and method in ("GET", "HEAD"):
                await _json(send, 200, {"status": "ok"}, head)
                return
            _admit(method, path, dict(scope["headers"]), authorised)
            handler, allowed, ident = _route(path)
            query = Query(scope.get("query_string", b""), allowed)
            body = await asyncio.to_thread(_call, handler, history, query, ident)
        except Problem as problem:
            await _problem(send, problem, head)
            return
        except Exception:
            log.exception("the read API failed on %s %s", method, path)
            await _problem(send, Problem(500, "internal", "an internal error; see the log"),
                           head)
            return
        await _json(send, 200, body, head)

    return app


def _admit(method: str, path: str, headers: Mapping[bytes, bytes],
           authorised: Callable[[Mapping[bytes, bytes]], bool]) -> None:
    """Raise the `Problem` that stops this request before routing, if any."""
    if method not in ("GET", "HEAD"):
        raise Problem(405, "method-not-allowed", "the read API only reads: use GET",
                      ((b"allow", b"GET, HEAD"),))
    if path not in _PUBLIC and not authorised(headers):
        sent = b"authorization" in headers
        raise Problem(401, "unauthorized",
                      "the bearer token is not valid" if sent else
                      "this API needs an Authorization: Bearer token",
                      ((b"www-authenticate", b'Bearer realm="omnicx"'
                        + (b', error="invalid_token"' if sent else b"")),))


def _relative(scope: Scope) -> str:
    """The path below where the app is mounted (``root_path``), as Starlette's Mount sets it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    return path.rstrip("/") or "/"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _problem(send: Send, problem: Problem, head: bool) -> None:
    if problem.status >= 500:
        log.error("read API answered %d: %s", problem.status, problem.detail)
    body = {"type": f"urn:omnicx:problem:{problem.kind}",
            "title": _TITLES.get(problem.status, "Error"), "status": problem.status,
            "detail": problem.detail}
    await _send(send, problem.status, json.dumps(body).encode(),
                b"application/problem+json", head, problem.headers)


async def _json(send: Send, status: int, body: Any, head: bool) -> None:
    await _send(send, status, json.dumps(body, allow_nan=False, separators=(",", ":")).encode(),
                b"application/json", head)


async def _send(send: Send, status: int, body: bytes, content_type: bytes, head: bool,
                extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    # The answers hold personal data: no shared cache may keep them.
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *extra]})
    await send({"type": "http.response.body", "body": b"" if head else body})
