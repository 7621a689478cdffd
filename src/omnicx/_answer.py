"""The HTTP answer to a provider's webhook request, for any web framework.

A webhook endpoint must answer only after the payload is committed, and
answer in a way that makes the provider do the right thing: retry when
nothing was stored, and not retry what was stored or kept. `answer_webhook`
calls `History.receive` and maps its outcome; ``omnicx serve``
(``omnicx._server``) maps its group commit's outcomes with the same
`WebhookAnswer.of`, so an endpoint in FastAPI, Django or Flask answers
exactly as omnicx's own server does:

==========================  ======  ==========================================
outcome                     status  why
==========================  ======  ==========================================
`Receipt`                   200     committed (duplicates included)
`PayloadError`              200     kept in quarantine: a retry would not help
`SignatureError`            401     forged or unsigned; nothing stored
`StorageError`              503     nothing committed: the provider's retry fills it
any other `OmnicxError`     500     a configuration fault; see the log
==========================  ======  ==========================================

Bodies are small JSON objects without payload content.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from ._adapters import adapter_channel
from ._errors import OmnicxError, PayloadError, SignatureError, StorageError
from ._history import History, Receipt
from .typing import ChannelAdapter

__all__ = ["WebhookAnswer", "answer_webhook"]

log = logging.getLogger("omnicx.server")


@attrs.frozen(kw_only=True)
class WebhookAnswer:
    """What to answer a provider: an HTTP ``status`` and a JSON-ready ``body``."""

    status: int
    body: Mapping[str, Any]

    @classmethod
    def of(cls, outcome: Receipt | OmnicxError) -> WebhookAnswer:
        """The answer for the outcome of receiving one request (see the module table)."""
        if isinstance(outcome, Receipt):
            return cls(status=200, body={"stored": outcome.stored,
                                         "duplicates": outcome.duplicates,
                                         "updates": outcome.updates})
        if isinstance(outcome, PayloadError):
            return cls(status=200, body={"quarantined": outcome.quarantine_id,
                                         "error": outcome.message})
        if isinstance(outcome, SignatureError):
            return cls(status=401, body={"error": str(outcome)})
        if isinstance(outcome, StorageError):
            return cls(status=503, body={"error": str(outcome)})
        return cls(status=500, body={"error": str(outcome)})


def answer_webhook(history: History, channel: ChannelAdapter, *, body: bytes,
                   headers: Mapping[str, str] | None = None) -> WebhookAnswer:
    """Receive one provider request into ``history``; the answer once it is committed.

    Blocking: call it from a worker thread in an async framework
    (``starlette.concurrency.run_in_threadpool``, a sync FastAPI endpoint).
    """
    try:
        outcome: Receipt | OmnicxError = history.receive(channel, body=body,
                                                         headers=dict(headers or {}))
    except OmnicxError as exc:
        outcome = exc
    answer = WebhookAnswer.of(outcome)
    if answer.status >= 500:
        log.error("receiving a %s webhook failed (%d): %s", adapter_channel(channel).value,
                  answer.status, outcome)
    elif isinstance(outcome, OmnicxError):
        log.warning("%s webhook: %s", adapter_channel(channel).value, type(outcome).__name__)
    return answer
