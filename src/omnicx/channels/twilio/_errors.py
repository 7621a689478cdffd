"""Twilio's error codes that matter to a contact history, and whether to retry them.

Twilio answers a refused API request with ``{"code": 21211, "message": ...,
"more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}``
and reports a message that failed later through its status callback's
``ErrorCode``. Both use the same numbers. Each is either *permanent* (the
same request will fail again: a wrong number, an opted-out recipient) or
*retryable* (trying later may work: rate limits, a handset that is switched
off, Twilio's own trouble). Codes not listed here are judged by the HTTP
status: 429 and 5xx are retryable, everything else is permanent.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["TWILIO_ERRORS", "TwilioErrorCode", "describe", "is_retryable"]


@attrs.frozen(kw_only=True)
class TwilioErrorCode:
    """One documented Twilio error: its number, title and whether a retry may succeed."""

    code: int
    title: str
    retryable: bool


def _codes(*rows: tuple[int, str, bool]) -> Mapping[int, TwilioErrorCode]:
    return {code: TwilioErrorCode(code=code, title=title, retryable=retryable)
            for code, title, retryable in rows}


TWILIO_ERRORS: Mapping[int, TwilioErrorCode] = _codes(
    (20003, "Authentication Error: check the account SID and auth token", False),
    (20404, "The requested resource was not found", False),
    (20429, "Too Many Requests", True),
    (20500, "Internal Server Error", True),
    (20503, "Service Unavailable", True),
    (21211, "Invalid 'To' Phone Number", False),
    (21212, "Invalid 'From' Phone Number", False),
    (21408, "Permission to send an SMS has not been enabled for the region", False),
    (21602, "Message body is required", False),
    (21606, "The 'From' phone number is not a valid, message-capable Twilio number", False),
    (21610, "Attempt to send to unsubscribed recipient", False),
    (21612, "The 'To' phone number is not currently reachable via SMS", False),
    (21614, "'To' number is not a valid mobile number", False),
    (21617, "The concatenated message body exceeds the 1600 character limit", False),
    (21619, "A message body, media URL or content SID is required", False),
    (30001, "Queue overflow", True),
    (30002, "Account suspended", False),
    (30003, "Unreachable destination handset", True),
    (30004, "Message blocked", False),
    (30005, "Unknown destination handset", False),
    (30006, "Landline or unreachable carrier", False),
    (30007, "Message filtered (carrier violation)", False),
    (30008, "Unknown error", True),
    (30034, "Message from an unregistered number (US A2P 10DLC)", False),
    (63016, "Outside the WhatsApp customer-service window: send a template", False),
)


def describe(code: int | str) -> TwilioErrorCode | None:
    """The documented error ``code`` (an int or the digits a webhook sends), if known."""
    if isinstance(code, str):
        code = code.strip()
        if not code.isascii() or not code.isdigit() or len(code) > 9:
            return None
        code = int(code)
    return TWILIO_ERRORS.get(code)


def is_retryable(code: int | str | None, http_status: int | None = None) -> bool:
    """Whether trying again later may succeed: the code's verdict, else the HTTP status's."""
    info = describe(code) if code is not None else None
    if info is not None:
        return info.retryable
    return http_status is not None and (http_status == 429 or http_status >= 500)
