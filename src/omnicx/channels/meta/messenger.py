"""Messenger and Instagram: Meta's page and Instagram messaging, inbound and outbound.

Inbound, both verify ``X-Hub-Signature-256`` and answer the subscription
handshake exactly as WhatsApp does (`omnicx.channels.meta._graph`), and parse
``entry[].messaging[]`` (`omnicx.channels.meta._messaging_parse`: messages,
attachments, replies, reactions, postbacks, referrals, echoes, edits,
unsends, and delivery and read watermarks).

Outbound, `Messenger.send` and `Instagram.send` post to the Send API through
the shared Graph client with its retries, enforce the 24-hour window and the
message tags (`omnicx.channels.meta._messaging_send`), and return Meta's
``message_id``. On Messenger the send carries omnicx's client id as
``metadata``; the webhook's echo brings it back and becomes a ``sent`` status
of the interaction, not a second one, even when it arrives before the Send
API's answer. (An echo without it is deduplicated by its ``mid``.)

    messenger = Messenger(app_secret="...", page_id="1067280970047460",
                          page_access_token="...", verify_token="...")
    history.receive(messenger, body=raw_body, headers=headers)
    history.send(messenger, to=contact, text="Your parcel left", tag="HUMAN_AGENT")
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import httpx

from ..._enums import Channel, Status
from ..._errors import PayloadError, SendError
from ..._events import ChannelEvent
from ..._outbound import Outgoing, SendResult
from .._common import HttpClientOwner, require_secret
from ._graph import GraphAPI, Handshake, answer_handshake, app_key, sign_body, verify_signature
from ._messaging_parse import INSTAGRAM, MESSENGER, Platform, decode, parse_messaging
from ._messaging_send import (
    ANYTIME_TAGS,
    HUMAN_AGENT_WINDOW,
    THROTTLING_CODES,
    WINDOW,
    classify,
    send_body,
)
from ._window import last_inbound

if TYPE_CHECKING:
    from ..._history import History
    from ..._models import Contact

__all__ = ["Instagram", "Messenger"]

DEFAULT_API_VERSION = "v23.0"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class _MetaMessaging(HttpClientOwner):
    """What Messenger and Instagram share: webhook checks, parsing and the Send API."""

    app_secret: str | bytes | None = attrs.field(default=None, repr=False,
                                                 validator=require_secret)
    verify_token: str | None = attrs.field(default=None, repr=False, validator=require_secret)
    api_version: str = DEFAULT_API_VERSION
    transport: httpx.BaseTransport | None = attrs.field(default=None, repr=False, eq=False)
    timeout: float = 30.0
    max_retries: int = 4
    backoff: float = 1.0
    throttle_backoff: float = 5.0
    max_wait: float = 300.0
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, repr=False, eq=False)
    clock: Callable[[], dt.datetime] = attrs.field(default=_utcnow, repr=False, eq=False)

    platform: ClassVar[Platform]
    _client_attribute: ClassVar[str] = "_graph"
    anytime_tags: ClassVar[frozenset[str]] = frozenset()
    # Whether sends carry omnicx's client id as ``metadata`` (Messenger echoes it back).
    tag_echoes: ClassVar[bool] = False

    if TYPE_CHECKING:  # each platform names these after its own fields
        @property
        def account(self) -> str: ...

        @property
        def _token(self) -> str | None: ...

        @property
        def _base_url(self) -> str: ...

    @property
    def thread_key(self) -> str:
        """One conversation per customer and account (``History.send`` uses it)."""
        return f"{self.platform.channel.value}:{self.account}"

    # -- inbound ------------------------------------------------------------------------
    @property
    def _key(self) -> bytes:
        return app_key(self.app_secret, self.platform.label)

    def sign(self, body: bytes) -> dict[str, str]:
        """Headers that authenticate ``body`` as Meta would send them (tests, examples)."""
        return sign_body(self._key, body)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        verify_signature(self._key, body, headers)

    def handshake(self, params: Mapping[str, Any]) -> Handshake:
        """Answer Meta's ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``."""
        return answer_handshake(self.verify_token, params)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        try:
            return parse_messaging(decode(body, self.platform), self.platform, self.account)
        except PayloadError as exc:
            raise self.platform.fields.owned(exc) from None

    # -- the window -----------------------------------------------------------------------
    def window_for(self, history: History, contact: Contact | int, *,
                   tag: str | None = None) -> dt.datetime | None:
        """When the window for a message to ``contact`` closes; ``None`` if it is closed.

        Free-form messages: 24 hours after the customer's last message to this
        account; with ``tag="HUMAN_AGENT"``: 7 days.
        """
        span = HUMAN_AGENT_WINDOW if tag == "HUMAN_AGENT" else WINDOW
        last = last_inbound(history, contact, self.platform.channel.value, self.account,
                            self.clock() - span)
        return None if last is None else last + span

    # -- outbound -----------------------------------------------------------------------
    @cached_property
    def _graph(self) -> GraphAPI:
        label = self.platform.label
        return GraphAPI(
            channel=self.platform.channel.value, classify=classify(
                self.platform.channel.value, label),
            throttling_codes=THROTTLING_CODES, access_token=self._token,
            api_version=self.api_version, base_url=self._base_url, transport=self.transport,
            timeout=self.timeout, max_retries=self.max_retries, backoff=self.backoff,
            throttle_backoff=self.throttle_backoff, max_wait=self.max_wait, sleep=self.sleep)


    def send(self, message: Outgoing) -> SendResult:
        """Send ``message``; return Meta's ``message_id`` or raise `omnicx.SendError`.

        Free-form within 24 hours of the customer's last message; after that
        pass ``tag="HUMAN_AGENT"`` (7 days) or, on Messenger, another tag (see
        `omnicx.channels.meta._messaging_send`); otherwise
        `omnicx.WindowClosedError` is raised before Meta is called.
        """
        now = self.clock()
        channel = self.platform.channel.value
        body, message_type = send_body(message, now=now, channel=channel,
                                       label=self.platform.label,
                                       anytime_tags=self.anytime_tags,
                                       tag_echoes=self.tag_echoes)
        graph = self._graph
        document = graph.json(graph.request("POST", f"{self.account}/messages",
                                            json_body=body, idempotent=False))
        mid = document.get("message_id")
        if not isinstance(mid, str) or not mid:
            raise SendError("the Send API accepted the message but returned no message_id",
                            channel=channel)
        request = {k: v for k, v in body.items() if k != "recipient"}
        return SendResult(external_id=mid, status=Status.SENT, occurred_at=now,
                          message_type=message_type, text=message.text,
                          data={"request": request, "recipient_id": document.get("recipient_id")})


@attrs.frozen(kw_only=True)
class Messenger(_MetaMessaging):
    """One Facebook Page on the Messenger Platform.

    ``page_id`` is the channel's account; ``app_secret`` verifies webhooks,
    ``verify_token`` answers the subscription handshake, ``page_access_token``
    authorises the Send API. Customers are Page-scoped ids (PSIDs, address
    kind ``messenger``).
    """

    page_id: str = attrs.field(validator=attrs.validators.min_len(1))
    page_access_token: str | None = attrs.field(default=None, repr=False)
    base_url: str = "https://graph.facebook.com"

    channel: ClassVar[Channel] = Channel.MESSENGER
    address_kinds: ClassVar[tuple[str, ...]] = ("messenger",)
    platform: ClassVar[Platform] = MESSENGER
    anytime_tags: ClassVar[frozenset[str]] = ANYTIME_TAGS
    tag_echoes: ClassVar[bool] = True

    @property
    def account(self) -> str:
        return self.page_id

    @property
    def _token(self) -> str | None:
        return self.page_access_token

    @property
    def _base_url(self) -> str:
        return self.base_url



@attrs.frozen(kw_only=True)
class Instagram(_MetaMessaging):
    """One Instagram professional account on the Instagram messaging API.

    ``instagram_id`` (the account's id, ``entry.id`` in its webhooks) is the
    channel's account; ``access_token`` authorises the Send API at
    ``base_url`` (``graph.instagram.com`` with Instagram Login; give
    ``https://graph.facebook.com`` for a Page token). Customers are
    Instagram-scoped ids (IGSIDs, address kind ``instagram``). Only the
    ``HUMAN_AGENT`` tag exists on Instagram.
    """

    instagram_id: str = attrs.field(validator=attrs.validators.min_len(1))
    access_token: str | None = attrs.field(default=None, repr=False)
    base_url: str = "https://graph.instagram.com"

    channel: ClassVar[Channel] = Channel.INSTAGRAM
    address_kinds: ClassVar[tuple[str, ...]] = ("instagram",)
    platform: ClassVar[Platform] = INSTAGRAM

    @property
    def account(self) -> str:
        return self.instagram_id

    @property
    def _token(self) -> str | None:
        return self.access_token

    @property
    def _base_url(self) -> str:
        return self.base_url

