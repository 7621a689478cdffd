"""The tenancy part of the storage conformance suite (`omnicx.testing.StoreConformance`).

Kept apart from the rest of the suite because it is about one promise: a
store serving several tenants behaves, for each of them, exactly like a
store holding only that tenant. `StoreConformance` inherits these tests, so
every backend runs them; a store without ``for_tenant`` (one that cannot
host tenants, see `omnicx._tenancy.TenantStore`) skips them.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import random
import threading
from collections.abc import Callable
from typing import Any, ClassVar, cast

import pytest

from ._errors import ConfigurationError, NotFoundError, TenantError
from ._history import History
from ._models import Address, Contact
from ._tenancy import TenantStore
from .storage import Store

__all__ = ["TenancyConformance"]

_T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
_KEY = bytes(range(32))
_NOW_FIELDS = frozenset({"created_at", "received_at", "erased_at", "at", "unmerged_at",
                         "merged_at", "exported_at"})
_examples = itertools.count()  # fresh tenant names for every generated example


def _tenants(store: Store) -> TenantStore:
    if not isinstance(store, TenantStore):
        pytest.skip(f"{type(store).__name__} cannot host tenants (no for_tenant)")
    return store


def _visitor(name: str) -> Address:
    return Address(kind="webchat", value=f"test-site/{name}")


def _without_times(value: Any) -> Any:
    """An export line without the times that say when it was written (not what)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in _NOW_FIELDS}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def view(history: History) -> dict[str, Any]:
    """Everything a tenant's history shows through its read API, without "now" times."""
    contacts = sorted(history.contacts, key=lambda c: c.id)
    timelines = {c.id: [(i.id, i.external_id, i.text, str(i.channel), str(i.direction),
                         i.occurred_at, i.contact_id, i.conversation_id, i.erased)
                        for i in history.timeline(c, limit=1000).items] for c in contacts}
    exported = io.StringIO()
    history.export(None, exported)
    lines = [json.loads(line) for line in exported.getvalue().splitlines()]
    # Every exported contact names this history's tenant; the rest must be equal.
    assert {line.pop("tenant") for line in lines if line["type"] == "contact"} <= {history.tenant}
    changes, cursor = [], None
    while True:
        page = history.changes(after=cursor, limit=50)
        changes += [(c.id, c.kind, c.contact_id, c.interaction_id, _without_times(dict(c.data)))
                    for c in page.items]
        if not page.items:
            break
        cursor = page.next_cursor
    report = history.kpis(since=_T0 - dt.timedelta(days=1), until=_T0 + dt.timedelta(days=1),
                          by="channel")
    return {
        "contacts": [(c.id, sorted((str(a.kind), a.value) for a in c.addresses), c.crm_id,
                      c.merged_into, c.erased, c.display_name) for c in contacts],
        "timelines": timelines,
        "gaps": [(g.kind, g.reference, g.contact_id, g.open)
                 for g in history.gaps(include_closed=True)],
        "counts": history.report(),
        "kpis": report.to_dict(),
        "verified": history.verify().ok,
        "search": sorted((h.interaction.id, h.interaction.external_id, h.interaction.text)
                         for h in history.search("says", limit=1000)),
        "changes": changes,
        "webhooks": [(w.id, w.url, w.events, w.active) for w in history.webhooks.all()],
        "deliveries": [(d.id, d.webhook_id, d.change_id, d.contact_id, d.state)
                       for d in history.webhooks.deliveries(limit=1000)],
        "export": [_without_times(line) for line in lines],
    }


class TenancyConformance:
    """Tenancy conformance tests; mixed into `omnicx.testing.StoreConformance`.

    Uses its ``store`` and ``chat`` fixtures. ``tenancy_examples`` bounds the
    generated examples of the property test (each opens four tenants).
    """

    tenancy_examples: ClassVar[int] = 20

    def test_tenants_are_disjoint_namespaces_of_one_store(self, store: Store) -> None:
        root = _tenants(store)
        a, b = root.for_tenant("brand-a"), root.for_tenant("brand-b")
        assert root.for_tenant("brand-a") is a  # one store object per tenant
        assert isinstance(a, TenantStore) and a.tenant == "brand-a"
        assert a.for_tenant(None) is root and a.for_tenant("brand-b") is b
        email = ("email", "anna@example.ch")
        ids = {}
        for scoped, created in ((root, _T0), (a, _T0), (b, _T0)):
            def seed(tx: Any, at: dt.datetime = created) -> int:
                (contact_id,) = tx.new_ids("contacts", 1)
                tx.insert_contacts([Contact(id=contact_id, created_at=at)])
                assert tx.insert_addresses([(*email, contact_id, None)], at) == 1
                tx.set_cursor("mailbox", "uid-7", at)
                return int(contact_id)
            ids[scoped] = scoped.atomic(seed)
        for scoped in (root, a, b):
            with scoped.reading() as tx:
                owner = tx.owners([email])[email]
                assert owner.contact_id == ids[scoped]
                assert [c.id for c in tx.contacts()] == [ids[scoped]]
                assert tx.cursor("mailbox") == "uid-7"
        with a.reading() as tx:
            assert tx.cursor("other") is None
        with pytest.raises(ConfigurationError):
            root.for_tenant("Brand A")  # not a tenant name: a path or identifier risk

    def test_the_same_address_in_two_tenants_makes_two_contacts(
            self, store: Store, chat: Any) -> None:
        _tenants(store)
        a = History(store, tenant="brand-a", key=_KEY)
        b = History(store, tenant="brand-b", key=_KEY)
        default = History(store, key=_KEY)
        for history, text in ((a, "parcel from brand A?"), (b, "invoice of brand B?")):
            body, headers = chat.message("m1", email="Anna@Example.ch", text=text, at=_T0)
            assert history.receive(chat.channel, body=body, headers=headers).stored == 1
        found_a, found_b = a.contacts.find("anna@example.ch"), b.contacts.find("anna@example.ch")
        assert found_a is not None and found_b is not None
        assert (found_a.tenant, found_b.tenant) == ("brand-a", "brand-b")
        assert [i.text for i in a.timeline(found_a).items] == ["parcel from brand A?"]
        assert [i.text for i in b.timeline(found_b).items] == ["invoice of brand B?"]
        assert default.contacts.find("anna@example.ch") is None and list(default.contacts) == []
        assert a.tenant == "brand-a" and default.tenant is None
        # The blind index is per tenant: one person's address is not linkable across them.
        stored = {}
        for name in ("brand-a", "brand-b"):
            with _tenants(store).for_tenant(name).reading() as tx:
                stored[name] = {addr.value for c in tx.contacts() for addr in c.addresses}
        assert stored["brand-a"] and not stored["brand-a"] & stored["brand-b"]
        assert "anna@example.ch" not in stored["brand-a"] | stored["brand-b"]
        assert a.verify().ok and b.verify().ok
        # Search indexes are per tenant too (with a key: keyed hashes under each tenant's key).
        assert [h.interaction.text for h in a.search("parcel")] == ["parcel from brand A?"]
        assert a.search("invoice") == [] and default.search("parcel") == []
        with pytest.raises(TenantError):
            a.search("invoice", contact=found_b)

    def test_nothing_crosses_a_tenant(self, store: Store, chat: Any) -> None:
        _tenants(store)
        a, b = History(store, tenant="brand-a"), History(store, tenant="brand-b")
        for history in (a, b):
            for ext, visitor in (("m1", "anna"), ("m2", "bob")):
                body, headers = chat.message(ext, visitor=visitor, at=_T0)
                history.receive(chat.channel, body=body, headers=headers)
        anna_a, bob_a = a.contacts.find(_visitor("anna")), a.contacts.find(_visitor("bob"))
        anna_b = b.contacts.find(_visitor("anna"))
        assert anna_a is not None and bob_a is not None and anna_b is not None
        refused: list[Callable[[], object]] = [
            lambda: a.contacts.merge(anna_a, anna_b),
            lambda: a.contacts.merge(anna_b, bob_a),
            lambda: a.contacts.unmerge(anna_a, anna_b),
            lambda: a.contacts.link(anna_b, crm_id="0031x"),
            lambda: a.timeline(anna_b),
            lambda: a.erase(anna_b),
            lambda: a.export(anna_b, io.StringIO()),
            lambda: a.record(channel="phone", direction="inbound", contact=anna_b, text="hi"),
        ]
        for attempt in refused:
            with pytest.raises(TenantError):
                attempt()
        assert b.contacts.get(anna_b.id).merged_into is None
        assert b.contacts.get(anna_b.id).crm_id is None
        # Ids are per tenant: the same number names a contact of each tenant.
        assert a.contacts.merge(anna_a.id, bob_a.id).id == anna_a.id
        assert [c.merged_into for c in b.contacts] == [None, None]
        assert len(a.timeline(anna_a).items) == 2 and len(b.timeline(anna_b).items) == 1

    def test_each_tenant_sees_what_a_store_of_its_own_would_show(
            self, store: Store, chat: Any) -> None:
        hypothesis = pytest.importorskip("hypothesis")
        st = pytest.importorskip("hypothesis.strategies")
        root = _tenants(store)
        people = st.sampled_from(["anna", "bob", "carla"])
        message = st.tuples(st.just("message"), st.integers(0, 1), st.integers(0, 5), people,
                            st.sampled_from([None, "anna@example.ch", "bob@example.ch"]),
                            st.integers(0, 300))
        pair = st.tuples(st.sampled_from(["merge", "unmerge"]), st.integers(0, 1), people,
                         people)
        single = st.tuples(st.sampled_from(["link", "erase"]), st.integers(0, 1), people)
        webhook = st.tuples(st.just("webhook"), st.integers(0, 1))
        operations = st.lists(st.one_of(message, message, pair, single, webhook), min_size=4,
                              max_size=16)

        def check(ops: list[tuple[Any, ...]]) -> None:
            n = next(_examples)
            shared = [History(root, tenant=f"p{n}-a", key=_KEY),
                      History(root, tenant=f"p{n}-b", key=_KEY)]
            alone = [History(root, tenant=f"p{n}-alone-a", key=_KEY),
                     History(root, tenant=f"p{n}-alone-b", key=_KEY)]
            try:
                for op in ops:
                    tenant = op[1]
                    outcomes = [_apply(h, op, chat) for h in (shared[tenant], alone[tenant])]
                    assert outcomes[0] == outcomes[1], op
                for tenant in (0, 1):
                    assert view(shared[tenant]) == view(alone[tenant])
            finally:
                for history in (*shared, *alone):
                    history.close()

        # hypothesis is imported lazily (users of the suite may lack it), so its
        # decorators are applied as calls.
        settings = hypothesis.settings(max_examples=self.tenancy_examples, deadline=None,
                                       suppress_health_check=list(hypothesis.HealthCheck))
        cast(Callable[[], None], settings(hypothesis.given(operations)(check)))()

    def test_two_tenants_writing_at_once(self, store: Store, chat: Any) -> None:
        _tenants(store)
        tenants = ("brand-a", "brand-b")
        histories = {t: History(store, tenant=t) for t in tenants}
        payloads = {t: [chat.message(f"m{n}", visitor=f"v{n % 3}", email=f"p{n % 3}@example.ch",
                                     text=f"{t} {n}", at=_T0 + dt.timedelta(minutes=n))
                        for n in range(24)] for t in tenants}
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def deliver(tenant: str, seed: int) -> None:
            order = list(range(24))
            random.Random(seed).shuffle(order)
            start.wait()
            try:
                for index in order:  # both writers of a tenant deliver every payload
                    body, headers = payloads[tenant][index]
                    histories[tenant].receive(chat.channel, body=body, headers=headers)
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=deliver, args=(t, seed))
                   for seed, t in enumerate(tenants * 2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        for tenant, history in histories.items():
            contacts = list(history.contacts)
            assert len(contacts) == 3
            texts = sorted(i.text or "" for c in contacts
                           for i in history.timeline(c, limit=100).items)
            assert texts == sorted(f"{tenant} {n}" for n in range(24))
            assert history.verify().ok


def _apply(history: History, op: tuple[Any, ...], chat: Any) -> Any:
    """Run one generated operation; return what a caller would see of it."""
    kind = op[0]
    try:
        if kind == "message":
            _, _, number, visitor, email, minute = op
            body, headers = chat.message(f"m{number}", visitor=visitor, email=email,
                                         text=f"{visitor} says {minute}",
                                         at=_T0 + dt.timedelta(minutes=minute))
            receipt = history.receive(chat.channel, body=body, headers=headers)
            return receipt.stored, receipt.duplicates, receipt.gaps_opened
        if kind == "webhook":  # deliveries of later changes go to the outbox of this tenant
            return history.webhooks.add("https://crm.example.ch/omnicx").id
        maybe = [history.contacts.find(_visitor(name)) for name in op[2:]]
        found = [c for c in maybe if c is not None]
        if len(found) < len(maybe):
            return "unknown"
        if kind == "merge":
            return history.contacts.merge(found[0], found[1]).id
        if kind == "unmerge":
            return [c.id for c in history.contacts.unmerge(found[0], found[1])]
        if kind == "link":
            return history.contacts.link(found[0], crm_id=f"crm-{op[2]}").crm_id
        return history.erase(found[0])
    except (ConfigurationError, NotFoundError) as exc:
        return type(exc).__name__, str(exc)
