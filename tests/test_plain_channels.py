"""Plain strings work wherever a `Channel` does: adapters, filters, send.

A user's first adapter says ``channel = "phone"``; omnicx read ``.value`` of
it deep inside and failed with ``'str' object has no attribute 'value'``.
The adapter below uses nothing but strings, and goes through every public
path that takes an adapter or a channel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping, Sequence

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicx
from omnicx import Address, MessageEvent, Outgoing, SendResult
from omnicx._adapters import adapter_channel, channel_names
from omnicx.channels import Authenticated

AT = dt.datetime(2026, 11, 2, 9, 14, tzinfo=dt.UTC)


class CallLog:
    """A CTI system's call records: one JSON object per call, no signature."""

    def __init__(self, channel: str = "phone", account: str = "cti-zurich") -> None:
        self.channel = channel
        self.account = account
        self.sent: list[Outgoing] = []

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        return None

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[MessageEvent]:
        call = json.loads(body)
        return [MessageEvent(channel=self.channel, account=self.account,
                             external_id=call["id"], direction="inbound", kind="call",
                             contact=(Address(kind="phone", value=call["from"]),),
                             occurred_at=AT, text=call["note"])]

    def send(self, message: Outgoing) -> SendResult:
        self.sent.append(message)
        return SendResult(external_id=f"sms-{len(self.sent)}")


def _call(number: int) -> bytes:
    return json.dumps({"id": f"call-{number}", "from": "+41 79 123 45 67",
                       "note": f"call number {number}"}).encode()


@pytest.fixture
def history() -> omnicx.History:
    return omnicx.open(":memory:", key=b"k" * 32)


@pytest.mark.parametrize("name", ["phone", "Phone"])
def test_a_string_channel_receives_filters_and_sends(history: omnicx.History,
                                                     name: str) -> None:
    calls = CallLog(name)
    receipt = history.receive(calls, body=_call(1))
    assert receipt.stored == 1 and receipt.interactions[0].channel is omnicx.Channel.PHONE
    assert history.receive_batch(calls, [_call(2), _call(1)]).duplicates == 1
    contact = history.contacts.find("+41791234567")
    assert contact is not None
    for channels in ("phone", {"Phone"}, [omnicx.Channel.PHONE]):
        page = history.timeline(contact, channels=channels)
        assert [i.external_id for i in page.items] == ["call-2", "call-1"]
    assert history.timeline(contact, channels={"email"}).items == ()
    sent = history.send(calls, to=contact, text="We called you back.")
    assert (sent.channel, sent.external_id, sent.status) == ("phone", "sms-1", "sent")
    assert calls.sent[0].to == Address(kind="phone", value="+41791234567")


def test_a_string_channel_is_quarantined_and_replayed(history: omnicx.History) -> None:
    calls = CallLog()
    with pytest.raises(omnicx.PayloadError) as raised:
        history.receive(calls, body=b'{"id": "call-9"}')  # no "from": the parser fails
    assert raised.value.channel == "phone"
    (kept,) = history.quarantine()
    assert (kept.channel, kept.account) == ("phone", "cti-zurich")

    class FixedCallLog(CallLog):
        def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[MessageEvent]:
            return super().parse(json.dumps({"from": "+41791234567", "note": "fixed",
                                             **json.loads(body)}).encode(), headers)

    assert history.replay(kept.id, FixedCallLog()).stored == 1
    assert history.quarantine() == []


def test_an_unknown_string_channel_is_kept_as_given(history: omnicx.History) -> None:
    pager = CallLog("pager", account="on-call")
    (stored,) = history.receive(pager, body=_call(1)).interactions
    assert stored.channel == "pager"
    assert history.timeline(stored.contact_id, channels={"pager"}).items == (stored,)


def test_the_webhook_app_routes_a_string_channel(history: omnicx.History) -> None:
    # Served over HTTP, an unsigned adapter must be wrapped with a credential.
    calls = Authenticated(adapter=CallLog("Phone"), bearer_token="cti-token")
    app = omnicx.webhook_app(history, [calls])

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/phone/cti-zurich", content=_call(1),
                                     headers=calls.sign(_call(1)))

    response = asyncio.run(post())
    assert response.status_code == 200, response.text
    assert history.contacts.find("+41791234567") is not None
    with pytest.raises(omnicx.ConfigurationError, match="phone/cti-zurich accepts unsigned"):
        omnicx.webhook_app(history, [CallLog("Phone")])


@pytest.mark.parametrize("bad", ["", "  ", None, 7])
def test_a_channel_that_names_nothing_is_a_configuration_error(
        history: omnicx.History, bad: object) -> None:
    calls = CallLog()
    calls.channel = bad  # type: ignore[assignment]
    with pytest.raises(omnicx.ConfigurationError, match=r"CallLog\.channel"):
        history.receive(calls, body=_call(1))
    with pytest.raises(omnicx.ConfigurationError, match="channel"):
        history.timeline(1, channels=[bad])  # type: ignore[list-item]
    assert history.report()["raw_payloads"] == {}  # refused before anything was archived


@given(st.sampled_from(list(omnicx.Channel)), st.text(" \t", max_size=2),
       st.text(" \t", max_size=2), st.booleans())
def test_a_known_channel_is_one_however_it_is_written(channel: omnicx.Channel, before: str,
                                                      after: str, upper: bool) -> None:
    written = f"{before}{channel.value.upper() if upper else channel.value}{after}"
    assert channel_names([written]) == channel_names(written) == frozenset({channel.value})
    assert adapter_channel(CallLog(written)) is channel


@given(st.text(min_size=1).filter(lambda s: s.strip() != ""))
def test_any_other_name_is_kept_stripped(name: str) -> None:
    (stored,) = channel_names([name]) or ()
    assert stored == omnicx.Channel(name.strip()).value
    assert stored.lower() in {c.value for c in omnicx.Channel} or stored == name.strip()


def test_search_filters_by_channel_names_too(history: omnicx.History) -> None:
    history.receive(CallLog(), body=_call(1))
    for channels in ({"Phone"}, "phone", [omnicx.Channel.PHONE]):
        (hit,) = history.search("number", channels=channels)
        assert hit.interaction.external_id == "call-1"
    assert history.search("number", channels={"email"}) == []
