"""Verify + parse throughput of the Twilio adapter against twilio's RequestValidator, one run.

    PYTHONPATH=src python benchmarks/bench_twilio_parse.py [--seconds 4] [--smoke]

Needs the ``bench`` extra (``pip install 'omnicx[bench]'``) for twilio.

Each payload is a signed, form-encoded webhook shaped like Twilio's
documented examples (inbound SMS, MMS, WhatsApp, message status callbacks,
call status callbacks, recordings), every body distinct (its own SID and
one of 500 customers), as a webhook handler sees them. For each side the
loop does what a handler must do before it can store anything:

- omnicx: ``Twilio.verify`` then ``Twilio.parse``: typed events with
  normalised phone numbers, statuses on the forward-only ladder.
- twilio: decode the form (``urllib.parse.parse_qsl``, what frameworks do)
  and ``RequestValidator.validate``, the SDK's documented check. The SDK has
  no parser: the handler is left with a dict of strings, so this side does
  strictly less work than omnicx's.

``--smoke`` checks both sides accept every body and runs for a fraction of a
second (CI).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "channels"))

import twilio_payloads as p  # noqa: E402

from omnicx.channels import Twilio  # noqa: E402

TWILIO = Twilio(account_sid=p.ACCOUNT_SID, auth_token=p.AUTH_TOKEN, number=p.BUSINESS,
                webhook_url=p.URL)
KINDS = 8


def bodies(count: int) -> list[bytes]:
    """``count`` distinct webhook bodies, cycling through the kinds Twilio posts."""
    out = []
    for n in range(count):
        customer = f"+4179{1000000 + n % 500:07d}"
        sid = f"{n:032x}"
        kind = n % KINDS
        if kind == 0:
            out.append(p.sms(sid="SM" + sid, sender=customer, body=f"Where is order {n}?"))
        elif kind == 1:
            out.append(p.sms(sid="MM" + sid, sender=customer, body="photo", media=[
                (f"https://api.twilio.com/2010-04-01/Accounts/{p.ACCOUNT_SID}/Messages/MM{sid}"
                 f"/Media/ME{sid}", "image/jpeg")]))
        elif kind == 2:
            out.append(p.whatsapp(sid="SM" + sid, sender=customer, body=f"Hi {n}"))
        elif kind == 3:
            out.append(p.message_status("delivered", sid="SM" + sid, to=customer))
        elif kind == 4:
            out.append(p.message_status("undelivered", sid="SM" + sid, to=customer,
                                        error_code="30003"))
        elif kind == 5:
            out.append(p.call("ringing", sid="CA" + sid, caller=customer))
        elif kind == 6:
            out.append(p.call("completed", sid="CA" + sid, caller=customer, duration="95"))
        else:
            out.append(p.recording(sid="RE" + sid, call_sid="CA" + sid))
    return out


def omnicx_step() -> Callable[[bytes, dict[str, str]], object]:
    def step(body: bytes, headers: dict[str, str]) -> object:
        TWILIO.verify(body, headers)
        return TWILIO.parse(body, headers)

    return step


def twilio_step() -> Callable[[bytes, dict[str, str]], object]:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(p.AUTH_TOKEN)

    def step(body: bytes, headers: dict[str, str]) -> object:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        if not validator.validate(p.URL, params, headers["X-Twilio-Signature"]):
            raise RuntimeError("twilio refused a valid signature")
        return params

    return step


def measure(ours: Callable[[bytes, dict[str, str]], object],
            theirs: Callable[[bytes, dict[str, str]], object],
            signed: list[tuple[bytes, dict[str, str]]], seconds: float
            ) -> tuple[float, float, float, float, float]:
    """Bodies per second of each side and the ratio of paired rounds (median, min, max).

    Short rounds alternate (omnicx first in even rounds, twilio first in odd
    ones), so load on the machine slows both alike; each round's ratio
    compares two measurements a moment apart.
    """
    rounds = max(6, int(seconds * 10))
    per_round = seconds / rounds
    rates: dict[str, list[float]] = {"omnicx": [], "twilio": []}
    position = 0
    for number in range(rounds):
        order = [("omnicx", ours), ("twilio", theirs)]
        if number % 2:
            order.reverse()
        start_position = position
        for name, step in order:
            position = start_position
            done = 0
            start = time.perf_counter()
            while True:
                for _ in range(50):
                    body, headers = signed[position]
                    step(body, headers)
                    position = (position + 1) % len(signed)
                done += 50
                elapsed = time.perf_counter() - start
                if elapsed >= per_round:
                    break
            rates[name].append(done / elapsed)
    ratios = [a / b for a, b in zip(rates["omnicx"], rates["twilio"], strict=True)]
    return (max(rates["omnicx"]), max(rates["twilio"]), statistics.median(ratios),
            min(ratios), max(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="per side, spread over interleaved rounds")
    parser.add_argument("--bodies", type=int, default=4000,
                        help="distinct bodies (more than any cache holds)")
    parser.add_argument("--smoke", action="store_true", help="a check that runs in a second")
    args = parser.parse_args()
    count, seconds = (400, 0.3) if args.smoke else (args.bodies, args.seconds)
    signed = [(b, TWILIO.sign(b)) for b in bodies(count)]
    ours, theirs = omnicx_step(), twilio_step()
    for body, headers in signed:  # both accept every body; omnicx finds its events
        assert ours(body, headers), body
        theirs(body, headers)
    omnicx_rate, twilio_rate, ratio, low, high = measure(ours, theirs, signed, seconds)
    print(f"Twilio webhooks: verify + parse, {count} distinct bodies of {KINDS} kinds")
    print(f"  omnicx  {omnicx_rate:10,.0f} bodies/s  (signature + typed events)")
    print(f"  twilio  {twilio_rate:10,.0f} bodies/s  (parse_qsl + RequestValidator.validate)")
    print(f"  ratio   {ratio:10.2f}x  (median of paired rounds, range {low:.2f}-{high:.2f};"
          " target >= 2x)")


if __name__ == "__main__":
    main()
