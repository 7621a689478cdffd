"""The NUL rule (`omnicx._scrub`), as properties over arbitrary events.

The conformance suite (`StoreConformance.test_nul_characters_are_stored_alike`)
checks the rule end to end on every backend; this checks the rule itself:
no U+0000 survives in a field stored as text, ``data`` is left alone, an
event without NUL is returned as it is, and scrubbing twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from omnicx._events import MessageEvent, StreamPosition, UpdateEvent, WatermarkEvent
from omnicx._models import Address, Attachment
from omnicx._scrub import NUL, REPLACEMENT, scrub, scrub_event, scrub_raw
from omnicx.storage import RawPayload

# Mostly ordinary text, with NULs and replacement characters mixed in.
text = st.text(alphabet=st.sampled_from(["a", "b", " ", "\x00", "\ufffd", "é", "\n"]),
               min_size=1, max_size=12)
opt_text = st.none() | text
# Username addresses keep their value as given, but stripped (it has no blanks here).
address = st.builds(Address, kind=st.just("username"),
                    value=st.text(alphabet=st.sampled_from(["a", "\x00", "\ufffd", "é"]),
                                  min_size=1, max_size=8),
                    name=opt_text)
attachment = st.builds(Attachment, filename=opt_text, content_type=text, sha256=opt_text,
                       ref=opt_text)
messages = st.builds(
    MessageEvent, channel=st.just("webchat"), account=text, external_id=text,
    direction=st.just("inbound"), contact=st.lists(address, min_size=1, max_size=3).map(tuple),
    contact_name=opt_text, message_type=opt_text, sender=st.none() | address,
    recipients=st.lists(address, max_size=2).map(tuple), subject=opt_text, text=opt_text,
    html=opt_text, attachments=st.lists(attachment, max_size=2).map(tuple), reply_to=opt_text,
    thread_refs=st.lists(text, max_size=2).map(tuple), thread_key=opt_text,
    data=st.dictionaries(text, text, max_size=2),
    sequence=st.none() | st.builds(StreamPosition, stream=text, number=st.integers(1, 9)))
updates = st.builds(
    UpdateEvent, channel=st.just("webchat"), account=text, target=text, event_id=text,
    kind=st.just("status"), status=st.just("read"), error=opt_text,
    contact=st.lists(address, max_size=2).map(tuple), data=st.dictionaries(text, text))

watermarks = st.builds(
    WatermarkEvent, channel=st.just("messenger"), account=text,
    contact=st.lists(address, min_size=1, max_size=2).map(tuple), status=st.just("read"),
    through=text, data=st.dictionaries(text, text, max_size=2))
events = st.one_of(messages, updates, watermarks)


def _strings(value: Any, *, skip_data: bool = True) -> list[str]:
    """Every string inside ``value`` (attrs instances, tuples), ``data`` aside."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (tuple, list)):
        return [s for item in value for s in _strings(item)]
    if attrs.has(type(value)):
        return [s for f in attrs.fields(type(value)) if not (skip_data and f.name == "data")
                for s in _strings(getattr(value, f.name))]
    return []


@given(events)
def test_no_nul_survives_in_a_text_field(
        event: MessageEvent | UpdateEvent | WatermarkEvent) -> None:
    clean = scrub_event(event)
    assert not any(NUL in s for s in _strings(clean))
    assert clean.data == event.data  # the provider's JSON, verbatim
    assert type(clean) is type(event)


@given(events)
def test_only_nul_changes(event: MessageEvent | UpdateEvent | WatermarkEvent) -> None:
    before, after = _strings(event), _strings(scrub_event(event))
    assert after == [s.replace(NUL, REPLACEMENT) for s in before]
    if not any(NUL in s for s in before):
        assert scrub_event(event) is event  # nothing built on the common path
    assert scrub_event(scrub_event(event)) == scrub_event(event)


@given(text)
def test_scrub_is_replacement(value: str) -> None:
    assert scrub(value) == value.replace("\x00", "\ufffd")
    assert len(scrub(value)) == len(value)


@given(text, st.binary(max_size=20))
def test_a_raw_payload_keeps_its_bytes(error: str, body: bytes) -> None:
    raw = RawPayload(id=1, channel="webchat", account=f"site{error}",
                     received_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                     headers={"X": f"h{error}"}, body=body + b"\x00", error=error)
    clean = scrub_raw(raw)
    assert clean.body == raw.body and clean.headers == raw.headers
    assert NUL not in clean.account and NUL not in (clean.error or "")
