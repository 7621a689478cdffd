"""Watermarks as a rule: whatever order messages, statuses and watermarks arrive in,
each outbound interaction ends at the highest status that covers it, never lower
(a message whose webhook comes after a watermark covering it gets it as well)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicx
from omnicx import (
    Address,
    Channel,
    ChannelEvent,
    MessageEvent,
    Status,
    UpdateEvent,
    WatermarkEvent,
)
from omnicx._enums import status_rank

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
CUSTOMER = (Address(kind="messenger", value="1254459154682919"),)


@attrs.define
class Replay:
    """A channel whose body names the events to produce (the rule is under test, not a format)."""

    events: dict[bytes, Sequence[ChannelEvent]] = attrs.Factory(dict)
    channel: Channel = Channel.MESSENGER
    account: str = "682498302938465"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Bodies come from the test itself."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        return self.events[body]


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("message"), st.integers(0, 5), st.integers(0, 100)),
        st.tuples(st.just("watermark"), st.sampled_from(["delivered", "read"]),
                  st.integers(0, 100)),
        st.tuples(st.just("status"), st.integers(0, 5),
                  st.sampled_from(["delivered", "read", "failed"])),
    ),
    min_size=1, max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(steps)
def test_final_status_is_the_best_that_covers_each_message(
        script: list[tuple[str, object, object]]) -> None:
    channel = Replay()
    history = omnicx.open(":memory:", key=None)
    sent_at: dict[str, int] = {}
    expected: dict[str, int] = {}
    marks: list[tuple[str, int]] = []
    statuses: list[tuple[str, str]] = []
    for number, (kind, a, b) in enumerate(script):
        body = str(number).encode()
        if kind == "message":
            mid = f"m{a}"
            sent_at.setdefault(mid, int(b))  # a redelivery keeps the first time
            event: ChannelEvent = MessageEvent(
                channel="messenger", account=channel.account, external_id=mid,
                direction="outbound", contact=CUSTOMER, occurred_at=at(int(b)),
                status=Status.SENT, thread_key="page", watermarked=True)
        elif kind == "watermark":
            marks.append((str(a), int(b)))
            event = WatermarkEvent(channel="messenger", account=channel.account,
                                   contact=CUSTOMER, status=str(a), up_to=at(int(b)))
        else:
            statuses.append((f"m{a}", str(b)))
            event = UpdateEvent(channel="messenger", account=channel.account,
                                target=f"m{a}", event_id=f"status:{b}", kind="status",
                                status=str(b), contact=CUSTOMER)
        channel.events[body] = [event]
        history.receive(channel, body=body)
    # Arrival order does not matter: a message stored after a watermark that
    # covers it gets it too (webhooks come out of order).
    for status, mark in marks:
        for mid, when in sent_at.items():
            if when <= mark:
                expected[mid] = max(expected.get(mid, 10), status_rank(status))
    for mid, status in statuses:
        if mid in sent_at:
            expected[mid] = max(expected.get(mid, 10), status_rank(status))
    contact = history.contacts.find(CUSTOMER[0])
    if not sent_at:
        return
    assert contact is not None
    found = {i.external_id: status_rank(i.status) for i in history.timeline(contact, limit=100
                                                                             ).items}
    assert found == {mid: expected.get(mid, 10) for mid in sent_at}
    assert history.verify().ok
