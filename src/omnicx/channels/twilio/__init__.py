"""Twilio: SMS, MMS, WhatsApp through Twilio, and voice calls with recordings.

- `Twilio` (``_channel``): the adapter: signature check, parsing, sending.
- ``_signature``: ``X-Twilio-Signature`` (HMAC-SHA1 over URL and parameters,
  and the ``bodySHA256`` variant for JSON bodies).
- ``_form``: a body to its (name, value) pairs, shared by the signature
  check and the parser.
- ``_parse``: webhook parameters to events: messages, statuses, calls,
  recordings, transcriptions.
- ``_send``: the Messages API client; ``_errors``: Twilio's error codes,
  permanent or retryable (`TWILIO_ERRORS`).
"""

from __future__ import annotations

from ._channel import Twilio, TwilioWhatsApp
from ._errors import TWILIO_ERRORS, TwilioErrorCode
from ._parse import CALL_STATUSES, MESSAGE_STATUSES
from ._signature import SIGNATURE_HEADER, compute_signature

__all__ = ["CALL_STATUSES", "MESSAGE_STATUSES", "SIGNATURE_HEADER", "TWILIO_ERRORS", "Twilio",
           "TwilioErrorCode", "TwilioWhatsApp", "compute_signature"]
