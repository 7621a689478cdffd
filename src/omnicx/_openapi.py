"""The read API's OpenAPI 3.1 description, served at ``/api/openapi.json``.

Written as data next to the shapes of ``omnicx._apijson`` (one schema a
function there), so that a CRM team can generate a client in its own
language. The tests validate this document with ``openapi-spec-validator``
and hold every answer of a real server against it (``tests/test_api*.py``),
so it cannot drift from what the server sends. Enum-like strings (channel,
status...) are open sets, as omnicx's enums are: a newer omnicx or a
provider may add values, so clients must accept unknown ones.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi"]

JSON = dict[str, Any]


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _null(schema: JSON) -> JSON:
    """``schema`` or ``null`` (OpenAPI 3.1 is JSON Schema 2020-12: no ``nullable``)."""
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def _object(properties: JSON, description: str) -> JSON:
    return {"type": "object", "description": description, "properties": properties,
            "required": sorted(properties), "additionalProperties": False}


_STR: JSON = {"type": "string"}
_INT: JSON = {"type": "integer"}
_BOOL: JSON = {"type": "boolean"}
_TIME: JSON = {"type": "string", "format": "date-time",
               "description": "ISO 8601, UTC, e.g. 2026-11-03T08:00:10Z"}
_DATA: JSON = {"type": "object", "description": "provider details without a field of their"
                                                " own; JSON-safe (bytes appear as a note)"}
_CURSOR: JSON = {"type": "string", "description": "opaque; pass it back unchanged"}


def _page(item: str, description: str, cursor: JSON) -> JSON:
    return _object({"items": {"type": "array", "items": _ref(item)}, "next_cursor": cursor},
                   description)


_SCHEMAS: JSON = {
    "Problem": {
        "type": "object", "description": "An error, as RFC 9457 problem details.",
        "properties": {
            "type": {"type": "string", "description": "urn:omnicx:problem:<kind>: bad-parameter,"
                     " bad-cursor, unauthorized, not-found, method-not-allowed,"
                     " search-unavailable, unavailable, internal"},
            "title": _STR, "status": _INT, "detail": _STR},
        "required": ["type", "title", "status", "detail"]},
    "Address": _object({"kind": {**_STR, "description": "phone, email, whatsapp, webchat,"
                                 " telegram, messenger, instagram, username, ..."},
                        "value": {**_STR, "description": "normalised (E.164, lower-case email)"},
                        "name": _null(_STR)}, "One way to reach a contact."),
    "Attachment": _object({"filename": _null(_STR), "content_type": _STR,
                           "size": _null(_INT), "sha256": _null(_STR)},
                          "A file that came with an interaction (its metadata)."),
    "Contact": _object({
        "id": _INT, "display_name": _null(_STR),
        "addresses": {"type": "array", "items": _ref("Address")},
        "crm_id": _null(_STR), "created_at": _TIME,
        "merged_into": _null({**_INT, "description": "the contact this one was merged into"}),
        "erased": _BOOL}, "A person or organisation."),
    "ContactPage": _page("Contact", "Unmerged contacts by id.", _null(_CURSOR)),
    "Interaction": _object({
        "id": _INT, "contact_id": _INT, "conversation_id": _INT,
        "channel": {**_STR, "description": "email, whatsapp, webchat, sms, telegram, messenger,"
                    " instagram, phone, video, webform, letter, fax, ..."},
        "account": _STR,
        "direction": {**_STR, "description": "inbound, outbound, internal"},
        "kind": {**_STR, "description": "message, call, note, form, session, system, ..."},
        "message_type": _null(_STR), "external_id": _STR,
        "occurred_at": {**_TIME, "description": "the provider's time"},
        "received_at": {**_TIME, "description": "when omnicx stored it"},
        "sender": _null(_ref("Address")),
        "recipients": {"type": "array", "items": _ref("Address")},
        "subject": _null(_STR), "text": _null(_STR), "html": _null(_STR),
        "attachments": {"type": "array", "items": _ref("Attachment")},
        "reply_to": _null(_STR),
        "status": _null({**_STR, "description": "the furthest delivery status: pending, sent,"
                         " delivered, read, failed, ..."}),
        "data": _DATA, "erased": _BOOL}, "A message, call, note or form submission."),
    "StatusChange": _object({"id": _INT, "status": _STR, "occurred_at": _TIME,
                             "received_at": _TIME, "error": _null(_STR), "data": _DATA},
                            "A delivery status reported for an interaction."),
    "InteractionEvent": _object({"id": _INT, "kind": {**_STR, "description": "edited, revoked,"
                                                      " reacted, unreacted, ..."},
                                 "external_id": _STR, "occurred_at": _TIME,
                                 "received_at": _TIME, "data": _DATA},
                                "An edit, revoke or reaction recorded on an interaction."),
    "TimelinePage": _page("Interaction", "A contact's interactions, newest first.",
                          _null({**_CURSOR, "description": "pass as before= for the next"
                                 " (older) page; null on the last page"})),
    "Change": _object({
        "id": {**_INT, "description": "the position in the feed"},
        "cursor": {**_CURSOR, "description": "resumes the feed right after this change"},
        "kind": {**_STR, "description": "interaction.created, interaction.status_changed,"
                 " contact.merged, gap.opened, conversation.state_changed, ..."},
        "at": _TIME, "contact_id": _null(_INT), "interaction_id": _null(_INT),
        "data": {**_DATA, "description": "the details of the kind; never message content"}},
        "One change to the history."),
    "ChangePage": _page("Change", "Changes after a cursor, oldest first.",
                        {**_CURSOR, "description": "never null: store it and pass it as"
                         " after= next time; an empty page means nothing newer yet"}),
    "ConversationChange": _object({
        "id": _INT, "action": {**_STR, "description": "resolve, reopen, pending, snooze,"
                               " assign, handover"},
        "occurred_at": _TIME, "state": _null(_STR), "assignee": _null(_STR),
        "team": _null(_STR), "by": _null(_STR), "reason": _null(_STR),
        "until": _null(_TIME)}, "One recorded lifecycle decision."),
    "Conversation": _object({
        "id": _INT, "contact_id": _INT, "channel": _STR, "account": _STR,
        "subject": _null(_STR), "started_at": _TIME, "last_activity_at": _TIME,
        "state": {**_STR, "description": "open, pending, snoozed, resolved"},
        "assignee": _null(_STR), "team": _null(_STR), "snoozed_until": _null(_TIME),
        "reopened": _INT, "handovers": _INT,
        "changes": {"type": "array", "items": _ref("ConversationChange")}},
        "A thread on one channel, where it stands now and its recorded changes."),
    "SearchHit": _object({
        "interaction": _ref("Interaction"),
        "score": {"type": "number", "description": "higher is better, within one result"},
        "snippet": _STR,
        "highlights": {"type": "array", "description": "[start, end) of matched words in"
                       " the snippet", "items": {"type": "array", "items": _INT,
                                                  "minItems": 2, "maxItems": 2}}},
        "One interaction found by search."),
    "SearchResults": _object({"items": {"type": "array", "items": _ref("SearchHit")}},
                             "Search hits, best first."),
}
_SCHEMAS["InteractionDetails"] = {
    **_SCHEMAS["Interaction"],
    "description": "An interaction with its delivery statuses and events, oldest first.",
    "properties": {**_SCHEMAS["Interaction"]["properties"],
                   "statuses": {"type": "array", "items": _ref("StatusChange")},
                   "events": {"type": "array", "items": _ref("InteractionEvent")}},
    "required": sorted([*_SCHEMAS["Interaction"]["required"], "statuses", "events"]),
}


def _param(name: str, where: str, schema: JSON, description: str, *,
           required: bool = False, explode: bool | None = None) -> JSON:
    found: JSON = {"name": name, "in": where, "required": required or where == "path",
                   "description": description, "schema": schema}
    if explode is not None:
        found["explode"] = explode
    return found


def _id(what: str) -> JSON:
    return _param("id", "path", {"type": "integer", "minimum": 1}, f"the {what}'s id")


def _limit(default: int, maximum: int) -> JSON:
    return _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": maximum,
                                     "default": default}, "page size")


_CHANNEL = _param("channel", "query", {"type": "array", "items": {"type": "string", "enum": [
    "email", "fax", "instagram", "letter", "messenger", "phone", "sms", "telegram",
    "video", "webchat", "webform", "whatsapp"]}}, "only these channels (repeat the"
    " parameter, or separate with commas)", explode=True)
_SINCE = _param("since", "query", {"type": "string", "format": "date-time"},
                "provider time at or after this (ISO 8601 with a zone)")
_UNTIL = _param("until", "query", {"type": "string", "format": "date-time"},
                "provider time before this (ISO 8601 with a zone)")


def _problem(description: str) -> JSON:
    return {"description": description,
            "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _get(summary: str, result: str, parameters: list[JSON], *, errors: tuple[int, ...] = (),
         public: bool = False, description: str = "") -> JSON:
    responses: JSON = {"200": {"description": "OK", "content": {
        "application/json": {"schema": _ref(result) if result[0].isupper() else
                             {"type": "object"}}}}}
    texts = {400: "a bad parameter or cursor", 404: "not found",
             501: "this omnicx has no search", 503: "the store failed"}
    for status in (400, 404, 501, 503):
        if status in errors:
            responses[str(status)] = _problem(texts[status])
    if not public:
        responses["401"] = _problem("no or a wrong bearer token")
        responses["503"] = _problem(texts[503])
    responses["405"] = _problem("a method other than GET or HEAD")
    responses["default"] = _problem("an unexpected error (500); the server log says what")
    operation: JSON = {"summary": summary, "parameters": parameters, "responses": responses}
    if description:
        operation["description"] = description
    if public:
        operation["security"] = []
    return {"get": operation}


# Names for generated clients (``client.getTimeline(...)``).
_OPERATION_IDS = {
    "/healthz": "health", "/readyz": "ready", "/contacts": "listContacts",
    "/contacts/find": "findContact", "/contacts/{id}": "getContact",
    "/contacts/{id}/timeline": "getTimeline", "/interactions/{id}": "getInteraction",
    "/conversations/{id}": "getConversation", "/search": "search", "/changes": "listChanges",
    "/openapi.json": "getOpenAPI",
}


def openapi() -> JSON:
    """The OpenAPI 3.1 document of `omnicx.api_app` (paths relative to its mount)."""
    from . import __version__

    health = {"type": "object", "properties": {"status": _STR}, "required": ["status"]}
    paths = {
        "/healthz": _get("Liveness: the process serves", "Health", [], public=True),
        "/readyz": _get("Readiness: the store answers a read", "Health", [], public=True,
                        errors=(503,)),
        "/contacts": _get("Unmerged contacts, by id", "ContactPage", [
            _param("after", "query", _STR, "next_cursor of the previous page (empty: absent)"),
            _limit(100, 500)], errors=(400,),
            description="A listing, not a feed: to follow new and changed contacts use"
                        " /changes (contact.created, contact.merged...)."),
        "/contacts/find": _get("The contact of an address or a CRM id", "Contact", [
            _param("address", "query", {"type": "string", "minLength": 1},
                   "a phone number (any common format), email, or kind:value"),
            _param("crm_id", "query", {"type": "string", "minLength": 1},
                   "the CRM id linked with history.contacts.link")],
            errors=(400, 404), description="Give exactly one of address and crm_id. A merged"
            " contact's address finds the contact it was merged into."),
        "/contacts/{id}": _get("One contact with its addresses", "Contact", [_id("contact")],
                               errors=(404,)),
        "/contacts/{id}/timeline": _get(
            "A contact's interactions, newest first", "TimelinePage", [
                _id("contact"),
                _param("before", "query", _STR, "next_cursor of the previous page (empty: absent)"),
                _limit(50, 500), _CHANNEL, _SINCE, _UNTIL], errors=(400, 404),
            description="Includes the interactions of contacts merged into this one. Keyset"
                        " pages: items arriving meanwhile never make a page repeat or skip."),
        "/interactions/{id}": _get("One interaction with its statuses and events",
                                   "InteractionDetails", [_id("interaction")], errors=(404,)),
        "/conversations/{id}": _get("A conversation, its state and recorded changes",
                                    "Conversation", [_id("conversation")], errors=(404,)),
        "/search": _get("Interactions whose subject or text holds every word", "SearchResults",
                        [_param("q", "query", {"type": "string", "minLength": 1},
                                "the words", required=True),
                         _param("contact", "query", {"type": "integer", "minimum": 1},
                                "only this contact and those merged into it"),
                         _CHANNEL, _SINCE, _UNTIL, _limit(20, 500)],
                        errors=(400, 404, 501),
                        description="Stemmed in English, French, German and Italian; ranked."
                                    " 501 when this omnicx has no search."),
        "/changes": _get("The change feed after a cursor, oldest first", "ChangePage", [
            _param("after", "query", _STR, "next_cursor of the previous page (absent or empty: from"
                   " the start)"),
            _param("kind", "query", {"type": "array", "items": {"type": "string"}},
                   "only these change kinds (repeat, or separate with commas)", explode=True),
            _limit(100, 1000)], errors=(400,),
            description="A reader that stores next_cursor and resumes never misses or"
                        " repeats a change, however many processes write."),
        "/openapi.json": _get("This document", "openapi", [], public=True),
    }
    for path, operation_id in _OPERATION_IDS.items():
        paths[path]["get"]["operationId"] = operation_id
    return {
        "openapi": "3.1.0",
        "info": {"title": "omnicx read API", "version": __version__,
                 "description": "Read a gapless contact history: contacts, timelines,"
                                " interactions, conversations, search and the change feed."
                                " JSON; times ISO 8601 in UTC; errors RFC 9457."},
        "servers": [{"url": "/api", "description": "where omnicx serve mounts it"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {**_SCHEMAS, "Health": health},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from the [api] table of"
                                           " the channel config or $OMNICX_API_TOKEN"}},
        },
    }
