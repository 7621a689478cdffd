"""Twilio webhook bodies shaped like the examples in Twilio's documentation.

Parameter names, order and values follow Twilio's pages "Twilio's request
to your incoming message Webhook URL", "Track the message status of
outbound messages", "Voice webhooks" (incoming call, call status callbacks,
recording status callbacks) and ``<Record transcribeCallback>``. Numbers are
the documentation's 555 numbers, or Swiss ones where a test needs one
person across channels. Every builder returns the form-encoded bytes Twilio
posts.
"""

from __future__ import annotations

from urllib.parse import urlencode

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "12345"
URL = "https://crm.example.ch/hooks/twilio"
BUSINESS = "+15558675310"
CUSTOMER = "+14017122661"
MESSAGE_SID = "SM" + "1f0e" * 8
CALL_SID = "CA" + "5d1a" * 8
RECORDING_SID = "RE" + "7b2c" * 8
TRANSCRIPTION_SID = "TR" + "9c3d" * 8
TIMESTAMP = "Tue, 30 Jan 2024 19:04:05 +0000"


def form(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs).encode()


def sms(*, body: str = "Hello, is my order on its way?", sid: str = MESSAGE_SID,
        sender: str = CUSTOMER, to: str = BUSINESS, media: list[tuple[str, str]] = ()
        ) -> bytes:
    """An inbound SMS (or MMS with ``media`` as (url, content type) pairs)."""
    pairs = [
        ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", sid),
        ("NumMedia", str(len(media))), ("ToCity", "SAN FRANCISCO"), ("FromZip", "02860"),
        ("SmsSid", sid), ("FromState", "RI"), ("SmsStatus", "received"),
        ("FromCity", "PROVIDENCE"), ("Body", body), ("FromCountry", "US"), ("To", to),
        ("ToZip", "94105"), ("NumSegments", "1"), ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID), ("From", sender), ("ApiVersion", "2010-04-01"),
    ]
    for index, (url, content_type) in enumerate(media):
        pairs.append((f"MediaContentType{index}", content_type))
        pairs.append((f"MediaUrl{index}", url))
    return form(pairs)


def whatsapp(*, body: str = "Hi from WhatsApp", sid: str = "SM" + "2a2b" * 8,
             sender: str = CUSTOMER, to: str = BUSINESS, name: str = "Jane",
             extra: list[tuple[str, str]] = ()) -> bytes:
    """An inbound WhatsApp message through Twilio (``whatsapp:`` addresses, WaId)."""
    return form([
        ("SmsMessageSid", sid), ("NumMedia", "0"), ("ProfileName", name),
        ("MessageType", "text"), ("SmsSid", sid), ("WaId", sender.lstrip("+")),
        ("SmsStatus", "received"), ("Body", body), ("To", f"whatsapp:{to}"),
        ("NumSegments", "1"), ("ReferralNumMedia", "0"), ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID), ("From", f"whatsapp:{sender}"),
        ("ApiVersion", "2010-04-01"), *extra,
    ])


def message_status(status: str, *, sid: str = MESSAGE_SID, to: str = CUSTOMER,
                   sender: str = BUSINESS, error_code: str | None = None) -> bytes:
    """A message status callback (queued, sending, sent, delivered, undelivered, ...)."""
    pairs = [("SmsSid", sid), ("SmsStatus", status), ("MessageStatus", status), ("To", to),
             ("MessageSid", sid), ("AccountSid", ACCOUNT_SID), ("From", sender),
             ("ApiVersion", "2010-04-01")]
    if error_code is not None:
        pairs.insert(0, ("ErrorCode", error_code))
    return form(pairs)


def call(status: str, *, sid: str = CALL_SID, direction: str = "inbound",
         caller: str = CUSTOMER, called: str = BUSINESS, duration: str | None = None,
         sequence: str = "0", timestamp: str | None = TIMESTAMP,
         extra: list[tuple[str, str]] = ()) -> bytes:
    """A call status callback; with ``timestamp=None``, the incoming-call request."""
    pairs = [("Called", called), ("ToState", "CA"), ("CallerCountry", "US"),
             ("Direction", direction), ("CallerState", "RI"), ("ToZip", ""),
             ("CallSid", sid), ("To", called), ("CallerZip", "02860"), ("ToCountry", "US"),
             ("ApiVersion", "2010-04-01"), ("CalledZip", ""), ("CalledCity", ""),
             ("CallStatus", status), ("From", caller), ("AccountSid", ACCOUNT_SID),
             ("CalledCountry", "US"), ("CallerCity", "PROVIDENCE"), ("Caller", caller),
             ("FromCountry", "US"), ("ToCity", ""), ("FromCity", "PROVIDENCE"),
             ("CalledState", "CA"), ("FromZip", "02860"), ("FromState", "RI")]
    if timestamp is not None:
        pairs += [("Timestamp", timestamp), ("CallbackSource", "call-progress-events"),
                  ("SequenceNumber", sequence)]
    if duration is not None:
        pairs += [("CallDuration", duration), ("Duration", str(-(-int(duration) // 60)))]
    return form([*pairs, *extra])


def recording(*, status: str = "completed", sid: str = RECORDING_SID, call_sid: str = CALL_SID,
              duration: str = "42") -> bytes:
    """A recording status callback."""
    return form([
        ("RecordingSource", "RecordVerb"), ("RecordingSid", sid),
        ("RecordingUrl", f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
                         f"/Recordings/{sid}"),
        ("RecordingStatus", status), ("RecordingChannels", "1"), ("ErrorCode", "0"),
        ("CallSid", call_sid), ("RecordingStartTime", "Tue, 30 Jan 2024 19:04:20 +0000"),
        ("AccountSid", ACCOUNT_SID), ("RecordingDuration", duration),
    ])


def transcription(*, text: str = "Hello, I am calling about my invoice.",
                  call_sid: str = CALL_SID) -> bytes:
    """A ``<Record transcribeCallback>`` request."""
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
    return form([
        ("TranscriptionSid", TRANSCRIPTION_SID), ("TranscriptionText", text),
        ("TranscriptionStatus", "completed"),
        ("TranscriptionUrl", f"{url}/Recordings/{RECORDING_SID}/Transcriptions/"
                             f"{TRANSCRIPTION_SID}"),
        ("RecordingSid", RECORDING_SID), ("RecordingUrl", f"{url}/Recordings/{RECORDING_SID}"),
        ("CallSid", call_sid), ("AccountSid", ACCOUNT_SID), ("From", CUSTOMER),
        ("To", BUSINESS), ("CallStatus", "completed"), ("ApiVersion", "2010-04-01"),
        ("Direction", "inbound"), ("ForwardedFrom", ""),
    ])


# The Messages API's documented answers.
def message_resource(*, sid: str = MESSAGE_SID, status: str = "queued", body: str = "Hi",
                     to: str = CUSTOMER, sender: str = BUSINESS) -> dict[str, object]:
    return {
        "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": body,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": None,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": sender,
        "messaging_service_sid": None, "num_media": "0", "num_segments": "1", "price": None,
        "price_unit": None, "sid": sid, "status": status,
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}"
                                      "/Media.json"},
        "to": to, "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }


def error_body(code: int, message: str, status: int) -> dict[str, object]:
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
