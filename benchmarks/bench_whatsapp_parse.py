"""Parse + verify throughput of the WhatsApp adapter against pywa, same payloads, one run.

    PYTHONPATH=src python benchmarks/bench_whatsapp_parse.py [--seconds 2]

Needs the ``bench`` extra (``pip install 'omnicx[bench]'``) for pywa.

Each payload is a signed webhook body shaped like Meta's documented examples
(every message type and every status, one message per body, because pywa
only looks at the first message of a body). For each library the loop does
what a webhook handler must: check ``X-Hub-Signature-256``, then turn the
body into typed objects.

- omnicx: ``WhatsApp.verify`` then ``WhatsApp.parse``.
- pywa: ``webhook_update_validator`` then ``webhook_update_handler`` (its
  documented entry point for custom servers), with duplicate skipping off so
  every body is really parsed, and logging silenced.

A second line measures batched bodies (20 messages each): omnicx parses all
of them, pywa reads only the first, so pywa's number there counts payloads
whose other 19 messages it silently drops.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "channels"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import whatsapp_payloads as p  # noqa: E402
from _paired import measure  # noqa: E402

from omnicx.channels import WhatsApp  # noqa: E402

SECRET = "0123456789abcdef0123456789abcdef"
UPDATE_TYPES = {"reaction", "reaction_removed", "edit", "revoke"}


# Current (2026) payloads carry the business-scoped user id; pywa 4 requires it
# (without contacts[].user_id it fails to build the update), so every body has it.
CONTACTS = [p.contact(user_id=p.BSUID, username="@sheena")]
KINDS = [k for k in p.MESSAGES if k != "future_type"]


def single_message_bodies() -> list[bytes]:
    bodies = [p.dumps(p.inbound(p.message(kind, n, user_id=p.BSUID), contacts=CONTACTS))
              for n, kind in enumerate(KINDS)]
    statuses = ["sent", "delivered", "read", "played", "failed"]
    bodies += [p.dumps(p.statuses(p.status(s, p.wamid(500 + i), user_id=p.BSUID),
                                  contacts=CONTACTS))
               for i, s in enumerate(statuses)]
    return bodies


def batched_bodies() -> list[bytes]:
    return [p.dumps(p.inbound(*(p.message(KINDS[(b + i) % len(KINDS)], b * 100 + i,
                                          user_id=p.BSUID) for i in range(20)),
                              contacts=CONTACTS))
            for b in range(len(KINDS))]


def omnicx_step() -> Callable[[bytes, dict[str, str]], object]:
    wa = WhatsApp(phone_number_id=p.PHONE_NUMBER_ID, app_secret=SECRET)

    def step(body: bytes, headers: dict[str, str]) -> object:
        wa.verify(body, headers)
        return wa.parse(body, headers)

    return step


class _Failures(logging.Handler):
    """Counts pywa's "Failed to construct update" errors: a benchmark of failures is void."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def pywa_step() -> Callable[[bytes, dict[str, str]], object]:
    import pywa

    client = pywa.WhatsApp(
        phone_id=p.PHONE_NUMBER_ID, token="EAAG-benchmark", verify_token="x",
        app_secret=SECRET, skip_duplicate_updates=False, validate_updates=True,
    )

    def step(body: bytes, headers: dict[str, str]) -> object:
        error = client.webhook_update_validator(body, headers["X-Hub-Signature-256"])
        if error is not None:
            raise RuntimeError(f"pywa refused a valid signature: {error}")
        return client.webhook_update_handler(body)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="per library and scenario, spread over interleaved rounds")
    parser.add_argument("--stdlib-json", action="store_true",
                        help="make omnicx decode with the json module even if orjson is installed")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.seconds = 0.1
    if args.stdlib_json:
        # The JSON decoder is chosen in the module all channels share.
        from omnicx.channels import _common

        _common.orjson = None  # type: ignore[assignment]
    signer = WhatsApp(phone_number_id=p.PHONE_NUMBER_ID, app_secret=SECRET)
    ours, theirs = omnicx_step(), pywa_step()

    single = [(b, signer.sign(b)) for b in single_message_bodies()]
    # Both must accept every body; omnicx must find exactly one event in each.
    assert all(len(list(ours(b, h))) == 1 for b, h in single)
    failures = _Failures()
    pywa_log = logging.getLogger("pywa")
    pywa_log.addHandler(failures)
    pywa_log.setLevel(logging.ERROR)
    assert all(theirs(b, h) == ("ok", 200) for b, h in single)
    if failures.count:
        raise SystemExit(f"pywa failed to build {failures.count} of {len(single)} updates")
    pywa_log.removeHandler(failures)
    pywa_log.setLevel(logging.CRITICAL + 1)  # measure parsing, not log formatting
    decoder = "orjson" if decoding_with_orjson() else "json module (pip install orjson: faster)"
    print(f"omnicx decodes with: {decoder}")
    omnicx_rate, pywa_rate, ratio, _, _ = measure(ours, theirs, single, args.seconds)
    print(f"single-message bodies ({len(single)} payloads: every message type and status)")
    print(f"  omnicx  {omnicx_rate:10,.0f} msgs/s")
    print(f"  pywa    {pywa_rate:10,.0f} msgs/s")
    print(f"  ratio   {ratio:10.2f}x  (median of paired rounds; target >= 2x)")

    batched = [(b, signer.sign(b)) for b in batched_bodies()]
    per_body = len(json.loads(batched[0][0])["entry"][0]["changes"][0]["value"]["messages"])
    omnicx_rate, pywa_rate, ratio, _, _ = measure(ours, theirs, batched, args.seconds)
    print(f"batched bodies ({per_body} messages each; pywa parses only the first)")
    print(f"  omnicx  {omnicx_rate * per_body:10,.0f} msgs/s")
    print(f"  pywa    {pywa_rate:10,.0f} msgs/s (bodies/s: messages 2-{per_body} dropped)")
    print(f"  ratio   {ratio * per_body:10.2f}x  (median of paired rounds)")


def decoding_with_orjson() -> bool:
    from omnicx.channels import _common

    return _common.orjson is not None


if __name__ == "__main__":
    main()
