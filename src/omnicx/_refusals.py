"""What becomes of a payload the store refuses: it is quarantined, never lost.

A `StorageError` is ``transient`` when the same write may succeed later (a
lock, a lost connection, a full disk): it propagates, `omnicx serve`
answers 503 and the provider retries. One that is not transient refuses the
data itself (a value too large for an index, an encoding or constraint
error) and would fail on every retry, until the provider gives up and the
message is lost. So `History` treats it as it treats a payload that cannot
be parsed: the payload is kept in quarantine with the error, and
`History.replay` stores it once the cause is fixed.

In a batch, the one payload at fault must not take its neighbours with it:
`split` halves the batch and stores each half on its own, recursively, until
the payload that fails is alone; only it is quarantined. A batch of ``n``
payloads with one refused costs about ``2 log2 n`` extra transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._errors import PayloadError, StorageError
from ._events import ChannelEvent

if TYPE_CHECKING:
    from ._history import Receipt

__all__ = ["Prepared", "refusal", "split"]

# A payload of a batch, checked and parsed: body, headers, its events (None when
# it could not be parsed) and the error to quarantine it with.
Prepared = tuple[bytes, dict[str, str], Sequence[ChannelEvent] | None, str | None]


def refusal(exc: StorageError) -> PayloadError:
    """The error a payload refused by the store is quarantined with."""
    return PayloadError(f"the store refused the payload: {exc}")


def split(exc: PayloadError | StorageError, prepared: Sequence[Prepared],
          cursor: tuple[str, str] | None,
          store: Callable[[Sequence[Prepared], tuple[str, str] | None], Receipt]) -> Receipt:
    """Store ``prepared`` (``(body, headers, events, error)`` each) after ``exc``
    failed it as one transaction: in halves, or, when one payload is left,
    as a quarantined payload (``events`` ``None``, ``error`` set).

    ``store`` stores a part in one transaction, with the cursor given (the
    batch's cursor goes with the last part only, so that it is committed
    when everything before it is). A transient error propagates, and so
    does an error of a payload that was being quarantined already.
    """
    if isinstance(exc, StorageError) and exc.transient:
        raise exc
    if len(prepared) > 1:
        half = len(prepared) // 2
        return store(prepared[:half], None) + store(prepared[half:], cursor)
    ((body, headers, events, _),) = prepared
    if events is None:
        raise exc  # the store refuses even to keep it in quarantine
    message = exc.message if isinstance(exc, PayloadError) else refusal(exc).message
    return store([(body, headers, None, message)], cursor)
