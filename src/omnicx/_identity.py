"""Address normalisation: the rules that make one person one contact.

Two spellings of the same phone number or email address must compare equal,
or a customer splits into several contacts. The rules:

- phone numbers become E.164 (``+41791234567``) with the ``phonenumbers``
  library; a number without a country code is read in ``default_region``
  (if one is configured) and rejected otherwise, because guessing a country
  would link strangers;
- email addresses are stripped and case-folded (the local part too: no
  provider we know of treats ``Anna@`` and ``anna@`` as different people);
- a WhatsApp ``wa_id`` is a phone number without ``+`` and is stored as a
  phone address, so WhatsApp, SMS and calls from one number meet;
- every other kind is kept as given, stripped.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from ._enums import AddressKind
from ._errors import PayloadError

__all__ = ["guess_kind", "normalise", "normalise_email", "normalise_phone"]

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_SEPARATORS = re.compile(r"[\s().\-/]")
_PHONEISH = re.compile(r"\+?[0-9][0-9 ()./\-]{5,}")


@lru_cache(maxsize=65536)
def normalise_phone(value: str, default_region: str | None = None) -> str:
    """Return ``value`` as an E.164 number, or raise `PayloadError`."""
    text = value.strip()
    if _E164.fullmatch(text):
        return text
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):  # the international call prefix most of the world dials
        text = "+" + compact[2:]
    elif compact.isdigit() and default_region is None:
        # wa_id and most provider payloads: international digits without "+".
        text = "+" + compact
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise PayloadError(f"not a phone number: {value!r} ({exc})") from exc
    if not phonenumbers.is_possible_number(number):
        raise PayloadError(f"not a possible phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
