"""omnicx: a gapless, unified contact history across every customer channel.

    import omnicx
    from omnicx.channels import WebChat

    history = omnicx.open("history.db")
    receipt = history.receive(WebChat(secret="..."), body=raw, headers=headers)
"""

from __future__ import annotations

from ._answer import WebhookAnswer, answer_webhook
from ._api import api_app
from ._blobs import FileBlobStore, MemoryBlobStore
from ._business import SLA, BusinessHours
from ._chain import Problem, VerifyReport
from ._enums import AddressKind, Channel, Direction, EventKind, Kind, Status
from ._errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    OmnicxError,
    PayloadError,
    SendError,
    SignatureError,
    StorageError,
    TamperedError,
    TranslationError,
    WindowClosedError,
)
from ._events import ChannelEvent, MessageEvent, StreamPosition, UpdateEvent, WatermarkEvent
from ._feed import Change, ChangeKind, ChangePage, Subscription
from ._history import History, Page, Receipt
from ._kpis import Durations, KpiGroup, KpiReport, SlaBreach
from ._lifecycle import ConversationChange, ConversationState, Lifecycle
from ._models import (
    Address,
    Attachment,
    Contact,
    Conversation,
    Interaction,
    InteractionEvent,
    StatusChange,
)
from ._open import open
from ._outbound import Outgoing, SendResult
from ._search import SearchHit
from ._server import webhook_app
from ._translation import DeepL, LibreTranslate, Translated, Translation, detect_language
from ._webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryReport,
    DeliveryWorker,
    RetryPolicy,
    Webhook,
    Webhooks,
)
from .storage._base import Gap, RawPayload

__version__ = "0.1.0"

__all__ = [
    "Address",
    "AddressKind",
    "Attachment",
    "BusinessHours",
    "Change",
    "ChangeKind",
    "ChangePage",
    "Channel",
    "ChannelEvent",
    "ConfigurationError",
    "ConflictError",
    "Contact",
    "Conversation",
    "ConversationChange",
    "ConversationState",
    "DeepL",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryReport",
    "DeliveryWorker",
    "Direction",
    "Durations",
    "EventKind",
    "FileBlobStore",
    "Gap",
    "History",
    "Interaction",
    "InteractionEvent",
    "Kind",
    "KpiGroup",
    "KpiReport",
    "LibreTranslate",
    "Lifecycle",
    "MemoryBlobStore",
    "MessageEvent",
    "NotFoundError",
    "OmnicxError",
    "Outgoing",
    "Page",
    "PayloadError",
    "Problem",
    "RawPayload",
    "Receipt",
    "RetryPolicy",
    "SLA",
    "SearchHit",
    "SendError",
    "SendResult",
    "SignatureError",
    "SlaBreach",
    "Status",
    "StatusChange",
    "StorageError",
    "StreamPosition",
    "Subscription",
    "TamperedError",
    "Translated",
    "Translation",
    "TranslationError",
    "UpdateEvent",
    "VerifyReport",
    "WatermarkEvent",
    "Webhook",
    "WebhookAnswer",
    "Webhooks",
    "WindowClosedError",
    "__version__",
    "answer_webhook",
    "api_app",
    "detect_language",
    "open",
    "webhook_app",
]
