from __future__ import annotations

import contextlib
import datetime as dt

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicx
from omnicx import Address, AddressKind, Channel, Status
from omnicx._enums import status_rank
from omnicx._identity import guess_kind, normalise_phone
from omnicx._models import utc


def test_unknown_enum_values_are_kept_not_rejected() -> None:
    weird = Status("deleted")
    assert weird == "deleted"
    assert weird.value == "deleted"
    assert isinstance(weird, Status)
    assert Channel("Carrier-Pigeon") == "Carrier-Pigeon"
    assert Channel("EMAIL") is Channel.EMAIL


@given(st.text(min_size=1, max_size=20))
def test_an_unknown_value_read_again_is_the_same_pseudo_member(value: str) -> None:
    # Pseudo-members are kept once made (reading millions of rows back);
    # the second lookup must give exactly what the first gave.
    first, again = Status(value), Status(value)
    assert again == first == first.value
    assert type(again) is Status
    assert again.value == value or again is Status(value.lower())


def test_the_pseudo_member_cache_is_bounded() -> None:
    from omnicx import _enums

    for n in range(_enums._PSEUDO_LIMIT + 10):
        assert Status(f"provider-status-{n}").value == f"provider-status-{n}"
    assert len(_enums._PSEUDO) <= _enums._PSEUDO_LIMIT


def test_status_only_moves_forward_along_its_ranks() -> None:
    order = ["pending", "sent", "failed", "delivered", "read", "played"]
    ranks = [status_rank(s) for s in order]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)
    assert status_rank("something-new") == -1
    assert status_rank(None) == -1


@pytest.mark.parametrize(
    "spelling",
    ["+41 79 123 45 67", "+41791234567", "0041 79 123 45 67", "41791234567",
     "+41 (79) 123-45-67", "+41.79.123.45.67"],
)
def test_phone_numbers_normalise_to_e164(spelling: str) -> None:
    assert Address(kind="phone", value=spelling).value == "+41791234567"


def test_national_numbers_need_a_region() -> None:
    assert normalise_phone("079 123 45 67", "CH") == "+41791234567"
    with pytest.raises(omnicx.PayloadError):
        Address(kind="phone", value="not a number")


def test_emails_are_case_folded_and_the_name_is_not_identity() -> None:
    a = Address(kind="email", value=" Anna.Keller@Example.CH ", name="Anna")
    b = Address(kind=AddressKind.EMAIL, value="anna.keller@example.ch")
    assert a == b
    assert hash(a) == hash(b)
    assert a.value == "anna.keller@example.ch"
    with pytest.raises(omnicx.PayloadError):
        Address(kind="email", value="no-at-sign")


def test_models_are_frozen_values() -> None:
    address = Address(kind="email", value="a@b.ch")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        address.value = "x"  # type: ignore[misc]


def test_times_become_aware_utc() -> None:
    naive = dt.datetime(2026, 1, 1, 12, 0)
    assert utc(naive).tzinfo is dt.UTC
    zurich = dt.datetime(2026, 1, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert utc(zurich) == dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert utc(zurich).tzinfo is dt.UTC


def test_guess_kind() -> None:
    assert guess_kind("a@b.ch") == AddressKind.EMAIL
    assert guess_kind("+41 79 123 45 67") == AddressKind.PHONE
    with pytest.raises(omnicx.PayloadError):
        guess_kind("hello")


# -- property-based: the identity rules ------------------------------------------------------

swiss_mobile = st.integers(min_value=0, max_value=9_999_999).map(lambda n: f"79{n:07d}")


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A Swiss mobile number and one of the ways people write it."""
    digits = draw(swiss_mobile)
    style = draw(st.sampled_from(["+41{}", "0041{}", "41{}", "+41 {} ", "+41-{}"]))
    separator = draw(st.sampled_from(["", " ", "-", "."]))
    grouped = separator.join([digits[:2], digits[2:5], digits[5:7], digits[7:]])
    return "+41" + digits, style.format(grouped)


@given(spellings())
def test_every_spelling_of_a_number_is_one_address(pair: tuple[str, str]) -> None:
    canonical, spelling = pair
    assert Address(kind="phone", value=spelling) == Address(kind="phone", value=canonical)


@given(st.emails())
def test_email_normalisation_is_idempotent_and_case_blind(email: str) -> None:
    once = Address(kind="email", value=email)
    assert Address(kind="email", value=once.value) == once
    assert Address(kind="email", value=email.upper()) == once


@given(st.text(max_size=40))
def test_phone_parsing_never_raises_anything_but_payload_error(text: str) -> None:
    with contextlib.suppress(omnicx.PayloadError):
        Address(kind="phone", value=text)


def test_a_stored_row_decodes_to_the_interaction_that_was_stored() -> None:
    from omnicx._chain import content_columns
    from omnicx._models import INTERACTION_FIELDS
    from omnicx.storage._base import RowSeal
    from omnicx.storage._sql import interaction_from_row, interaction_row

    # The decoder fills slots itself, so it must name every field there is.
    assert sorted(INTERACTION_FIELDS) == sorted(a.name for a in attrs.fields(omnicx.Interaction))
    at = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    item = omnicx.Interaction(
        id=7, contact_id=3, conversation_id=5, channel="whatsapp", account="acct",
        direction="outbound", kind="message", message_type="text", external_id="wamid.1",
        occurred_at=at, received_at=at + dt.timedelta(seconds=2),
        sender=Address(kind="phone", value="+41791234567", name="Anna"),
        recipients=(Address(kind="email", value="bob@example.com", name="Bob"),),
        subject="Parcel", text="Where is it?", html="<p>Where is it?</p>",
        attachments=(omnicx.Attachment(filename="a.pdf", content_type="application/pdf",
                                       size=3, sha256="ab" * 32),),
        reply_to="wamid.0", status=Status.READ, data={"n": [1, 2]}, raw_id=11)
    row = interaction_row(item, RowSeal(columns=content_columns(item)))[:25]
    decoded = interaction_from_row(row)
    assert decoded == item
    assert type(decoded) is omnicx.Interaction
    assert repr(decoded) == repr(item)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decoded.text = "changed"  # type: ignore[misc]


@given(st.datetimes(timezones=st.just(dt.UTC)))
def test_stored_microseconds_decode_to_the_same_instant(at: dt.datetime) -> None:
    from omnicx.storage._sql import from_us, to_us

    # from_us takes a float shortcut from 1970 until 2112 and exact arithmetic
    # elsewhere; both must give back the very microsecond that was stored.
    assert from_us(to_us(at)) == at
    assert from_us(to_us(at)).tzinfo is dt.UTC


def test_stored_microseconds_at_the_edges_of_the_float_shortcut() -> None:
    from omnicx.storage._sql import _EXACT_US, from_us, to_us

    for edge in (0, _EXACT_US - 1, _EXACT_US, -1):
        assert to_us(from_us(edge)) == edge
