"""SMS and calls through Twilio, and a letter from the mail room, in one timeline.

Run it: ``python examples/phone_and_post.py``. Everything goes through the
real path: Twilio's signed form posts into `History.receive`, the letter
through `History.record`, into a SQLite file in a temporary directory.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import omnicx
from omnicx.channels import Twilio

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
twilio = Twilio(account_sid=ACCOUNT, auth_token="your-auth-token", number="+41445551234",
                webhook_url="https://crm.example.ch/hooks/twilio")


def twilio_posts(history: omnicx.History, params: dict[str, str]) -> omnicx.Receipt:
    """What your web handler does with Twilio's request: raw body and headers in."""
    body = urlencode({**params, "AccountSid": ACCOUNT, "ApiVersion": "2010-04-01"}).encode()
    headers = twilio.sign(body)  # Twilio's X-Twilio-Signature, as Twilio would send it
    return history.receive(twilio, body=body, headers=headers)


with tempfile.TemporaryDirectory() as folder, \
        omnicx.open(Path(folder) / "history.db") as history:
    twilio_posts(history, {
        "MessageSid": "SM11", "SmsSid": "SM11", "SmsStatus": "received", "NumMedia": "0",
        "From": "+41791234567", "To": "+41445551234", "Body": "Can you call me back?"})
    # Twilio's call status callbacks, out of order: one call, it ends "completed".
    for status, sequence in (("completed", "2"), ("ringing", "0"), ("in-progress", "1")):
        twilio_posts(history, {
            "CallSid": "CA22", "CallStatus": status, "Direction": "outbound-api",
            "From": "+41445551234", "To": "+41791234567", "SequenceNumber": sequence,
            "Timestamp": "Mon, 02 Nov 2026 10:04:00 +0000",
            **({"CallDuration": "240"} if status == "completed" else {})})
    history.record(channel="letter", direction="inbound", contact="+41 79 123 45 67",
                   occurred_at=dt.datetime(2026, 11, 4, 9, 0, tzinfo=dt.UTC),
                   subject="Signed contract", attachments=[b"%PDF-1.4 (the scan)"],
                   external_id="mailroom-2026-0117",
                   blobs=omnicx.FileBlobStore(Path(folder) / "media"))

    customer = history.contacts.find("+41791234567")
    assert customer is not None
    for item in history.timeline(customer).items:
        what = item.text or item.subject or item.kind
        print(f"{item.occurred_at:%Y-%m-%d %H:%M}  {item.channel!s:<7} {item.direction!s:<9}"
              f" {what}  [{item.status or '-'}]")
    call = next(i for i in history.timeline(customer).items if i.kind == "call")
    statuses = history.statuses(call)
    ended = next(s for s in statuses if s.status == "completed")
    print(f"the call: callbacks {[s.data['twilio_status'] for s in statuses]} in arrival"
          f" order, status {call.status}, {ended.data['duration_seconds']} seconds")
