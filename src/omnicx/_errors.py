"""The exception tree: every error omnicx raises derives from `OmnicxError`.

    OmnicxError
    ├── SignatureError (PermissionError)   forged, unsigned or expired webhook; nothing stored
    ├── PayloadError (ValueError)          malformed input; kept in quarantine (see .quarantine_id)
    ├── NotFoundError (LookupError)        unknown contact, interaction, quarantine entry, cursor
    ├── ConfigurationError (ValueError)    bad arguments to open(), a channel, a missing extra
    │   └── TenantError                    a contact of another tenant (merges never cross one)
    ├── StorageError                       the database failed underneath us (wraps sqlite3/psycopg)
    │   │                                  .transient: may a retry succeed? (else: quarantined)
    │   ├── ConflictError                  a transient write conflict that retries did not resolve
    │   └── TamperedError                  a cell holds what omnicx never writes (see verify())
    ├── SendError                          an outbound provider call failed (carries .code)
    │   └── WindowClosedError              free-form message outside the customer-service window
    └── TranslationError                   a translation provider failed (carries .code, .retryable)

Each error also subclasses the built-in it resembles (as attrs does), so an
``except ValueError`` written before omnicx was introduced still catches a
`PayloadError`. Third-party exceptions are translated at the boundary with
``raise ... from exc``; none escapes the public API.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "NotFoundError",
    "OmnicxError",
    "PayloadError",
    "SendError",
    "SignatureError",
    "StorageError",
    "TamperedError",
    "TenantError",
    "TranslationError",
    "WindowClosedError",
]


class OmnicxError(Exception):
    """The root of every error raised by omnicx."""


class SignatureError(OmnicxError, PermissionError):
    """A webhook's signature is missing, malformed or does not match.

    Nothing from the request was stored: a forged payload must leave no trace.
    """


class PayloadError(OmnicxError, ValueError):
    """Input that could not be parsed.

    The raw payload was kept in quarantine (unless it arrived outside
    `History.receive`, in which case ``quarantine_id`` is ``None``) and can be
    replayed with `History.replay` once the adapter is fixed.
    """

    def __init__(
        self, message: str, *, channel: str | None = None, quarantine_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.channel = channel
        self.quarantine_id = quarantine_id

    def __str__(self) -> str:
        where = f" [{self.channel}]" if self.channel else ""
        kept = f" (quarantined as #{self.quarantine_id})" if self.quarantine_id is not None else ""
        return f"{self.message}{where}{kept}"


class NotFoundError(OmnicxError, LookupError):
    """A contact, interaction, cursor or quarantine entry does not exist."""


class ConfigurationError(OmnicxError, ValueError):
    """omnicx was set up wrongly: a bad URL, option, or a missing optional extra."""


class TenantError(ConfigurationError):
    """A contact of another tenant was passed to a history (see ``docs/tenancy.md``).

    Contact ids are per tenant, so acting on it would act on a different person.
    """


class StorageError(OmnicxError):
    """The storage backend failed; the original exception is the ``__cause__``.

    ``transient`` says whether the same write may succeed later. True (the
    default) for what is not the data's fault: a lock or serialization
    conflict, a lock or statement timeout, a lost connection, a full disk,
    the server shutting down; `omnicx serve` answers 503 and the provider
    retries. False when the store refused the data itself (a value too large
    for an index or a column, an encoding or constraint error): the same
    payload would fail on every retry, so `History.receive`,
    `History.receive_batch` and `History.replay` quarantine it and raise (or
    count) a `PayloadError` instead; this error never reaches their callers.
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class ConflictError(StorageError):
    """A write conflict (lock, serialization failure) that retries could not resolve.

    Always ``transient``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class TamperedError(StorageError):
    """A stored row cannot be read back: a cell holds a value omnicx never writes.

    Raised instead of a decoding error when a row was edited behind the
    library's back (text where ciphertext belongs, sealed content that does
    not open, a time that is not a number). The message names the row, never
    its content; `History.verify` names the problem in detail. Never
    ``transient``: a write that meets such a row fails on every retry, so the
    payload it was storing is quarantined until the row is repaired.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class SendError(OmnicxError):
    """An outbound message could not be sent.

    ``code`` is the provider's error code (e.g. WhatsApp's 131047) when it gave
    one, ``retryable`` says whether trying again later may succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str | None = None,
        code: str | int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.channel = channel
        self.code = code
        self.retryable = retryable


class WindowClosedError(SendError):
    """A free-form message was refused: the customer-service window is closed.

    Send an approved template instead.
    """


class TranslationError(OmnicxError):
    """A translation provider refused or failed; nothing was stored.

    ``code`` is the provider's HTTP status when there was one; ``retryable``
    says whether the same request may succeed later (rate limits, outages).
    """

    def __init__(self, message: str, *, provider: str | None = None,
                 code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.retryable = retryable
