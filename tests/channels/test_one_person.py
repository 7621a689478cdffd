"""The customer is one person: SMS, WhatsApp (Twilio and Cloud API), a call, a letter."""

from __future__ import annotations

import json

import twilio_payloads as tp
import whatsapp_payloads as wp

import omnicx
from omnicx._blobs import MemoryBlobStore
from omnicx.channels import Twilio, WhatsApp


def test_the_customer_is_one_person_across_sms_whatsapp_calls_and_records(
        backend_history: omnicx.History) -> None:
    """SMS, Twilio WhatsApp, the Cloud API, a Twilio call and a recorded letter: one contact."""
    history = backend_history
    number = "+" + wp.WA_ID
    twilio = Twilio(account_sid=tp.ACCOUNT_SID, auth_token=tp.AUTH_TOKEN, number=tp.BUSINESS,
                    webhook_url=tp.URL)
    cloud = WhatsApp(phone_number_id=wp.PHONE_NUMBER_ID, app_secret="secret")
    for body in (tp.sms(sender=number), tp.whatsapp(sender=number),
                 tp.call("completed", caller=number, duration="120")):
        history.receive(twilio, body=body, headers=twilio.sign(body))
    body = json.dumps(wp.inbound(wp.message("text", 1))).encode()
    history.receive(cloud, body=body, headers=cloud.sign(body))
    history.record(channel="letter", direction="inbound", contact=f"00{wp.WA_ID}",
                   text="A letter", blobs=MemoryBlobStore())
    contacts = list(history.contacts)
    assert len(contacts) == 1
    items = history.timeline(contacts[0]).items
    assert sorted((i.channel.value, i.account) for i in items) == sorted([
        ("sms", tp.ACCOUNT_SID), ("whatsapp", tp.ACCOUNT_SID), ("phone", tp.ACCOUNT_SID),
        ("whatsapp", wp.PHONE_NUMBER_ID), ("letter", "recorded")])
