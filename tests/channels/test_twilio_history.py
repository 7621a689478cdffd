"""Twilio webhooks through History.receive: one call that moves forward, recordings, gaps."""

from __future__ import annotations

from pathlib import Path

import pytest
import twilio_payloads as p

import omnicx
from omnicx import PayloadError, SignatureError
from omnicx.channels import Twilio

TWILIO = Twilio(account_sid=p.ACCOUNT_SID, auth_token=p.AUTH_TOKEN, number=p.BUSINESS,
                webhook_url=p.URL)


def receive(history: omnicx.History, body: bytes) -> omnicx.Receipt:
    return history.receive(TWILIO, body=body, headers=TWILIO.sign(body))


def calls(history: omnicx.History) -> list[omnicx.Interaction]:
    contact = history.contacts.find(p.CUSTOMER)
    assert contact is not None
    return [i for i in history.timeline(contact).items if i.kind == "call"]


@pytest.mark.parametrize("order", [
    ["initiated", "ringing", "in-progress", "completed"],
    ["completed", "in-progress", "ringing", "initiated"],
    ["ringing", "completed", "ringing", "in-progress"],
])
def test_call_callbacks_make_one_call_that_only_moves_forward(
        history: omnicx.History, order: list[str]) -> None:
    receipts = [receive(history, p.call(s, duration="61" if s == "completed" else None))
                for s in order]
    assert [r.stored for r in receipts] == [1, 0, 0, 0]
    assert sum(r.updates for r in receipts) == len(set(order))
    (call,) = calls(history)
    assert call.status == "completed" and call.channel == "phone"
    statuses = history.statuses(call)
    assert {s.data["twilio_status"] for s in statuses} == set(order)
    assert [s.data["duration_seconds"] for s in statuses if s.status == "completed"] == [61]
    assert history.verify().ok


def test_a_busy_call_stays_busy(history: omnicx.History) -> None:
    for status in ("initiated", "ringing", "busy", "ringing"):
        receive(history, p.call(status, direction="outbound-api", caller=p.BUSINESS,
                                called=p.CUSTOMER))
    (call,) = calls(history)
    assert (call.status, call.direction) == ("busy", "outbound")


def test_a_recording_before_its_call_waits_as_a_gap(history: omnicx.History) -> None:
    early = receive(history, p.recording())
    assert early.gaps_opened == 1 and history.gaps()[0].reference == p.CALL_SID
    receive(history, p.call("completed", duration="50"))
    receive(history, p.transcription())
    assert history.gaps() == []
    (call,) = calls(history)
    kinds = [e.kind for e in history.events(call)]
    assert kinds == ["recorded", "transcribed"]
    assert history.events(call)[1].data["text"] == "Hello, I am calling about my invoice."
    assert history.verify().ok


def test_redelivered_callbacks_are_duplicates(history: omnicx.History) -> None:
    for body in (p.sms(), p.call("ringing"), p.recording()):
        receive(history, body)
        again = receive(history, body)
        assert again.stored == 0 and again.updates == 0 and again.duplicates >= 1


def test_a_status_for_a_message_never_seen_opens_a_gap(history: omnicx.History) -> None:
    receipt = receive(history, p.message_status("delivered", sid="SM" + "e" * 32))
    assert receipt.gaps_opened == 1
    (gap,) = history.gaps()
    assert (gap.kind, gap.reference) == ("status_without_message", "SM" + "e" * 32)


def test_forged_and_malformed_requests(history: omnicx.History) -> None:
    body = p.sms()
    with pytest.raises(SignatureError):
        history.receive(TWILIO, body=body, headers={"X-Twilio-Signature": "bad="})
    assert history.quarantine() == []
    bad = b"MessageSid=SM1&AccountSid=" + p.ACCOUNT_SID.encode() + b"&From=nobody&Body=x"
    with pytest.raises(PayloadError) as raised:
        receive(history, bad)
    (kept,) = history.quarantine()
    assert kept.id == raised.value.quarantine_id and kept.body == bad


def test_content_is_not_in_the_clear_with_a_key(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with omnicx.open(path, key=b"k" * 32) as history:
        receive(history, p.sms(body="my secret parcel number 4711"))
        receive(history, p.call("completed", duration="5"))
        receive(history, p.transcription(text="a confidential transcript"))
        (call,) = calls(history)
        assert history.events(call)[0].data["text"] == "a confidential transcript"
    data = path.read_bytes()
    assert b"4711" not in data and b"confidential" not in data


def test_omnicx_serve_receives_twilio_form_posts() -> None:
    import asyncio

    import httpx

    history = omnicx.open(":memory:")
    url = f"http://omnicx/sms/{p.ACCOUNT_SID}"
    twilio = TWILIO.for_url(url)
    app = omnicx.webhook_app(history, [twilio])

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnicx") as client:
            answers = []
            for body in (p.sms(), p.call("completed", duration="7"), p.sms()):
                answers.append(await client.post(f"/sms/{p.ACCOUNT_SID}", content=body,
                                                 headers=twilio.sign(body)))
            answers.append(await client.post(f"/sms/{p.ACCOUNT_SID}", content=p.sms(),
                                             headers=TWILIO.sign(p.sms())))  # another URL
            return answers

    sms, call, again, wrong_url = asyncio.run(go())
    assert sms.json() == {"stored": 1, "duplicates": 0, "updates": 0}
    assert call.json() == {"stored": 1, "duplicates": 0, "updates": 1}
    assert again.json()["duplicates"] == 1
    assert wrong_url.status_code == 401


def test_quarantine_errors_do_not_repeat_the_number(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "q.db", key=b"q" * 32) as history:
        body = p.sms(sender="+41 79 12")
        with pytest.raises(PayloadError) as raised:
            receive(history, body)
        assert "79 12" not in str(raised.value) and "7912" not in str(raised.value)
        assert "From" in str(raised.value)


def test_omnicx_serve_configures_twilio_and_web_forms_from_toml(tmp_path: Path) -> None:
    from omnicx._cli import load_channels

    config = tmp_path / "channels.toml"
    config.write_text(
        f'[[channel]]\ntype = "sms"\naccount_sid = "{p.ACCOUNT_SID}"\nauth_token = "t"\n'
        f'number = "+41 44 555 12 34"\nwebhook_url = "https://crm.example.ch/sms/x"\n\n'
        '[[channel]]\ntype = "webform"\nform = "contact"\nsecret = "s"\n'
        '[channel.fields]\nemail = "your-email"\ntext = ["your-message", "message"]\n')
    twilio, form = load_channels(config)
    assert isinstance(twilio, Twilio) and twilio.number == "+41445551234"
    assert (form.channel, form.account) == ("webform", "contact")
    assert form.fields["text"] == ("your-message", "message")  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_call_callbacks_make_one_call(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Twilio fires a call's callbacks at once; every thread redelivers every one of them."""
    import random
    import threading

    if backend == "sqlite":
        target, options = str(tmp_path / "calls.db"), {}
    else:
        target, schema = request.getfixturevalue("postgres_schema")
        options = {"schema": schema}
    with omnicx.open(target, **options):
        pass  # create the schema once, before the writers race
    bodies = [p.call(status, sid=f"CA{n:032x}", duration="30" if status == "completed" else None)
              for n in range(5) for status in ("initiated", "ringing", "in-progress", "completed")]
    bodies += [p.recording(sid=f"RE{n:032x}", call_sid=f"CA{n:032x}") for n in range(5)]
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        order = bodies[:]
        random.Random(seed).shuffle(order)
        try:
            with omnicx.open(target, **options) as history:
                for body in order:
                    receive(history, body)
        except BaseException as exc:  # pragma: no cover - the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with omnicx.open(target, **options) as history:
        (contact,) = list(history.contacts)
        calls = history.timeline(contact, limit=100).items
        assert len(calls) == 5 and {c.status for c in calls} == {"completed"}
        for call in calls:
            assert len(history.statuses(call)) == 4 and len(history.events(call)) == 1
        assert history.gaps() == [] and history.verify().ok
