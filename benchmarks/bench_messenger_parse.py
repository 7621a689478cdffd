"""Messenger webhook handling: omnicx against fbmessenger, the best-known Python library, one run.

    PYTHONPATH=src python benchmarks/bench_messenger_parse.py [--seconds 4] [--smoke]

Needs the ``bench`` extra for fbmessenger. Each body is one documented
``entry[].messaging[]`` item (text, reply, attachments, location, fallback,
template echo, echo, edit, reaction, postback, referral, delivery, read,
optin). Both sides check ``X-Hub-Signature-256`` (fbmessenger has no check
of its own; the handler uses ``hmac`` as Meta's docs show), decode the JSON
and hand the item on:

- omnicx: ``Messenger.verify`` then ``Messenger.parse``: typed events with
  addresses, attachments, watermarks;
- fbmessenger: ``json.loads`` and ``BaseMessenger.handle``, which only
  dispatches the first item of the first entry to a method by its key (no
  typing, no validation); the subclass returns the item.

So fbmessenger does much less per body than omnicx; the ratio says what the
typed, validated parse costs against bare dispatch.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "channels"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import messaging_payloads as p  # noqa: E402
from _paired import Step, measure, report  # noqa: E402

from omnicx.channels import Messenger  # noqa: E402

SECRET = "0123456789abcdef0123456789abcdef"
MESSENGER = Messenger(page_id=p.PAGE_ID, app_secret=SECRET)


def bodies() -> list[tuple[bytes, dict[str, str]]]:
    signed = []
    for item in p.every_type():
        body = p.body(item)
        signed.append((body, MESSENGER.sign(body)))
    return signed


def omnicx_step() -> Step:
    def step(body: bytes, headers: dict[str, str]) -> object:
        MESSENGER.verify(body, headers)
        return MESSENGER.parse(body, headers)

    return step


def fbmessenger_step() -> Step:
    from fbmessenger import BaseMessenger

    class Handler(BaseMessenger):  # type: ignore[misc]
        def message(self, message: dict[str, Any]) -> object:
            return message

        def delivery(self, message: dict[str, Any]) -> object:
            return message

        def read(self, message: dict[str, Any]) -> object:
            return message

        def postback(self, message: dict[str, Any]) -> object:
            return message

        def optin(self, message: dict[str, Any]) -> object:
            return message

        def account_linking(self, message: dict[str, Any]) -> object:
            return message

    handler = Handler(page_access_token="EAAG-benchmark", app_secret=SECRET)
    key = SECRET.encode()

    def step(body: bytes, headers: dict[str, str]) -> object:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers["X-Hub-Signature-256"]):
            raise RuntimeError("signature mismatch")
        return handler.handle(json.loads(body))

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per side, interleaved")
    parser.add_argument("--smoke", action="store_true", help="a quick run: does it work")
    args = parser.parse_args()
    seconds = 0.2 if args.smoke else args.seconds
    signed = bodies()
    ours, theirs = omnicx_step(), fbmessenger_step()
    for body, headers in signed:
        assert ours(body, headers)
        theirs(body, headers)
    report(f"Messenger webhooks ({len(signed)} documented items, one per body)",
           ("omnicx", "fbmessenger (dispatch)"), measure(ours, theirs, signed, seconds),
           unit="bodies/s")


if __name__ == "__main__":
    main()
