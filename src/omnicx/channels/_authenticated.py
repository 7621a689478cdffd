"""`Authenticated`: an authentication for a channel whose requests carry none.

A provider webhook is signed by the provider (WhatsApp, WebChat). A raw
RFC 822 message POSTed to ``omnicx serve`` is not: anybody who can reach the
server could write "From: CEO" into a customer's timeline. The server
therefore refuses to serve such a channel over HTTP unless it is wrapped
here, with a bearer token or an HMAC key that the sender (a mail gateway,
an MTA hook, the CRM's own relay) must present:

- ``bearer_token``: the request carries ``Authorization: Bearer <token>``;
- ``hmac_secret``: the request carries ``X-Omnicx-Signature: sha256=<hex>``,
  the HMAC-SHA256 of the raw body (as WebChat signs; see `sign`).

Both compare in constant time. Parsing, the channel name and the account
are the wrapped adapter's, so stored rows are the same as without the
wrapper.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._adapters import adapter_channel
from .._enums import Channel
from .._errors import ConfigurationError, SignatureError
from .._events import ChannelEvent
from ..typing import ChannelAdapter
from ._common import get_header, hmac_sha256_hex, require_secret, verify_hmac_sha256

__all__ = ["Authenticated"]

SIGNATURE_HEADER = "X-Omnicx-Signature"


def _one_way(instance: Authenticated, attribute: Any, value: object) -> None:
    if (instance.bearer_token is None) == (instance.hmac_secret is None):
        raise ConfigurationError(
            "Authenticated needs exactly one of bearer_token= or hmac_secret=")


@attrs.frozen(kw_only=True)
class Authenticated:
    """``adapter``, accepting only requests that carry the configured credential.

    Give exactly one of ``bearer_token`` or ``hmac_secret``; an empty one is
    a `ConfigurationError`. The wrapped adapter's own ``verify`` still runs
    after the credential is checked.
    """

    adapter: ChannelAdapter
    bearer_token: str | None = attrs.field(default=None, repr=False, validator=require_secret)
    hmac_secret: str | bytes | None = attrs.field(
        default=None, repr=False, validator=[require_secret, _one_way])

    @property
    def channel(self) -> Channel:
        return adapter_channel(self.adapter)  # a user's adapter may say "phone"

    @property
    def account(self) -> str:
        return self.adapter.account

    @property
    def _key(self) -> bytes:
        secret = self.hmac_secret or b""
        return secret.encode() if isinstance(secret, str) else secret

    def sign(self, body: bytes) -> dict[str, str]:
        """Headers that authenticate ``body`` (for the sender and for tests)."""
        if self.bearer_token is not None:
            return {"Authorization": f"Bearer {self.bearer_token}"}
        return {SIGNATURE_HEADER: "sha256=" + hmac_sha256_hex(self._key, body)}

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        if self.bearer_token is not None:
            given = get_header(headers, "Authorization")
            scheme, _, token = (given or "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise SignatureError("missing bearer token (Authorization: Bearer ...)")
            if not hmac.compare_digest(token.strip().encode(), self.bearer_token.encode()):
                raise SignatureError("bearer token does not match")
        else:
            verify_hmac_sha256(self._key, body, get_header(headers, SIGNATURE_HEADER),
                               what=SIGNATURE_HEADER)
        self.adapter.verify(body, headers)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        return self.adapter.parse(body, headers)
