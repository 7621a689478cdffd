"""WhatsApp Cloud API webhook payloads shaped like Meta's documented examples.

`MESSAGES` holds one inbound message object per documented type (as it
appears in ``value.messages[]``); `inbound`, `statuses` and `echoes` wrap
them in the full ``{"object": ..., "entry": [{"changes": [...]}]}``
envelope. Identifiers are Meta's example values (test numbers in the 1-555
range, wamids of the documented shape).
"""

from __future__ import annotations

import copy
import json
from typing import Any

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE = "15550783881"
WA_ID = "16505551234"
BSUID = "US.13491208655302741918"
PARENT_BSUID = "US.ENT.11815799212886844830"
NAME = "Sheena Nelson"
TS = "1744344496"

BIZ_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


def wamid(n: int) -> str:
    return f"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz{n:020d}AA=="


def metadata(phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    return {"display_phone_number": DISPLAY_PHONE, "phone_number_id": phone_number_id}


def contact(
    *, wa_id: str | None = WA_ID, user_id: str | None = None, parent: str | None = None,
    name: str = NAME, username: str | None = None,
) -> dict[str, Any]:
    profile: dict[str, Any] = {"name": name}
    if username:
        profile["username"] = username
    item: dict[str, Any] = {"profile": profile}
    if wa_id:
        item["wa_id"] = wa_id
    if user_id:
        item["user_id"] = user_id
    if parent:
        item["parent_user_id"] = parent
    return item


MESSAGES: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": {"body": "Does it come in another color?"}},
    "image": {
        "type": "image",
        "image": {
            "caption": "This is what I bought",
            "mime_type": "image/jpeg",
            "sha256": "ZCyTWr5ZD2eFq6grgAAbyfqtj1kDZHX6nZEN2tNN9zg=",
            "id": "1003383421387256",
        },
    },
    "audio": {
        "type": "audio",
        "audio": {
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "b2b9e1bb02b1ba3a4b3c0b02b0a9c7b6f7dd5a5f0de2a4f6e1c6a2b3c4d5e6f7",
            "id": "1003383421387257",
            "voice": True,
        },
    },
    "video": {
        "type": "video",
        "video": {
            "caption": "Unboxing",
            "mime_type": "video/mp4",
            "sha256": "TTM0S0b2KZVlHnT1mYq+0P5KvI8ZbGs8ZJYw7z5gq9Q=",
            "id": "1166846181421424",
        },
    },
    "document": {
        "type": "document",
        "document": {
            "caption": "Invoice",
            "filename": "invoice-2291.pdf",
            "mime_type": "application/pdf",
            "sha256": "ZCyTWr5ZD2eFq6grgAAbyfqtj1kDZHX6nZEN2tNN9zg=",
            "id": "1003383421387258",
        },
    },
    "sticker": {
        "type": "sticker",
        "sticker": {
            "mime_type": "image/webp",
            "sha256": "ZCyTWr5ZD2eFq6grgAAbyfqtj1kDZHX6nZEN2tNN9zg=",
            "id": "1003383421387259",
            "animated": False,
        },
    },
    "location": {
        "type": "location",
        "location": {
            "address": "1 Hacker Way, Menlo Park, CA 94025",
            "latitude": 37.483307,
            "longitude": -122.148981,
            "name": "Main Office",
            "url": "https://www.meta.com",
        },
    },
    "contacts": {
        "type": "contacts",
        "contacts": [
            {
                "addresses": [{"city": "Menlo Park", "country": "United States",
                               "country_code": "us", "type": "HOME"}],
                "emails": [{"email": "bjohnson@example.com", "type": "HOME"}],
                "name": {"first_name": "Barbara", "last_name": "Johnson",
                         "formatted_name": "Barbara J. Johnson"},
                "phones": [{"phone": "+1 (650) 555-1234", "wa_id": "16505551234",
                            "type": "MOBILE"}],
            }
        ],
    },
    "interactive_button": {
        "context": {"from": DISPLAY_PHONE, "id": BIZ_WAMID},
        "type": "interactive",
        "interactive": {"type": "button_reply",
                        "button_reply": {"id": "cancel-button", "title": "Cancel"}},
    },
    "interactive_list": {
        "context": {"from": DISPLAY_PHONE, "id": BIZ_WAMID},
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "priority_express", "title": "Priority Mail Express",
                           "description": "Next Day to 2 Days"},
        },
    },
    "interactive_flow": {
        "context": {"from": DISPLAY_PHONE, "id": BIZ_WAMID},
        "type": "interactive",
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {
                "name": "flow",
                "body": "Sent",
                "response_json": '{"flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s.", '
                                 '"appointment_date": "2026-11-30"}',
            },
        },
    },
    "button": {
        "context": {"from": DISPLAY_PHONE, "id": BIZ_WAMID},
        "type": "button",
        "button": {"payload": "Unsubscribe from Promos", "text": "Unsubscribe from Promos"},
    },
    "order": {
        "type": "order",
        "order": {
            "catalog_id": "194836987003835",
            "text": "Please deliver before Friday",
            "product_items": [
                {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30,
                 "currency": "USD"},
            ],
        },
    },
    "system": {
        "type": "system",
        "system": {
            "body": "User Sheena Nelson changed from 16505551234 to 16505559999",
            "wa_id": "16505559999",
            "type": "user_changed_number",
        },
    },
    "unsupported": {
        "type": "unsupported",
        "errors": [{"code": 131051, "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."}}],
        "unsupported": {"type": "poll"},
    },
    "referral": {
        "type": "text",
        "text": {"body": "Can I get more info about this?"},
        "referral": {
            "source_url": "https://fb.me/3cr4Wqqkv",
            "source_id": "120226305854810726",
            "source_type": "ad",
            "body": "Summer sale: 40% off everything",
            "headline": "Chat with us",
            "media_type": "image",
            "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.png",
            "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO",
        },
    },
    "reply": {
        "type": "text",
        "text": {"body": "Yes, that one"},
        "context": {"from": DISPLAY_PHONE, "id": BIZ_WAMID},
    },
    "forwarded": {
        "type": "text",
        "text": {"body": "Look at this"},
        "context": {"forwarded": True, "frequently_forwarded": True},
    },
    "reaction": {
        "type": "reaction",
        "reaction": {"message_id": BIZ_WAMID, "emoji": "\U0001f600"},
    },
    "reaction_removed": {
        "type": "reaction",
        "reaction": {"message_id": BIZ_WAMID},
    },
    "edit": {
        "type": "edit",
        "edit": {
            "original_message_id": wamid(1),
            "message": {"type": "text", "text": {"body": "Does it come in another colour?"}},
        },
    },
    "revoke": {
        "type": "revoke",
        "revoke": {"original_message_id": wamid(1)},
    },
    "future_type": {
        "type": "hologram",
        "hologram": {"id": "99", "depth": 3},
    },
}


def message(kind: str, n: int = 1, *, sender: str | None = WA_ID,
            user_id: str | None = None, ts: str = TS) -> dict[str, Any]:
    item = copy.deepcopy(MESSAGES[kind])
    item["id"] = wamid(n)
    item["timestamp"] = ts
    if sender:
        item["from"] = sender
    if user_id:
        item["from_user_id"] = user_id
    return item


def envelope(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": WABA_ID, "changes": [{"value": value, "field": field} for value in values]}
        ],
    }


def inbound(*messages: dict[str, Any], contacts: list[dict[str, Any]] | None = None,
            phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    return envelope({
        "messaging_product": "whatsapp",
        "metadata": metadata(phone_number_id),
        "contacts": contacts if contacts is not None else [contact()],
        "messages": list(messages),
    })


def status(name: str, target: str = BIZ_WAMID, *, ts: str = TS,
           recipient: str | None = WA_ID, user_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": target, "status": name, "timestamp": ts}
    if recipient:
        item["recipient_id"] = recipient
    if user_id:
        item["recipient_user_id"] = user_id
    if name in ("sent", "delivered", "read"):
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular",
                           "category": "utility"}
    if name == "sent":
        item["conversation"] = {"id": "8ab3a74eb0c4bb97ec7a0f1f3bfb7d43",
                                "expiration_timestamp": "1744430896",
                                "origin": {"type": "utility"}}
    if name == "failed":
        item["errors"] = [{
            "code": 131026, "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Message Undeliverable."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }]
    return item


def statuses(
    *items: dict[str, Any], contacts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "statuses": list(items),
    }
    if contacts:
        value["contacts"] = contacts
    return envelope(value)


def echoes(*messages: dict[str, Any]) -> dict[str, Any]:
    return envelope(
        {"messaging_product": "whatsapp", "metadata": metadata(), "message_echoes": list(messages)},
        field="smb_message_echoes",
    )


def echo(n: int = 1, *, to: str = WA_ID, text: str = "Your order shipped today") -> dict[str, Any]:
    return {"from": DISPLAY_PHONE, "to": to, "id": f"wamid.ECHO{n:06d}", "timestamp": TS,
            "type": "text", "text": {"body": text}}


def dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def every_type() -> dict[str, Any]:
    """One batched payload with every documented message type, plus statuses."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [contact()],
        "messages": [message(kind, n) for n, kind in enumerate(MESSAGES, start=100)],
        "statuses": [status(s, wamid(900 + i)) for i, s in
                     enumerate(["sent", "delivered", "read", "played", "failed"])],
    }
    return envelope(value)

