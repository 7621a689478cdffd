"""`answer_webhook` (what a framework route calls) answers exactly as omnicx serve does.

The same sequence of requests goes to ``webhook_app`` over a real uvicorn
and through `answer_webhook` on a second history: every status and body
must match, for each outcome (stored, duplicate, forged, unparseable,
the store down then back, a channel whose verify fails on its configuration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

import omnicx
from faulty_store import FaultyStore
from omnicx.storage import SQLiteStore
from server_support import Misconfigured, running
from webchat_payloads import CHANNEL, message, signed


def _requests() -> list[tuple[Any, bytes, dict[str, str], bool]]:
    """(channel, body, headers, store down?) in order."""
    body, headers = signed(message("m1", 0))
    later, later_headers = signed(message("m2", 1))
    broken = b"{oops"
    return [
        (CHANNEL, body, headers, False),
        (CHANNEL, body, headers, False),  # a redelivery
        (CHANNEL, body, {"X-Omnicx-Signature": "sha256=" + "0" * 64}, False),
        (CHANNEL, broken, CHANNEL.sign(broken), False),
        (CHANNEL, later, later_headers, True),  # the database is down
        (CHANNEL, later, later_headers, False),  # the provider's retry
        (Misconfigured(), b"{}", {"X-Sig": "x"}, False),
    ]


def test_answer_webhook_matches_omnicx_serve(tmp_path: Path) -> None:
    served_store = FaultyStore(SQLiteStore(str(tmp_path / "served.db")))
    direct_store = FaultyStore(SQLiteStore(str(tmp_path / "direct.db")))
    served, direct = omnicx.open(served_store), omnicx.open(direct_store)
    answers: list[tuple[int, object]] = []
    with running(omnicx.webhook_app(served, [CHANNEL, Misconfigured()])) as url:
        for channel, body, headers, down in _requests():
            served_store.down = direct_store.down = down
            over_http = httpx.post(f"{url}/{channel.channel}/{channel.account}", content=body,
                                   headers=headers)
            answer = omnicx.answer_webhook(direct, channel, body=body, headers=headers)
            assert (answer.status, dict(answer.body)) == (over_http.status_code,
                                                          over_http.json())
            answers.append((answer.status, sorted(answer.body)))
    assert [status for status, _ in answers] == [200, 200, 401, 200, 503, 200, 500]
    assert answers[3][1] == ["error", "quarantined"]
    assert direct.report()["interactions"] == served.report()["interactions"]
    served.close()
    direct.close()


def test_webhook_answer_of_each_outcome() -> None:
    receipt = omnicx.Receipt(stored=2, duplicates=1, updates=0)
    assert omnicx.WebhookAnswer.of(receipt) == omnicx.WebhookAnswer(
        status=200, body={"stored": 2, "duplicates": 1, "updates": 0})
    kept = omnicx.PayloadError("bad JSON", channel="webchat", quarantine_id=7)
    assert omnicx.WebhookAnswer.of(kept).body == {"quarantined": 7, "error": "bad JSON"}
    assert omnicx.WebhookAnswer.of(omnicx.SignatureError("forged")).status == 401
    assert omnicx.WebhookAnswer.of(omnicx.StorageError("down")).status == 503
    assert omnicx.WebhookAnswer.of(omnicx.ConfigurationError("no key")).status == 500
