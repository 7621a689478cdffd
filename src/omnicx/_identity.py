"""Address normalisation: the rules that make one person one contact.

Two spellings of the same phone number or email address must compare equal,
or a customer splits into several contacts. The rules:

- phone numbers become E.164 (``+41791234567``) with the ``phonenumbers``
  library; a number without a country code is read in the default region
  (if one is configured) and rejected otherwise, because guessing a country
  would link strangers. Digits alone (``0791234567``, ``41791234567``) are a
  national number when they are a valid one in the default region, and
  otherwise international digits without their ``+`` (as providers send
  them); an adapter whose provider documents its numbers as international
  (WhatsApp's ``wa_id``) adds the ``+`` itself, so no region can misread them;
- email addresses are stripped and case-folded (the local part too: no
  provider we know of treats ``Anna@`` and ``anna@`` as different people);
- a WhatsApp ``wa_id`` is a phone number without ``+`` and is stored as a
  phone address, so WhatsApp, SMS and calls from one number meet;
- every other kind is kept as given, stripped.

The default region is the argument of `normalise_phone` or, when that is
``None``, the one `History` sets for the duration of each call
(`regional`, a context variable): the same `Address` an adapter builds from
``079 123 45 67`` then means the same person whichever code path parsed it.
A cache of normalised addresses must therefore include `current_region` in
its key.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Protocol, TypeVar, cast

import phonenumbers

from ._enums import AddressKind
from ._errors import ConfigurationError, PayloadError

__all__ = [
    "check_region",
    "current_region",
    "guess_kind",
    "in_default_region",
    "normalise",
    "normalise_email",
    "normalise_phone",
    "regional",
]

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_SEPARATORS = re.compile(r"[\s().\-/]")
_PHONEISH = re.compile(r"\+?\(?[0-9][0-9 ()./\-]{5,}")  # "(650) 555-1234" too


_REGION: ContextVar[str | None] = ContextVar("omnicx_default_region", default=None)
F = TypeVar("F", bound=Callable[..., Any])


def check_region(region: str | None) -> str | None:
    """``region`` as a region code ``phonenumbers`` knows (``"ch"`` -> ``"CH"``), or raise."""
    if region is None:
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigurationError(
            f"not a region code: {region!r} (an ISO 3166 alpha-2 code such as 'CH' or 'US')")
    return code


def current_region() -> str | None:
    """The default region in effect (set by `regional`), or ``None``."""
    return _REGION.get()


class _Regional(Protocol):
    default_region: str | None


def in_default_region(method: F) -> F:
    """Run a method of an object with a ``default_region`` inside `regional` of it."""

    @functools.wraps(method)
    def wrapper(self: _Regional, *args: Any, **kwargs: Any) -> Any:
        with regional(self.default_region):
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


@contextmanager
def regional(region: str | None) -> Iterator[None]:
    """Read national numbers in ``region`` inside the block (``None`` changes nothing)."""
    if region is None:
        yield
        return
    token = _REGION.set(region)
    try:
        yield
    finally:
        _REGION.reset(token)


def normalise_phone(value: str, default_region: str | None = None) -> str:
    """Return ``value`` as an E.164 number, or raise `PayloadError`.

    ``default_region`` (default: `current_region`) reads national numbers.
    """
    return _normalise_phone(value, default_region or _REGION.get())


@lru_cache(maxsize=65536)
def _normalise_phone(value: str, region: str | None) -> str:
    text = value.strip()
    if _E164.fullmatch(text):
        return text
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):  # the international call prefix most of the world dials
        text = "+" + compact[2:]
    elif compact.isdigit():
        if region is not None:
            national = _parse(compact, region)
            if national is not None and phonenumbers.is_valid_number(national):
                return phonenumbers.format_number(national, phonenumbers.PhoneNumberFormat.E164)
        elif compact.startswith("0"):  # a trunk prefix: no country code starts with 0
            raise PayloadError(
                f"phone number {value!r} has no country code: write it with one (+...) or"
                " set a default region (open(default_region=...), omnicx --region,"
                " OMNICX_REGION)")
        # wa_id and most provider payloads: international digits without "+".
        text = "+" + compact
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PayloadError(f"not a phone number: {value!r} ({exc})") from exc
    if not phonenumbers.is_possible_number(number):
        raise PayloadError(f"not a possible phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def normalise_email(value: str) -> str:
    """Return ``value`` stripped and case-folded, or raise `PayloadError`."""
    text = value.strip().strip("<>").strip().casefold()
    if not _EMAIL.fullmatch(text):
        raise PayloadError(f"not an email address: {value!r}")
    return text


def normalise(kind: AddressKind | str, value: str, default_region: str | None = None) -> str:
    """Normalise ``value`` according to the rules of its ``kind``."""
    if kind == AddressKind.PHONE:
        return normalise_phone(value, default_region)
    if kind == AddressKind.EMAIL:
        return normalise_email(value)
    text = value.strip()
    if not text:
        raise PayloadError(f"empty {kind} address")
    return text


def guess_kind(text: str) -> AddressKind:
    """Tell whether free text such as a search box entry is an email or a phone."""
    stripped = text.strip()
    if "@" in stripped:
        return AddressKind.EMAIL
    if _PHONEISH.fullmatch(stripped):
        return AddressKind.PHONE
    raise PayloadError(f"cannot tell what kind of address {text!r} is; pass an Address")
