"""Export: a portable, complete JSON Lines copy of a person's history."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

import omnicx
from integrity_support import KEY, event, send, status


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encrypted"])
def test_one_person_is_exported_completely(tmp_path: Path, key: bytes | None) -> None:
    with omnicx.open(tmp_path / "h.db", key=key) as history:
        send(history, event(1, text="first", seq=1), event(2, text="bob", email="b@example.com"))
        send(history, status(1), event(3, text="third", seq=3))
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        out = tmp_path / "anna.jsonl"
        written = history.export(anna, out)
        lines = _lines(out.read_text(encoding="utf-8"))
    assert written == len(lines)
    types = [line["type"] for line in lines]
    assert types == ["export", "contact", "interaction", "interaction", "event", "gap"]
    contact = lines[1]
    assert contact["display_name"] == "Anna Muster"
    assert [a["value"] for a in contact["addresses"]] == ["anna@example.com"]  # type: ignore[attr-defined]
    texts = {line["external_id"]: line["text"] for line in lines
             if line["type"] == "interaction"}
    assert texts == {"m1": "first", "m3": "third"}  # and nothing of bob
    assert lines[4]["status"] == "read"
    assert lines[5]["reference"] == "session:s1#2"


def test_an_erased_person_exports_the_skeleton(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        send(history, event(1, text="first"))
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        history.erase(anna)
        out = io.StringIO()
        history.export(anna.id, out)
    (interaction,) = [line for line in _lines(out.getvalue()) if line["type"] == "interaction"]
    assert interaction["erased"] is True and interaction["text"] is None
    assert interaction["channel"] == "webchat" and interaction["direction"] == "inbound"


def test_exporting_an_unknown_contact(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history, pytest.raises(omnicx.NotFoundError):
        history.export(7, io.StringIO())


class _Counter(io.TextIOBase):
    """A sink that keeps nothing: memory use is the exporter's alone."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)


def _peak(history: omnicx.History) -> tuple[int, int]:
    sink = _Counter()
    tracemalloc.start()
    history.export(None, sink)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return sink.lines, peak


def test_bulk_export_streams_in_constant_memory(tmp_path: Path) -> None:
    people, per_payload = 2, 100
    with omnicx.open(tmp_path / "h.db", synchronous="OFF") as history:
        count = 0

        def grow(messages: int) -> None:
            nonlocal count
            for _ in range(messages // per_payload):
                for p in range(people):
                    send(history, *(event(count + i, email=f"p{p}@example.com", text="x" * 500)
                                    for i in range(per_payload)))
                    count += per_payload

        grow(300)  # more than one export page per person
        lines_small, peak_small = _peak(history)
        grow(2700)
        lines_large, peak_large = _peak(history)
    assert lines_small == 1 + people * (1 + 300)
    assert lines_large == 1 + people * (1 + 3000)
    # Ten times the interactions, about the same peak (one page at a time).
    assert peak_large < peak_small * 1.5
