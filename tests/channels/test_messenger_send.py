"""Messenger and Instagram outbound (httpx.MockTransport with Meta's documented bodies),
and their history: echoes deduplicated with omnicx's own sends, watermarks, identities."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import messaging_payloads as p
import pytest
from _http_double import Recorder

import omnicx
from omnicx import (
    Address,
    ConfigurationError,
    History,
    Outgoing,
    SendError,
    Status,
    WindowClosedError,
)
from omnicx.channels import Instagram, Messenger

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
PSID = Address(kind="messenger", value=p.PSID)
SENT_MID = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXI"
ACCEPTED = {"recipient_id": p.PSID, "message_id": SENT_MID}
# Meta's documented error bodies (Messenger Platform "Common Error Codes").
OUTSIDE_WINDOW = {"error": {"message": "(#10) This message is sent outside of allowed window.",
                            "type": "OAuthException", "code": 10, "error_subcode": 2018278,
                            "fbtrace_id": "BLBz/WZt8dN"}}
UNAVAILABLE = {"error": {"message": "(#551) This person isn't available right now.",
                         "type": "OAuthException", "code": 551, "error_subcode": 1545041,
                         "fbtrace_id": "AvZcg9JVD3j"}}
RATE_LIMIT = {"error": {"message": "(#613) Calls to this api have exceeded the rate limit.",
                        "type": "OAuthException", "code": 613, "fbtrace_id": "A1b2C3"}}
BAD_TOKEN = {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                       "code": 190, "error_subcode": 1234567, "fbtrace_id": "BLBz/WZt8dN"}}


def messenger(recorder: Recorder, sleeps: list[float] | None = None,
              now: dt.datetime = NOW) -> Messenger:
    return Messenger(page_id=p.PAGE_ID, app_secret="app-secret", page_access_token="EAAG-token",
                     transport=httpx.MockTransport(recorder), clock=lambda: now,
                     sleep=(sleeps if sleeps is not None else []).append)


def outgoing(text: str | None = "Hello", last: dt.timedelta | None = dt.timedelta(hours=1),
             **options: Any) -> Outgoing:
    return Outgoing(client_id="omnicx:1", contact_id=1, to=PSID, text=text,
                    last_inbound_at=None if last is None else NOW - last, options=options)


def test_text_within_the_window_is_a_response() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    result = messenger(recorder).send(outgoing())
    assert result.external_id == SENT_MID and result.status == Status.SENT
    request = recorder.requests[0]
    assert request.url == f"https://graph.facebook.com/v23.0/{p.PAGE_ID}/messages"
    assert request.headers["authorization"] == "Bearer EAAG-token"
    assert recorder.json() == {"recipient": {"id": p.PSID}, "messaging_type": "RESPONSE",
                               "message": {"text": "Hello", "metadata": "omnicx:1"}}


def test_outside_the_window_is_refused_before_meta_is_called() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    with pytest.raises(WindowClosedError, match="HUMAN_AGENT"):
        messenger(recorder).send(outgoing(last=dt.timedelta(hours=25)))
    with pytest.raises(WindowClosedError):
        messenger(recorder).send(outgoing(last=None))
    assert recorder.requests == []


def test_human_agent_tag_for_seven_days_and_anytime_tags() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    messenger(recorder).send(outgoing(last=dt.timedelta(days=3), tag="HUMAN_AGENT"))
    assert recorder.json()["messaging_type"] == "MESSAGE_TAG"
    assert recorder.json()["tag"] == "HUMAN_AGENT"
    with pytest.raises(WindowClosedError):
        messenger(recorder).send(outgoing(last=dt.timedelta(days=8), tag="HUMAN_AGENT"))
    messenger(recorder).send(outgoing(last=None, tag="POST_PURCHASE_UPDATE"))
    assert recorder.json()["tag"] == "POST_PURCHASE_UPDATE"
    with pytest.raises(ConfigurationError):
        messenger(recorder).send(outgoing(tag="NO_SUCH_TAG"))


def test_instagram_accepts_only_human_agent() -> None:
    recorder = Recorder(httpx.Response(200, json={"recipient_id": p.IGSID,
                                                  "message_id": "aWdfZAG1faXRlbTox"}))
    ig = Instagram(instagram_id=p.IG_ID, access_token="IGAA-token",
                   transport=httpx.MockTransport(recorder), clock=lambda: NOW)
    to = Address(kind="instagram", value=p.IGSID)
    message = Outgoing(client_id="c", contact_id=1, to=to, text="Hi",
                       last_inbound_at=NOW - dt.timedelta(hours=1))
    assert ig.send(message).external_id == "aWdfZAG1faXRlbTox"
    assert recorder.requests[0].url == f"https://graph.instagram.com/v23.0/{p.IG_ID}/messages"
    with pytest.raises(ConfigurationError):
        ig.send(attrs_evolve(message, options={"tag": "POST_PURCHASE_UPDATE"}))


def attrs_evolve(message: Outgoing, **changes: Any) -> Outgoing:
    import attrs

    return attrs.evolve(message, **changes)


def test_attachment_by_url() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    result = messenger(recorder).send(outgoing(
        text=None, attachment={"type": "image", "url": "https://example.com/parcel.jpg"}))
    assert result.message_type == "image"
    assert recorder.json()["message"]["attachment"] == {
        "type": "image", "payload": {"url": "https://example.com/parcel.jpg",
                                     "is_reusable": True}}


@pytest.mark.parametrize(("body", "status", "error", "code", "retryable"), [
    (OUTSIDE_WINDOW, 400, WindowClosedError, 10, False),
    (UNAVAILABLE, 400, SendError, 551, False),
    (BAD_TOKEN, 401, SendError, 190, False),
])
def test_documented_errors_are_typed(body: dict[str, Any], status: int,
                                     error: type[SendError], code: int,
                                     retryable: bool) -> None:
    recorder = Recorder(httpx.Response(status, json=body))
    with pytest.raises(error) as info:
        messenger(recorder).send(outgoing())
    assert info.value.code == code and info.value.retryable is retryable
    assert info.value.channel == "messenger"
    assert len(recorder.requests) == 1  # permanent: not retried


def test_rate_limit_is_retried_with_a_longer_backoff() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(400, json=RATE_LIMIT), httpx.Response(200, json=ACCEPTED))
    assert messenger(recorder, sleeps).send(outgoing()).external_id == SENT_MID
    assert sleeps == [5.0] and len(recorder.requests) == 2
    always = Recorder(httpx.Response(400, json=RATE_LIMIT))
    with pytest.raises(SendError) as info:
        messenger(always, []).send(outgoing())
    assert info.value.code == 613 and info.value.retryable


# -- through the history -----------------------------------------------------------------

def receive(history: History, channel: Messenger | Instagram, body: bytes) -> omnicx.Receipt:
    return history.receive(channel, body=body, headers=channel.sign(body))


def own_echo(mid: str, ts: int, client_id: str) -> dict[str, Any]:
    item = p.echo(mid, "Your parcel left our warehouse.", ts=ts)
    item["message"]["metadata"] = client_id
    return item


def test_echo_of_our_own_send_is_a_status_and_watermarks_mark_it() -> None:
    history = omnicx.open(":memory:")
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    now = dt.datetime.now(dt.UTC)
    page = messenger(recorder, now=now)
    inbound_ts = int((now - dt.timedelta(minutes=5)).timestamp() * 1000)
    receive(history, page, p.body(p.text(ts=inbound_ts)))
    contact = history.contacts.find(PSID)
    assert contact is not None
    sent = history.send(page, to=contact, text="Your parcel left our warehouse.")
    assert sent.external_id == SENT_MID and sent.status == Status.SENT
    client_id = recorder.json()["message"]["metadata"]
    assert client_id.startswith("omnicx:")
    echo_ts = int(sent.occurred_at.timestamp() * 1000) + 1  # Meta's clock, just after ours
    receipt = receive(history, page, p.body(own_echo(SENT_MID, echo_ts, client_id)))
    assert (receipt.stored, receipt.updates) == (0, 1)
    # An echo without our metadata (another app) but with our mid: a duplicate.
    assert receive(history, page, p.body(p.echo(SENT_MID, ts=echo_ts))).duplicates == 1
    other = p.echo("mid.from-the-inbox", "Sent from the Page inbox", ts=echo_ts + 1)
    assert receive(history, page, p.body(other)).stored == 1
    # Delivery watermark after both; read watermark covers only the first.
    receive(history, page, p.body(p.delivery(None, watermark=echo_ts + 10)))
    receive(history, page, p.body(p.read(watermark=echo_ts)))
    items = {i.external_id: i for i in history.timeline(contact).items}
    assert len(items) == 3
    assert items[SENT_MID].status == Status.READ
    assert items["mid.from-the-inbox"].status == Status.DELIVERED
    assert items[p.MID].status is None  # inbound: watermarks are about what we sent
    assert history.gaps() == []
    assert history.verify().ok


def test_an_echo_that_beats_the_send_api_answer_attaches_to_the_send() -> None:
    history = omnicx.open(":memory:")
    page_holder: list[Messenger] = []

    def answer_after_the_echo(request: httpx.Request) -> httpx.Response:
        # Meta posts the echo webhook before the Send API call returns.
        client_id = json.loads(request.content)["message"]["metadata"]
        ts = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        body = p.body(own_echo(SENT_MID, ts, client_id))
        receipt = receive(history, page_holder[0], body)
        assert (receipt.stored, receipt.gaps_opened) == (0, 1)  # waits for the id
        return httpx.Response(200, json=ACCEPTED)

    page = Messenger(page_id=p.PAGE_ID, app_secret="app-secret", page_access_token="t",
                     transport=httpx.MockTransport(answer_after_the_echo))
    page_holder.append(page)
    receive(history, page, p.body(p.text(ts=int(dt.datetime.now(dt.UTC).timestamp() * 1000))))
    contact = history.contacts.find(PSID)
    assert contact is not None
    sent = history.send(page, to=contact, text="Your parcel left our warehouse.")
    items = history.timeline(contact).items
    assert [i.external_id for i in items] == [SENT_MID, p.MID]
    assert [s.external_id for s in history.statuses(sent)] == [SENT_MID, SENT_MID]
    assert history.gaps() == []
    assert history.verify().ok


def test_a_messenger_user_stays_a_contact_of_their_own() -> None:
    history = omnicx.open(":memory:")
    page = Messenger(page_id=p.PAGE_ID, app_secret="app-secret")
    ig = Instagram(instagram_id=p.IG_ID, app_secret="app-secret")
    receive(history, page, p.body(p.text()))
    receive(history, ig, p.ig_body(p.ig_text()))
    contacts = list(history.contacts)
    assert len(contacts) == 2
    kinds = sorted(str(a.kind) for c in contacts for a in c.addresses)
    assert kinds == ["instagram", "messenger"]


def test_edits_reactions_and_unsends_attach_to_the_message() -> None:
    history = omnicx.open(":memory:")
    page = Messenger(page_id=p.PAGE_ID, app_secret="app-secret")
    receive(history, page, p.body(p.text(), p.edit(), p.reaction()))
    contact = history.contacts.find(PSID)
    assert contact is not None
    (item,) = history.timeline(contact).items
    assert [str(e.kind) for e in history.events(item)] == ["edited", "reacted"]
    ig = Instagram(instagram_id=p.IG_ID, app_secret="app-secret")
    receive(history, ig, p.ig_body(p.ig_text(), p.ig_deleted()))
    ig_contact = history.contacts.find(Address(kind="instagram", value=p.IGSID))
    assert ig_contact is not None
    (ig_item,) = history.timeline(ig_contact).items
    assert [str(e.kind) for e in history.events(ig_item)] == ["revoked"]


def test_a_reply_to_an_unknown_message_is_a_gap() -> None:
    history = omnicx.open(":memory:")
    page = Messenger(page_id=p.PAGE_ID, app_secret="app-secret")
    receive(history, page, p.body(p.reply()))
    assert [g.reference for g in history.gaps()] == [p.REPLY_MID]


def test_an_echo_without_our_metadata_that_beats_the_answer_does_not_fail_the_send() -> None:
    """Instagram sends carry no client id: the echo is stored first under Meta's id."""
    history = omnicx.open(":memory:")
    holder: list[Instagram] = []
    customer = Address(kind="instagram", value=p.IGSID)

    def answer_after_the_echo(request: httpx.Request) -> httpx.Response:
        ts = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        echo = p.ig_body(p.ig_echo("aWdfZAG1faXRlbTox", ts=ts))
        assert receive(history, holder[0], echo).stored == 1
        return httpx.Response(200, json={"recipient_id": p.IGSID,
                                         "message_id": "aWdfZAG1faXRlbTox"})

    ig = Instagram(instagram_id=p.IG_ID, app_secret="app-secret", access_token="t",
                   transport=httpx.MockTransport(answer_after_the_echo))
    holder.append(ig)
    inbound = p.ig_text()
    inbound["timestamp"] = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    receive(history, ig, p.ig_body(inbound))
    contact = history.contacts.find(customer)
    assert contact is not None
    sent = history.send(ig, to=contact, text="Thanks for writing")
    assert sent.status == Status.SENT and sent.external_id.startswith("omnicx:")
    (status,) = history.statuses(sent)
    echo_row = [i for i in history.timeline(contact).items
                if i.external_id == "aWdfZAG1faXRlbTox"]
    assert status.data["stored_as"] == echo_row[0].id
    assert history.verify().ok


def test_window_for_a_contact() -> None:
    history = omnicx.open(":memory:")
    now = dt.datetime.now(dt.UTC)
    page = Messenger(page_id=p.PAGE_ID, app_secret="app-secret", clock=lambda: now)
    wrote = now - dt.timedelta(hours=30)
    receive(history, page, p.body(p.text(ts=int(wrote.timestamp() * 1000))))
    contact = history.contacts.find(PSID)
    assert contact is not None
    assert page.window_for(history, contact) is None  # 24 hours are over
    closes = page.window_for(history, contact, tag="HUMAN_AGENT")
    assert closes is not None
    assert abs((closes - (wrote + dt.timedelta(days=7))).total_seconds()) < 0.01
