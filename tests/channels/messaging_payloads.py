"""Messenger and Instagram webhook bodies shaped like Meta's documented examples.

Each builder returns one ``entry[].messaging[]`` item as the Messenger
Platform's webhook reference shows it (messages, message_echoes,
message_edits, message_reactions, messaging_postbacks, messaging_referrals,
message_deliveries, message_reads) and as the Instagram Platform's examples
show it (messaging_seen with ``read.mid``, ``is_deleted`` unsends, story
replies). `body` wraps items in ``{"object": ..., "entry": [...]}``. The ids
and timestamps are the documentation's own example values.
"""

from __future__ import annotations

import json
from typing import Any

PAGE_ID = "682498302938465"
IG_ID = "17841405822304914"
PSID = "1254459154682919"
IGSID = "1234567890123456"
TS = 1458692752478
MID = "mid.1457764197618:41d102a3e1ae206a38"
REPLY_MID = "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"
DELIVERED_MID = "mid.1458668856218:ed81099e15d3f4f233"
WATERMARK = 1458668856253


def _item(payload_key: str, payload: Any, *, sender: str = PSID, recipient: str = PAGE_ID,
          ts: int | None = TS) -> dict[str, Any]:
    item: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": recipient}}
    if ts is not None:
        item["timestamp"] = ts
    item[payload_key] = payload
    return item


def text(mid: str = MID, body: str = "hello, world!", **kw: Any) -> dict[str, Any]:
    return _item("message", {"mid": mid, "text": body,
                             "quick_reply": {"payload": "<DEVELOPER_DEFINED_PAYLOAD>"}}, **kw)


def reply(mid: str = "m_1457764197618:41d102a3e1ae206a38", to: str = REPLY_MID) -> dict[str, Any]:
    return _item("message", {"mid": mid, "text": "hello, world!",
                             "reply_to": {"mid": to, "is_self_reply": False}})


def attachments(mid: str = "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c") -> dict[str, Any]:
    return _item("message", {"mid": mid, "attachments": [
        {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/photo.jpg?x=1"}},
        {"type": "video", "payload": {"url": "https://video.xx.fbcdn.net/v/clip.mp4"}},
        {"type": "audio", "payload": {"url": "https://cdn.fbsbx.com/v/audioclip.mp4"}},
        {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/invoice.pdf"}},
    ]}, ts=1518479195308)


def location(mid: str = "mid.location1") -> dict[str, Any]:
    return _item("message", {"mid": mid, "attachments": [
        {"type": "location", "title": "Pinned Location",
         "url": "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps",
         "payload": {"coordinates": {"lat": 47.3769, "long": 8.5417}}}]})


def fallback(mid: str = "mid.fallback1") -> dict[str, Any]:
    return _item("message", {"mid": mid, "attachments": [
        {"type": "fallback", "payload": {"url": "https://www.example.com/product",
                                         "title": "Product page"}}]})


def template_echo(mid: str = "mid.template1") -> dict[str, Any]:
    return _item("message", {"is_echo": True, "app_id": 1517776481860111,
                             "metadata": "<DEVELOPER_DEFINED_METADATA_STRING>", "mid": mid,
                             "attachments": [{"type": "template", "payload": {
                                 "template_type": "button", "buttons": [
                                     {"type": "postback", "title": "Start",
                                      "payload": "START"}]}}]},
                 sender=PAGE_ID, recipient=PSID, ts=1457764197627)


def echo(mid: str = "mid.echo1", body: str = "Your parcel left our warehouse.",
         ts: int = 1457764197627) -> dict[str, Any]:
    return _item("message", {"is_echo": True, "app_id": 1517776481860111,
                             "metadata": "<DEVELOPER_DEFINED_METADATA_STRING>", "mid": mid,
                             "text": body}, sender=PAGE_ID, recipient=PSID, ts=ts)


def edit(mid: str = MID, new: str = "hello, edited world", count: int = 1) -> dict[str, Any]:
    return _item("message_edit", {"mid": mid, "text": new, "num_edit": count},
                 ts=1458668856463)


def reaction(mid: str = MID, action: str = "react") -> dict[str, Any]:
    payload = {"reaction": "love", "emoji": "\u2764\ufe0f", "action": action, "mid": mid}
    return _item("reaction", payload, ts=1458668856463 + (1 if action == "unreact" else 0))


def postback(mid: str = "m_postback1") -> dict[str, Any]:
    return _item("postback", {"mid": mid, "title": "Get Started", "payload": "GET_STARTED",
                              "referral": {"ref": "spring-sale", "source": "SHORTLINK",
                                           "type": "OPEN_THREAD"}}, ts=1527459824)


def referral() -> dict[str, Any]:
    return _item("referral", {"ref": "spring-sale", "ad_id": "6045246247433",
                              "source": "ADS", "type": "OPEN_THREAD",
                              "ads_context_data": {"ad_title": "Spring sale",
                                                   "post_id": "6045246247433"}})


def delivery(mids: list[str] | None = None, watermark: int = WATERMARK) -> dict[str, Any]:
    payload: dict[str, Any] = {"watermark": watermark}
    if mids is not None:
        payload["mids"] = mids
    return _item("delivery", payload, ts=None)


def read(watermark: int = WATERMARK) -> dict[str, Any]:
    return _item("read", {"watermark": watermark}, ts=1458668856463)


def optin() -> dict[str, Any]:
    return _item("optin", {"type": "notification_messages", "payload": "ADDITIONAL-INFO",
                           "notification_messages_token": "TOKEN-FOR-MESSAGES"})


# -- Instagram ---------------------------------------------------------------------------

def ig_text(mid: str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", body: str = "Hi there"
            ) -> dict[str, Any]:
    return _item("message", {"mid": mid, "text": body}, sender=IGSID, recipient=IG_ID)


def ig_echo(mid: str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQyZWNobw", ts: int = TS
            ) -> dict[str, Any]:
    return _item("message", {"mid": mid, "text": "Thanks for writing", "is_echo": True},
                 sender=IG_ID, recipient=IGSID, ts=ts)


def ig_story_reply(mid: str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQzc3Rvcnk"
                   ) -> dict[str, Any]:
    return _item("message", {"mid": mid, "text": "Love this!", "reply_to": {"story": {
        "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1", "id": "1797"}}},
        sender=IGSID, recipient=IG_ID)


def ig_deleted(mid: str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx") -> dict[str, Any]:
    return _item("message", {"mid": mid, "is_deleted": True}, sender=IGSID, recipient=IG_ID)


def ig_unsupported(mid: str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQ0dW5z"
                   ) -> dict[str, Any]:
    return _item("message", {"mid": mid, "is_unsupported": True}, sender=IGSID,
                 recipient=IG_ID)


def ig_seen(mid: str) -> dict[str, Any]:
    return _item("read", {"mid": mid}, sender=IGSID, recipient=IG_ID)


def body(*items: dict[str, Any], obj: str = "page", entry_id: str = PAGE_ID) -> bytes:
    return json.dumps({"object": obj, "entry": [
        {"id": entry_id, "time": 1518479195594, "messaging": list(items)}]}).encode()


def ig_body(*items: dict[str, Any]) -> bytes:
    return body(*items, obj="instagram", entry_id=IG_ID)


def every_type() -> list[dict[str, Any]]:
    """One item of each documented Messenger kind (for fuzzing)."""
    return [text(), reply(), attachments(), location(), fallback(), template_echo(), echo(),
            edit(), reaction(), postback(), referral(), delivery([DELIVERED_MID]), read(),
            optin()]


def every_instagram_type() -> list[dict[str, Any]]:
    return [ig_text(), ig_echo(), ig_story_reply(), ig_deleted(), ig_unsupported(),
            ig_seen("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQyZWNobw")]
