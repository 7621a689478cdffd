"""Telegram webhook handling: omnicx against python-telegram-bot's ``Update.de_json``, one run.

    PYTHONPATH=src python benchmarks/bench_telegram_parse.py [--seconds 4] [--smoke]

Needs the ``bench`` extra (``pip install 'omnicx[bench]'``) for
python-telegram-bot. Each body is one documented ``Update`` (every kind
omnicx models: text, photo, document, voice, video, video note, audio,
sticker, location, venue, contact, a poll, a reply, an edit, a callback
query, a blocked bot, a channel post, an inline query). Both sides do what a
webhook handler must: compare ``X-Telegram-Bot-Api-Secret-Token`` in
constant time, decode the JSON and build typed objects.

- omnicx: ``Telegram.verify`` then ``Telegram.parse`` (provider-neutral
  events with normalised addresses, ready for the history);
- python-telegram-bot: ``hmac.compare_digest`` of the header (its webhook
  server does the same), ``json.loads`` and ``Update.de_json(data, bot)``.

``--smoke`` runs a fraction of a second per side (CI checks it runs).
"""

from __future__ import annotations

import argparse
import hmac
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "channels"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import telegram_payloads as p  # noqa: E402
from _paired import Step, measure, report  # noqa: E402

from omnicx.channels import Telegram  # noqa: E402

HEADER = "X-Telegram-Bot-Api-Secret-Token"


def bodies() -> list[tuple[bytes, dict[str, str]]]:
    return [(p.body(update), {HEADER: p.SECRET}) for update in p.every_type()]


def omnicx_step() -> Step:
    telegram = Telegram(bot_token=p.BOT_TOKEN, secret_token=p.SECRET)

    def step(body: bytes, headers: dict[str, str]) -> object:
        telegram.verify(body, headers)
        return telegram.parse(body, headers)

    return step


def ptb_step() -> Step:
    from telegram import Bot, Update

    bot = Bot(p.BOT_TOKEN)
    secret = p.SECRET.encode()

    def step(body: bytes, headers: dict[str, str]) -> object:
        if not hmac.compare_digest(headers[HEADER].encode(), secret):
            raise RuntimeError("secret token mismatch")
        return Update.de_json(json.loads(body), bot)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per side, interleaved")
    parser.add_argument("--smoke", action="store_true", help="a quick run: does it work")
    args = parser.parse_args()
    seconds = 0.2 if args.smoke else args.seconds
    signed = bodies()
    ours, theirs = omnicx_step(), ptb_step()
    for body, headers in signed:  # both must accept every documented update
        assert ours(body, headers) is not None and theirs(body, headers) is not None
    report(f"Telegram updates ({len(signed)} documented kinds, one update per body)",
           ("omnicx", "python-telegram-bot"), measure(ours, theirs, signed, seconds))


if __name__ == "__main__":
    main()
