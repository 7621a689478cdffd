"""`omnicx._collector.paused`: the collector is off inside, as it was after."""

from __future__ import annotations

import gc

import pytest

from omnicx._collector import paused


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(LookupError), paused():
        raise LookupError("the work failed")
    assert gc.isenabled()


def test_a_collector_the_host_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_it_decorates_a_function_each_call_anew() -> None:
    @paused()
    def inside() -> bool:
        return gc.isenabled()

    assert inside() is False
    assert inside() is False
    assert gc.isenabled()
