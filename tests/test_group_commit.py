"""Group commit (`History.receive_group`): one transaction, one answer per request.

Run on all three backends. A fault-injecting store wrapper
(``faulty_store``) plays the database that refuses one row or is down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnicx
from faulty_store import FaultyStore
from omnicx import PayloadError, Receipt, SignatureError, StorageError
from omnicx.storage import MemoryStore, SQLiteStore, Store
from webchat_payloads import CHANNEL, message, signed, status


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        yield SQLiteStore(str(tmp_path / "h.db"))
    else:
        schema_fixture = request.getfixturevalue("postgres_schema")
        from omnicx.storage import PostgresStore

        url, schema = schema_fixture
        opened = PostgresStore(url, schema=schema)
        yield opened
        opened.close()


def _ids(history: omnicx.History) -> list[str]:
    contact = history.contacts.find("anna@example.com")
    if contact is None:
        return []
    return sorted(i.external_id for i in history.timeline(contact, limit=1000).items)


def test_each_request_gets_the_answer_it_would_get_alone(store: Store) -> None:
    history = omnicx.open(store)
    first, first_headers = signed(message("m1", 0))
    second, second_headers = signed(message("m2", 1))
    outcomes = history.receive_group([
        (CHANNEL, first, first_headers),
        (CHANNEL, first, first_headers),  # a redelivery inside the same group
        (CHANNEL, b"{oops", CHANNEL.sign(b"{oops")),
        (CHANNEL, second, {"X-Omnicx-Signature": "sha256=00"}),  # forged
        (CHANNEL, second, second_headers),
    ])
    ok, again, broken, forged, later = outcomes
    assert isinstance(ok, Receipt) and ok.stored == 1 and ok.duplicates == 0
    assert isinstance(again, Receipt) and (again.stored, again.duplicates) == (0, 1)
    assert isinstance(broken, PayloadError) and broken.quarantine_id is not None
    assert isinstance(forged, SignatureError)
    assert isinstance(later, Receipt) and later.stored == 1
    assert [q.body for q in history.quarantine()] == [b"{oops"]
    assert [q.id for q in history.quarantine()] == [broken.quarantine_id]
    assert _ids(history) == ["m1", "m2"]
    assert history.verify().ok


def test_a_group_is_one_transaction(store: Store) -> None:
    faulty = FaultyStore(store)
    history = omnicx.open(faulty)
    before = faulty.transactions
    requests = [(CHANNEL, *signed(message(f"m{n}", n))) for n in range(20)]
    outcomes = history.receive_group(requests)
    assert faulty.transactions - before == 1
    assert [o.stored for o in outcomes if isinstance(o, Receipt)] == [1] * 20


def test_a_payload_that_fails_alone_does_not_fail_its_neighbours(store: Store) -> None:
    faulty = FaultyStore(store)
    history = omnicx.open(faulty)
    faulty.refuse = {"poison"}
    outcomes = history.receive_group([
        (CHANNEL, *signed(message("a", 0))),
        (CHANNEL, *signed(message("poison", 1))),
        (CHANNEL, *signed(message("b", 2))),
    ])
    assert isinstance(outcomes[0], Receipt) and outcomes[0].stored == 1
    assert isinstance(outcomes[1], StorageError)
    assert isinstance(outcomes[2], Receipt) and outcomes[2].stored == 1
    assert _ids(history) == ["a", "b"]
    faulty.refuse = set()  # the provider's retry, once the database takes it
    (retry,) = history.receive_group([(CHANNEL, *signed(message("poison", 1)))])
    assert isinstance(retry, Receipt) and retry.stored == 1
    assert _ids(history) == ["a", "b", "poison"]
    assert history.verify().ok


def test_a_storage_failure_fails_only_its_transaction(store: Store) -> None:
    faulty = FaultyStore(store)
    history = omnicx.open(faulty)
    faulty.down = True
    failed = history.receive_group([(CHANNEL, *signed(message(f"x{n}", n))) for n in range(3)])
    assert all(isinstance(o, StorageError) for o in failed)
    assert _ids(history) == []
    faulty.down = False
    later = history.receive_group([(CHANNEL, *signed(message(f"x{n}", n))) for n in range(3)])
    assert [o.stored for o in later if isinstance(o, Receipt)] == [1, 1, 1]


# -- the group is the same as receiving one by one --------------------------------------------

_REQUEST = st.tuples(
    # A status may come before or after its message (a gap, then closed), in the same group.
    st.sampled_from(["ok", "ok", "status", "forged", "broken"]),
    st.integers(0, 6),  # few ids: redeliveries are common
)


def _request(kind: str, n: int) -> tuple[bytes, dict[str, str]]:
    if kind == "status":
        return signed(status(f"s{n}", f"m{n}", n + 0.5))
    body, headers = signed(message(f"m{n}", n, text=f"text {n}"))
    if kind == "forged":
        return body, {"X-Omnicx-Signature": "sha256=" + "0" * 64}
    if kind == "broken":
        broken = json.dumps({"site": "shop", "events": [{"type": "message", "id": n}]}).encode()
        return broken, CHANNEL.sign(broken)
    return body, headers


def _shape(outcome: object) -> tuple[str, int, int, int]:
    if isinstance(outcome, Receipt):
        return ("receipt", outcome.stored, outcome.duplicates, outcome.updates)
    return (type(outcome).__name__, 0, 0, 0)


def _state(history: omnicx.History) -> tuple[object, ...]:
    contact = history.contacts.find("anna@example.com")
    items = history.timeline(contact, limit=1000).items if contact else ()
    return (sorted((i.external_id, str(i.status)) for i in items),
            sorted(g.reference for g in history.gaps()),
            len(history.quarantine()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_REQUEST, min_size=1, max_size=12))
def test_a_group_answers_and_stores_what_receiving_one_by_one_does(
        requests: list[tuple[str, int]]) -> None:
    grouped = omnicx.open(":memory:")
    alone = omnicx.open(":memory:")
    payloads = [_request(kind, n) for kind, n in requests]
    group_shapes = [_shape(o) for o in grouped.receive_group(
        [(CHANNEL, body, headers) for body, headers in payloads])]
    alone_shapes = []
    for body, headers in payloads:
        try:
            alone_shapes.append(_shape(alone.receive(CHANNEL, body=body, headers=headers)))
        except (SignatureError, PayloadError) as exc:
            alone_shapes.append(_shape(exc))
    assert group_shapes == alone_shapes
    assert _state(grouped) == _state(alone)
    assert grouped.verify().ok


def test_a_status_before_its_message_in_one_group_needs_no_gap(store: Store) -> None:
    history = omnicx.open(store)
    early_status, message_a, late_message = history.receive_group([
        (CHANNEL, *signed(status("s1", "m-later", 1))),
        (CHANNEL, *signed(message("a", 0))),
        (CHANNEL, *signed(message("m-later", 2))),
    ])
    assert isinstance(early_status, Receipt) and isinstance(message_a, Receipt)
    assert isinstance(late_message, Receipt)
    assert (early_status.updates, early_status.stored) == (1, 0)
    assert (message_a.stored, late_message.stored) == (1, 1)
    assert history.gaps(include_closed=True) == []  # one transaction: the message was there
    contact = history.contacts.find("anna@example.com")
    assert contact is not None
    (later,) = [i for i in history.timeline(contact).items if i.external_id == "m-later"]
    assert later.status == "read"


def test_gaps_opened_and_closed_in_a_group_belong_to_their_own_request(store: Store) -> None:
    faulty = FaultyStore(store)
    history = omnicx.open(faulty)
    body, headers = signed(status("s0", "m-gap", 0.5))
    history.receive(CHANNEL, body=body, headers=headers)
    assert [g.reference for g in history.gaps()] == ["m-gap"]
    before = faulty.transactions
    message_b, orphan, filler = history.receive_group([
        (CHANNEL, *signed(message("b", 0))),
        (CHANNEL, *signed(status("s2", "never-sent", 1))),  # opens a gap
        (CHANNEL, *signed(message("m-gap", 2))),            # closes the earlier one
    ])
    assert faulty.transactions - before == 1  # still one commit
    assert isinstance(message_b, Receipt) and isinstance(orphan, Receipt)
    assert isinstance(filler, Receipt)
    assert (message_b.stored, message_b.gaps_opened, message_b.gaps_closed) == (1, 0, 0)
    assert (orphan.updates, orphan.gaps_opened, orphan.gaps_closed) == (1, 1, 0)
    assert (filler.stored, filler.gaps_opened, filler.gaps_closed) == (1, 0, 1)
    assert [g.reference for g in history.gaps()] == ["never-sent"]
