"""`history.contacts`: find, list, merge, un-merge and link contacts.

Merges are recorded, never destructive: the loser keeps its rows and points
at the winner (``merged_into``), so its interactions show in the winner's
timeline, and `Contacts.unmerge` restores both exactly as they were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from ._errors import ConfigurationError, NotFoundError, PayloadError
from ._identity import guess_kind, normalise_phone
from ._models import Address, Contact
from ._tenancy import check_contact
from .storage._base import Store, Transaction

__all__ = ["Contacts"]


def _address(query: Address | str, default_region: str | None) -> Address:
    if isinstance(query, Address):
        return query
    kind = guess_kind(query)
    if kind == "phone" and default_region:
        return Address(kind=kind, value=normalise_phone(query, default_region))
    return Address(kind=kind, value=query)


class Contacts:
    """The contacts of a history. Iterating yields every unmerged contact."""

    def __init__(self, store: Store, *, default_region: str | None = None,
                 key_missing: bool = False, tenant: str | None = None) -> None:
        self._store = store
        self._default_region = default_region
        self._key_missing = key_missing
        self._tenant = tenant

    def find(self, query: Address | str) -> Contact | None:
        """The contact (after merges) owning a phone number, email or `Address`.

        Phone numbers match in any common format (``+41 79 123 45 67``,
        ``0041791234567``, and ``079 123 45 67`` once the history has a
        ``default_region``); emails case-insensitively. On an encrypted
        history opened without its key, an address that is not found raises
        `ConfigurationError`: addresses are a keyed blind index there, so
        "nobody has it" could not be told.
        """
        try:
            address = _address(query, self._default_region)
        except PayloadError as exc:
            raise ConfigurationError(str(exc)) from exc
        key = (address.kind.value, address.value)
        with self._store.reading() as tx:
            owner = tx.owners([key]).get(key)
            if owner is not None:
                return tx.contact(owner.root_id)
        if self._key_missing:  # "nobody has it" would be false: we cannot look
            raise ConfigurationError(
                "this history is encrypted: finding a contact by address needs its key"
                " (key= or OMNICX_KEY); without it, name the contact by id")
        return None

    def get(self, contact_id: int) -> Contact:
        """The contact with this id (which may have been merged into another)."""
        with self._store.reading() as tx:
            found = tx.contact(contact_id)
        if found is None:
            raise NotFoundError(f"no contact #{contact_id}")
        return found

    def addresses(self, contact: Contact | int) -> tuple[Address, ...]:
        """Every address of a person: the contact's own, then its merged contacts'.

        `Contact.addresses` holds a contact's own addresses only, so that
        `unmerge` can give each contact back exactly what it had.
        """
        contact_id = _id(contact)
        with self._store.reading() as tx:
            found = _existing(tx, contact_id)
            root = found.merged_into or found.id
            group = tx.members([root])[root]
            members = [found] + [c for c in map(tx.contact, group)
                                 if c is not None and c.id != found.id]
        seen: dict[Address, None] = {}
        for member in members:
            seen.update(dict.fromkeys(member.addresses))
        return tuple(seen)

    def by_crm_id(self, crm_id: str) -> Contact | None:
        with self._store.reading() as tx:
            contact_id = tx.contact_by_crm(crm_id)
            return None if contact_id is None else tx.contact(contact_id)

    def __iter__(self) -> Iterator[Contact]:
        with self._store.reading() as tx:
            yield from tx.contacts()

    def merge(self, winner: Contact | int, loser: Contact | int, *, reason: str | None = None
              ) -> Contact:
        """Merge ``loser`` into ``winner``; return the winner.

        `TenantError` for a contact of another tenant: merges never cross one.
        """
        _same_tenant(self._tenant, winner, loser)
        winner_id, loser_id = _id(winner), _id(loser)

        def work(tx: Transaction) -> Contact:
            a, b = _existing(tx, winner_id), _existing(tx, loser_id)
            root_a, root_b = a.merged_into or a.id, b.merged_into or b.id
            if root_a == root_b:
                raise ConfigurationError(f"contacts #{a.id} and #{b.id} are already one")
            if b.merged_into is not None:
                raise ConfigurationError(f"contact #{b.id} is merged into #{b.merged_into};"
                                         f" merge #{b.merged_into} instead")
            tx.merge(root_a, b.id, dt.datetime.now(dt.UTC), reason or "manual")
            return _existing(tx, root_a)

        return self._store.atomic(work)

    def unmerge(self, winner: Contact | int, loser: Contact | int) -> tuple[Contact, Contact]:
        """Undo `merge`: both contacts stand alone again, with their own interactions."""
        _same_tenant(self._tenant, winner, loser)
        winner_id, loser_id = _id(winner), _id(loser)

        def work(tx: Transaction) -> tuple[Contact, Contact]:
            b = _existing(tx, loser_id)
            if b.merged_into != winner_id:
                raise ConfigurationError(f"contact #{loser_id} is not merged into #{winner_id}")
            tx.unmerge(winner_id, loser_id, dt.datetime.now(dt.UTC))
            return _existing(tx, winner_id), _existing(tx, loser_id)

        return self._store.atomic(work)

    def link(self, contact: Contact | int, *, crm_id: str) -> Contact:
        """Record the CRM's own id for a contact (unique across the tenant's contacts)."""
        _same_tenant(self._tenant, contact)
        contact_id = _id(contact)

        def work(tx: Transaction) -> Contact:
            other = tx.contact_by_crm(crm_id)
            if other is not None and other != contact_id:
                raise ConfigurationError(f"CRM id {crm_id!r} is already linked to #{other}")
            _existing(tx, contact_id)
            tx.link_crm(contact_id, crm_id)
            return _existing(tx, contact_id)

        return self._store.atomic(work)


def _same_tenant(tenant: str | None, *contacts: Contact | int) -> None:
    for contact in contacts:
        check_contact(contact, tenant)


def _id(contact: Contact | int) -> int:
    return contact.id if isinstance(contact, Contact) else int(contact)


def _existing(tx: Transaction, contact_id: int) -> Contact:
    found = tx.contact(contact_id)
    if found is None:
        raise NotFoundError(f"no contact #{contact_id}")
    return found
