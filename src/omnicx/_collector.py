"""Python's cyclic garbage collector, paused while omnicx builds many short-lived objects.

A KPI read or a batch of payloads allocates hundreds of thousands of small
objects, none of them in a cycle (reference counting frees them); with the
collector on, its passes over them and over the host's heap cost a large
share of the work (measured in ``docs/scale.md``). `paused` turns it off for
the duration and back on after, only if it was on: what anything else left
meanwhile is collected then.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["paused"]


@contextlib.contextmanager
def paused() -> Iterator[None]:
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
