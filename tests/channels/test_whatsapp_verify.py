"""X-Hub-Signature-256 verification and the GET subscription handshake."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

import pytest
import whatsapp_payloads as p

from omnicx import ConfigurationError, SignatureError
from omnicx.channels import WhatsApp
from omnicx.channels.meta.whatsapp import Handshake

SECRET = "6f1e2d3c4b5a69788796a5b4c3d2e1f0"
WA = WhatsApp(phone_number_id=p.PHONE_NUMBER_ID, app_secret=SECRET, verify_token="meatyhamhock")
BODY = p.dumps(p.inbound(p.message("text")))


def meta_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_signature_computed_like_meta_verifies() -> None:
    WA.verify(BODY, {"X-Hub-Signature-256": meta_signature(BODY)})


def test_header_name_is_case_insensitive() -> None:
    WA.verify(BODY, {"x-hub-signature-256": meta_signature(BODY)})


def test_sign_matches_meta() -> None:
    assert WA.sign(BODY) == {"X-Hub-Signature-256": meta_signature(BODY)}


def test_bytes_secret() -> None:
    wa = WhatsApp(phone_number_id="1", app_secret=SECRET.encode())
    wa.verify(BODY, {"X-Hub-Signature-256": meta_signature(BODY)})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": "sha1=" + "0" * 40},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": meta_signature(BODY, secret="another app's secret")},
        {"X-Hub-Signature-256": meta_signature(BODY + b" ")},
        {"X-Hub-Signature": meta_signature(BODY)},
    ],
    ids=["missing", "empty", "sha1", "zeros", "wrong-secret", "other-body", "wrong-header"],
)
def test_forged_or_missing_signatures_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        WA.verify(BODY, headers)


def test_a_tampered_body_is_refused() -> None:
    signature = meta_signature(BODY)
    tampered = BODY.replace(b"another color", b"another price")
    with pytest.raises(SignatureError, match="does not match"):
        WA.verify(tampered, {"X-Hub-Signature-256": signature})


def test_verify_without_app_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="app_secret"):
        WhatsApp(phone_number_id="1").verify(BODY, {"X-Hub-Signature-256": "sha256=00"})


def test_handshake_answers_the_challenge() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "meatyhamhock",
              "hub.challenge": "1158201444"}
    assert WA.handshake(params) == Handshake(200, "1158201444")
    status, body = WA.handshake(params)
    assert (status, body) == (200, "1158201444")


def test_handshake_accepts_parse_qs_lists() -> None:
    query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"
    assert WA.handshake(parse_qs(query)) == (200, "1158201444")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "meatyhamhock", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "meatyhamhock"},
        {},
    ],
)
def test_handshake_refuses(params: dict[str, str]) -> None:
    status, body = WA.handshake(params)
    assert status == 403
    assert body


def test_handshake_without_a_configured_token_refuses() -> None:
    wa = WhatsApp(phone_number_id="1", app_secret=SECRET)
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert wa.handshake(params).status == 403
