"""Telegram Bot API ``Update`` objects built from the Bot API reference's field tables.

The Bot API documents objects field by field (Update, Message, User, Chat,
PhotoSize, Document, Voice, Video, VideoNote, Audio, Sticker, Location,
Venue, Contact, CallbackQuery, ChatMemberUpdated) rather than by example
bodies; every builder here uses only documented fields with the types the
reference gives. The bot token has the documented shape
(``123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11``).
"""

from __future__ import annotations

import json
from typing import Any

BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
BOT_ID = 123456
USER_ID = 1111111
CHAT_ID = USER_ID  # a private chat's id is the user's id
DATE = 1441645532
SECRET = "s3cr3t-Path_token"


def user(user_id: int = USER_ID, first: str = "Anna", last: str | None = "Muster",
         **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first}
    if last:
        found["last_name"] = last
    found.update({"username": "anna_muster", "language_code": "de"}, **extra)
    return found


def bot() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "Support", "username": "acme_bot"}


def private_chat(chat_id: int = CHAT_ID) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Anna", "last_name": "Muster",
            "username": "anna_muster", "type": "private"}


def message(message_id: int = 1365, *, sender: dict[str, Any] | None = None,
            chat: dict[str, Any] | None = None, date: int = DATE, **content: Any
            ) -> dict[str, Any]:
    found: dict[str, Any] = {"message_id": message_id, "from": sender or user(),
                             "chat": chat or private_chat(), "date": date}
    found.update(content)
    return found


def photo_sizes() -> list[dict[str, Any]]:
    return [
        {"file_id": "AgADBAADbqcxG-small", "file_unique_id": "AQADbqcxGw", "file_size": 1437,
         "width": 90, "height": 67},
        {"file_id": "AgADBAADbqcxG-large", "file_unique_id": "AQADbqcxG3", "file_size": 97365,
         "width": 1280, "height": 960},
        {"file_id": "AgADBAADbqcxG-medium", "file_unique_id": "AQADbqcxG2", "file_size": 21045,
         "width": 320, "height": 240},
    ]


CONTENT: dict[str, dict[str, Any]] = {
    "text": {"text": "Hello, my parcel has not arrived"},
    "photo": {"photo": photo_sizes(), "caption": "The box was broken"},
    "document": {"document": {"file_name": "invoice-4711.pdf", "mime_type": "application/pdf",
                              "file_id": "BQADBAADdocument", "file_unique_id": "AgADdoc",
                              "file_size": 48213}, "caption": "My invoice"},
    "voice": {"voice": {"file_id": "AwADBAADvoice", "file_unique_id": "AgADvoice",
                        "duration": 7, "mime_type": "audio/ogg", "file_size": 23040}},
    "video": {"video": {"file_id": "BAADBAADvideo", "file_unique_id": "AgADvideo",
                        "width": 640, "height": 360, "duration": 12, "file_name": "box.mp4",
                        "mime_type": "video/mp4", "file_size": 1048576}},
    "video_note": {"video_note": {"file_id": "DQADBAADnote", "file_unique_id": "AgADnote",
                                  "length": 240, "duration": 5, "file_size": 301234}},
    "audio": {"audio": {"file_id": "CQADBAADaudio", "file_unique_id": "AgADaudio",
                        "duration": 183, "performer": "Anna", "title": "Complaint",
                        "file_name": "complaint.mp3", "mime_type": "audio/mpeg",
                        "file_size": 2930000}},
    "sticker": {"sticker": {"file_id": "CAADAgADsticker", "file_unique_id": "AgADstk",
                            "type": "regular", "width": 512, "height": 512,
                            "is_animated": False, "is_video": False, "emoji": "\U0001F44D",
                            "set_name": "HotCherry", "file_size": 25000}},
    "location": {"location": {"latitude": 47.376887, "longitude": 8.541694}},
    "venue": {"venue": {"location": {"latitude": 47.3665, "longitude": 8.5453},
                        "title": "Acme Store Zurich", "address": "Seefeldstrasse 1, Zurich"}},
    "contact": {"contact": {"phone_number": "41791234567", "first_name": "Anna",
                            "last_name": "Muster", "user_id": USER_ID}},
    "poll": {"poll": {"id": "5345", "question": "Was the delivery on time?", "options": [
        {"persistent_id": "0", "text": "yes", "voter_count": 0},
        {"persistent_id": "1", "text": "no", "voter_count": 0}],
        "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
        "type": "regular", "allows_multiple_answers": False, "allows_revoting": True,
        "members_only": False}},
}


def update(update_id: int = 10000, **kind: Any) -> dict[str, Any]:
    return {"update_id": update_id, **kind}


def of(kind: str, message_id: int = 1365, update_id: int = 10000) -> dict[str, Any]:
    return update(update_id, message=message(message_id, **CONTENT[kind]))


def reply(message_id: int = 1366, parent: int = 1365, update_id: int = 10001
          ) -> dict[str, Any]:
    parent_message = message(parent, sender=bot(), text="How can we help?")
    return update(update_id, message=message(message_id, text="See the photo",
                                             reply_to_message=parent_message))


def edited(message_id: int = 1365, update_id: int = 10002, edit_date: int = DATE + 60
           ) -> dict[str, Any]:
    return update(update_id, edited_message=message(
        message_id, text="Hello, my parcel has still not arrived", edit_date=edit_date))


def callback(update_id: int = 10003, message_id: int = 1370) -> dict[str, Any]:
    return update(update_id, callback_query={
        "id": "4382bfdwdsb323b2d9", "from": user(), "chat_instance": "-5386411428386394081",
        "data": "rate:5", "message": message(message_id, sender=bot(), text="Rate us")})


def my_chat_member(update_id: int = 10004, old: str = "member", new: str = "kicked"
                   ) -> dict[str, Any]:
    return update(update_id, my_chat_member={
        "chat": private_chat(), "from": user(), "date": DATE + 3600,
        "old_chat_member": {"status": old, "user": bot()},
        "new_chat_member": {"status": new, "user": bot(),
                            **({"until_date": 0} if new == "kicked" else {})}})


def reaction(update_id: int = 10009, new: list[str] | None = None, message_id: int = 1365
             ) -> dict[str, Any]:
    emojis = ["\U0001F44D"] if new is None else new
    return update(update_id, message_reaction={
        "chat": private_chat(), "message_id": message_id, "user": user(), "date": DATE + 120,
        "old_reaction": [],
        "new_reaction": [{"type": "emoji", "emoji": e} for e in emojis]})


def channel_post(update_id: int = 10005) -> dict[str, Any]:
    return update(update_id, channel_post={
        "message_id": 42, "sender_chat": {"id": -1001234567890, "title": "Acme News",
                                          "type": "channel"},
        "chat": {"id": -1001234567890, "title": "Acme News", "type": "channel"},
        "date": DATE, "text": "New opening hours"})


def inline_query(update_id: int = 10006) -> dict[str, Any]:
    return update(update_id, inline_query={"id": "8413", "from": user(), "query": "parcel",
                                           "offset": ""})


def body(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def every_type() -> list[dict[str, Any]]:
    return [*(of(kind, 1365 + n, 10000 + n) for n, kind in enumerate(CONTENT)), reply(),
            edited(), callback(), my_chat_member(), reaction(), channel_post(), inline_query()]
