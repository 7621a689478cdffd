"""Twilio webhook bodies to `ChannelEvent`s: messages, message statuses, calls, recordings.

Twilio posts ``application/x-www-form-urlencoded`` parameters (a few newer
products post a flat JSON object, read the same way). Which webhook a body
is follows from its parameters, most specific first:

- ``TranscriptionSid`` / ``TranscriptionText``: a transcription of a call
  recording (``<Record transcribeCallback>``): an update of the call.
- ``RecordingStatus``: a recording status callback: an update of the call,
  with ``RecordingUrl``, ``RecordingSid`` and ``RecordingDuration``.
- ``CallSid`` with ``CallStatus``: the incoming-call request or a call status
  callback (initiated, ringing, in-progress, completed, busy, no-answer,
  failed, canceled). Every one of them yields the call interaction (the
  first to arrive creates it, later ones are counted duplicates) and a
  status update, so the call exists whichever callbacks were subscribed
  and moves forward only.
- ``MessageSid`` / ``SmsSid``: an inbound SMS, MMS or WhatsApp message
  (status ``received``, or none) or a status callback of an outbound one
  (queued, sending, sent, delivered, undelivered, failed, read), with
  ``ErrorCode`` when it failed.

Addresses: ``whatsapp:+41791234567`` is the phone number ``+41791234567``,
so a customer writing through Twilio's WhatsApp and through Meta's Cloud
API (whose ``wa_id`` is the same number) is one contact, and so are their
SMS and calls. Every event's account is the Twilio account SID, which
every Twilio webhook carries and which scopes its message, call and
recording SIDs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

from ..._enums import AddressKind, Channel, Direction, EventKind, Kind, Status
from ..._errors import PayloadError
from ..._events import ChannelEvent, MessageEvent, UpdateEvent
from ..._models import Address, Attachment
from ._errors import describe

__all__ = ["CALL_STATUSES", "MESSAGE_STATUSES", "parse_params"]

_CHANNEL = "sms"
MAX_MEDIA = 10  # Twilio delivers at most ten media items per message

# Twilio's message statuses on omnicx's forward-only ladder. The raw status
# is kept on the event ("status:<twilio status>" is its id, "twilio_status"
# in its data), so "queued" and "sending" stay distinct events.
MESSAGE_STATUSES: Mapping[str, Status] = {
    "accepted": Status.PENDING,
    "scheduled": Status.PENDING,
    "queued": Status.PENDING,
    "sending": Status.PENDING,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
    "read": Status.READ,
    "partially_delivered": Status.SENT,
}
CALL_STATUSES: Mapping[str, Status] = {
    "queued": Status.PENDING,
    "initiated": Status.PENDING,
    "ringing": Status.RINGING,
    "in-progress": Status.IN_PROGRESS,
    "answered": Status.IN_PROGRESS,
    "completed": Status.COMPLETED,
    "busy": Status.BUSY,
    "no-answer": Status.NO_ANSWER,
    "failed": Status.FAILED,
    "canceled": Status.CANCELED,
}
_INBOUND = frozenset({"received", "receiving"})
_PREFIX_CHANNELS = {"whatsapp": Channel.WHATSAPP, "messenger": Channel.MESSENGER}
_CALL_DETAILS = ("ForwardedFrom", "CallerName", "ParentCallSid", "AnsweredBy", "CallbackSource",
                 "SequenceNumber", "SipResponseCode", "Digits", "StirVerstat", "ApiVersion")
_MESSAGE_DETAILS = ("MessagingServiceSid", "NumSegments", "FromCity", "FromState", "FromZip",
                    "FromCountry", "ApiVersion", "Forwarded", "FrequentlyForwarded",
                    "ReferralNumMedia", "ReferralSourceUrl", "ReferralHeadline",
                    "ReferralCtwaClid", "ChannelPrefix")


def parse_params(pairs: Sequence[tuple[str, str]], *, account_sid: str) -> list[ChannelEvent]:
    """Every event in one Twilio webhook's parameters."""
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    given = params.get("AccountSid")
    if given and given != account_sid:
        raise PayloadError(f"webhook for Twilio account {given}, this adapter is {account_sid}",
                           channel=_CHANNEL)
    hook = _Hook(params, account_sid)
    if "TranscriptionSid" in params or "TranscriptionText" in params:
        return [hook.transcription()]
    if "RecordingStatus" in params:
        return [hook.recording()]
    if params.get("CallSid") and params.get("CallStatus"):
        return hook.call()
    if params.get("MessageSid") or params.get("SmsSid") or params.get("SmsMessageSid"):
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        if not status or status in _INBOUND:
            return [hook.message()]
        return [hook.message_status(status)]
    raise PayloadError("not a Twilio message, call or recording webhook "
                       f"(parameters: {', '.join(sorted(params)[:12]) or 'none'})",
                       channel=_CHANNEL)


class _Hook:
    """One webhook's parameters and the readers that turn them into events."""

    def __init__(self, params: dict[str, str], account_sid: str) -> None:
        self.params = params
        self.account = account_sid

    def get(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

    def need(self, name: str) -> str:
        value = self.params.get(name)
        if not value:
            raise PayloadError(f"{name} is required", channel=_CHANNEL)
        return value

    def details(self, names: Sequence[str]) -> dict[str, Any]:
        return {name: self.params[name] for name in names if self.params.get(name)}

    # -- messages ---------------------------------------------------------------

    def message(self) -> MessageEvent:
        sid = self.get("MessageSid") or self.get("SmsMessageSid") or self.need("SmsSid")
        sender = self.need("From")
        channel, customer = _party(sender, "From", self.get("ProfileName"))
        business = _optional_party(self.get("To"))
        wa_id = self.get("WaId")
        contact = [customer]
        if wa_id:
            try:
                # WaId is international digits without "+"; saying so keeps a
                # history's default region from reading them as a national number.
                phone = Address(kind=AddressKind.PHONE, name=customer.name,
                                value=wa_id if wa_id.startswith("+") else f"+{wa_id}")
            except PayloadError:
                pass  # the From number identifies them all the same
            else:
                if phone not in contact:
                    contact.append(phone)
        attachments = self.media()
        data = self.details(_MESSAGE_DETAILS)
        message_type = self.get("MessageType") or ("media" if attachments else "text")
        text = self.params.get("Body") or None
        latitude, longitude = self.get("Latitude"), self.get("Longitude")
        if latitude and longitude:
            data["location"] = {"latitude": latitude, "longitude": longitude,
                                **{k.lower(): v for k, v in
                                   self.details(("Address", "Label")).items()}}
            message_type = self.get("MessageType") or "location"
            text = text or ", ".join(v for v in (self.get("Label"), self.get("Address")) if v)
        button = self.details(("ButtonText", "ButtonPayload"))
        if button:
            data["button"] = button
            text = text or button.get("ButtonText")
        if business is not None:
            data["twilio_number"] = business.value
        return MessageEvent(
            channel=channel,
            account=self.account,
            external_id=sid,
            direction=Direction.INBOUND,
            contact=tuple(contact),
            contact_name=self.get("ProfileName"),
            kind=Kind.MESSAGE,
            message_type=message_type,
            sender=customer,
            recipients=(business,) if business is not None else (),
            text=text or None,
            attachments=attachments,
            reply_to=self.get("OriginalRepliedMessageSid"),
            thread_key=_thread_key(channel, business),
            data=data,
        )

    def media(self) -> tuple[Attachment, ...]:
        raw = self.params.get("NumMedia") or "0"
        if not raw.isdigit() or int(raw) > MAX_MEDIA:
            raise PayloadError(f"NumMedia is not a count of 0 to {MAX_MEDIA}: {raw!r}",
                               channel=_CHANNEL)
        attachments = []
        for index in range(int(raw)):
            url = self.need(f"MediaUrl{index}")
            content_type = self.get(f"MediaContentType{index}") or "application/octet-stream"
            attachments.append(Attachment(content_type=content_type, ref=url))
        return tuple(attachments)

    def message_status(self, status: str) -> UpdateEvent:
        sid = self.get("MessageSid") or self.need("SmsSid")
        data: dict[str, Any] = {"twilio_status": status}
        data.update(self.details(("MessagingServiceSid", "RawDlrDoneDate", "ChannelToAddress",
                                  "ChannelPrefix", "ChannelInstallSid")))
        contact: tuple[Address, ...] = ()
        to = self.get("To")
        if to:
            try:
                contact = (_party(to, "To", None)[1],)
            except PayloadError:
                data["to"] = to  # the recipient is known from the sent message already
        error = None
        code = self.get("ErrorCode")
        if code:
            info = describe(code)
            data["error_code"] = code
            data["retryable"] = info.retryable if info is not None else None
            error = f"{code} {info.title}" if info is not None else code
            message = self.get("ErrorMessage")
            if message:
                data["error_message"] = message
        channel = _channel_of(self.get("From") or to or "")
        return UpdateEvent(
            channel=channel,
            account=self.account,
            target=sid,
            event_id=f"status:{status}",
            kind=EventKind.STATUS,
            status=MESSAGE_STATUSES.get(status, Status.coerce(status)),
            occurred_at=_dlr_time(self.get("RawDlrDoneDate")),
            error=error,
            contact=contact,
            data=data,
        )

    # -- calls ------------------------------------------------------------------

    def call(self) -> list[ChannelEvent]:
        sid = self.need("CallSid")
        raw_status = self.need("CallStatus").lower()
        direction_text = (self.get("Direction") or "inbound").lower()
        outbound = direction_text.startswith("outbound")
        caller, callee = self.need("From"), self.need("To")
        _, customer = _party(callee if outbound else caller, "To" if outbound else "From",
                             self.get("CallerName") if not outbound else None)
        business = _optional_party(caller if outbound else callee)
        at = _rfc2822(self.get("Timestamp"), "Timestamp")
        duration = _seconds(self.get("CallDuration"), "CallDuration")
        data: dict[str, Any] = {"twilio_direction": direction_text}
        data.update(self.details(_CALL_DETAILS))
        if business is not None:
            data["twilio_number"] = business.value
        started = at - dt.timedelta(seconds=duration) if at and duration else at
        parent = self.get("ParentCallSid")
        events: list[ChannelEvent] = [MessageEvent(
            channel=Channel.PHONE,
            account=self.account,
            external_id=sid,
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
            contact=(customer,),
            contact_name=None if outbound else self.get("CallerName"),
            kind=Kind.CALL,
            message_type="call",
            occurred_at=started,
            sender=business if outbound else customer,
            recipients=(customer,) if outbound else _tuple(business),
            thread_refs=(parent,) if parent else (),
            data=data,
        )]
        status_data: dict[str, Any] = {"twilio_status": raw_status}
        status_data.update(self.details(("CallbackSource", "SequenceNumber", "SipResponseCode",
                                         "AnsweredBy")))
        if duration is not None:
            status_data["duration_seconds"] = duration
        error = None
        code = self.get("ErrorCode")
        if code:
            info = describe(code)
            status_data["error_code"] = code
            error = f"{code} {info.title}" if info is not None else code
        events.append(UpdateEvent(
            channel=Channel.PHONE, account=self.account, target=sid,
            event_id=f"status:{raw_status}", kind=EventKind.STATUS,
            status=CALL_STATUSES.get(raw_status, Status.coerce(raw_status)),
            occurred_at=at, error=error, contact=(customer,), data=status_data))
        if self.get("RecordingSid") or self.get("RecordingUrl"):
            events.append(self.recording(call_sid=sid))
        return events

    def recording(self, call_sid: str | None = None) -> UpdateEvent:
        call = call_sid or self.need("CallSid")
        recording_sid = self.need("RecordingSid")
        status = (self.get("RecordingStatus") or "completed").lower()
        duration = _seconds(self.get("RecordingDuration"), "RecordingDuration")
        data: dict[str, Any] = {"recording_sid": recording_sid, "recording_status": status}
        url = self.get("RecordingUrl")
        if url:
            data["url"] = url
            # Twilio serves the recording as WAV at the bare URL, MP3 with ".mp3".
            data["attachment"] = {"content_type": "audio/mpeg" if url.endswith(".mp3")
                                  else "audio/x-wav", "ref": url}
        if duration is not None:
            data["duration_seconds"] = duration
        for name, key in (("RecordingChannels", "channels"), ("RecordingSource", "source"),
                          ("RecordingTrack", "track"), ("ErrorCode", "error_code")):
            value = self.get(name)
            if value:
                data[key] = value
        return UpdateEvent(
            channel=Channel.PHONE, account=self.account, target=call,
            event_id=f"recording:{recording_sid}:{status}", kind=EventKind.RECORDED,
            occurred_at=_rfc2822(self.get("RecordingStartTime"), "RecordingStartTime"),
            data=data)

    def transcription(self) -> UpdateEvent:
        call = self.need("CallSid")
        transcription_sid = self.get("TranscriptionSid")
        recording_sid = self.get("RecordingSid")
        if not transcription_sid and not recording_sid:
            raise PayloadError("a transcription needs TranscriptionSid or RecordingSid",
                               channel=_CHANNEL)
        data: dict[str, Any] = {
            "text": self.params.get("TranscriptionText") or None,
            "transcription_status": (self.get("TranscriptionStatus") or "completed").lower(),
        }
        data.update({key: value for key, value in (
            ("transcription_sid", transcription_sid), ("recording_sid", recording_sid),
            ("url", self.get("TranscriptionUrl")), ("recording_url", self.get("RecordingUrl")),
        ) if value})
        return UpdateEvent(
            channel=Channel.PHONE, account=self.account, target=call,
            event_id=f"transcription:{transcription_sid or recording_sid}",
            kind=EventKind.TRANSCRIBED, data=data)


# -- addresses and values -------------------------------------------------------------


def _channel_of(value: str) -> Channel:
    prefix, sep, _ = value.partition(":")
    return _PREFIX_CHANNELS.get(prefix.lower(), Channel.SMS) if sep else Channel.SMS


def _party(value: str, what: str, name: str | None) -> tuple[Channel, Address]:
    """The channel and `Address` of a Twilio address (``+4179...``, ``whatsapp:+4179...``)."""
    prefix, sep, rest = value.partition(":")
    kind = prefix.lower() if sep else ""
    try:
        if kind == "messenger":
            return Channel.MESSENGER, Address(kind=AddressKind.MESSENGER, value=rest, name=name)
        if kind == "client":  # a Twilio Client (browser or app) identity
            return Channel.PHONE, Address(kind=AddressKind.USERNAME, value=rest, name=name)
        if kind == "sip":  # sip:+41791234567@trunk.example.com is that number
            user = rest.split("@", 1)[0].split(";", 1)[0]
            try:
                return Channel.PHONE, Address(kind=AddressKind.PHONE, value=user, name=name)
            except PayloadError:
                return Channel.PHONE, Address(kind="sip", value=rest.lower(), name=name)
        number = rest if sep else value
        return (_PREFIX_CHANNELS.get(kind, Channel.SMS),
                Address(kind=AddressKind.PHONE, value=number, name=name))
    except PayloadError as exc:
        # Not the value itself: the error is kept beside the quarantined
        # payload, in the clear even when content is encrypted.
        raise PayloadError(f"{what}: not a phone number or address Twilio sends",
                           channel=_CHANNEL) from exc


def _optional_party(value: str | None) -> Address | None:
    """Our own number: an unreadable one costs its address, never the message."""
    if not value:
        return None
    try:
        return _party(value, "To", None)[1]
    except PayloadError:
        return None


def _thread_key(channel: Channel, business: Address | None) -> str:
    return f"twilio:{channel.value}:{business.value if business is not None else '-'}"


def _tuple(address: Address | None) -> tuple[Address, ...]:
    return () if address is None else (address,)


def _rfc2822(value: str | None, what: str) -> dt.datetime | None:
    """Twilio's ``Timestamp``: RFC 2822 (``Tue, 30 Jan 2024 19:04:05 +0000``)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise PayloadError(f"{what}: not an RFC 2822 time: {value!r}", channel=_CHANNEL
                           ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _dlr_time(value: str | None) -> dt.datetime | None:
    """``RawDlrDoneDate``: the carrier's delivery receipt time, ``YYMMDDhhmm`` in UTC.

    Only some carriers send it, and only on delivered and undelivered
    statuses; one that is not a time is kept in the data, not trusted.
    """
    if not value or len(value) != 10 or not value.isascii() or not value.isdigit():
        return None
    try:
        return dt.datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _seconds(value: str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise PayloadError(f"{what}: not a number of seconds: {value!r}", channel=_CHANNEL)
    return int(value)
