"""X-Twilio-Signature: Twilio's published examples, the JSON variant, ports, forgeries."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
import twilio_payloads as p
from hypothesis import given
from hypothesis import strategies as st

from omnicx import SignatureError
from omnicx.channels import Twilio
from omnicx.channels.twilio import compute_signature

# Twilio's worked example (security docs and twilio-python's own tests):
# auth token 12345, this URL and these Gather parameters sign to this value.
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
DOC_JSON = b'{"property": "value", "boolean": true}'
DOC_JSON_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="

TWILIO = Twilio(account_sid=p.ACCOUNT_SID, auth_token="12345", webhook_url=DOC_URL)


def _form(params: dict[str, str]) -> bytes:
    return p.form(list(params.items()))


def test_the_documented_example_signs_as_twilio_says() -> None:
    assert compute_signature(b"12345", DOC_URL, DOC_PARAMS.items()) == DOC_SIGNATURE
    TWILIO.verify(_form(DOC_PARAMS), {"X-Twilio-Signature": DOC_SIGNATURE})


def test_repeated_parameters_sign_in_value_order() -> None:
    pairs = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert compute_signature(b"12345", DOC_URL, pairs) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    TWILIO.verify(p.form(pairs), {"x-twilio-signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU="})


def test_a_json_body_is_signed_through_its_sha256_in_the_url() -> None:
    headers = {"X-Twilio-Signature": DOC_JSON_SIGNATURE, "Content-Type": "application/json"}
    TWILIO.verify(DOC_JSON, headers)
    with pytest.raises(SignatureError):
        TWILIO.verify(DOC_JSON.replace(b"value", b"valuE"), headers)
    assert TWILIO.sign(DOC_JSON)["X-Twilio-Signature"] == DOC_JSON_SIGNATURE


@pytest.mark.parametrize(("url", "signature"), [
    # twilio-python's expectations: a port Twilio added or a proxy dropped still matches.
    ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", DOC_SIGNATURE),
    (DOC_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # Twilio signed the URL with :443
    ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
])
def test_default_ports_are_tolerated(url: str, signature: str) -> None:
    TWILIO.for_url(url).verify(_form(DOC_PARAMS), {"X-Twilio-Signature": signature})


@pytest.mark.parametrize("headers", [
    {}, {"X-Twilio-Signature": ""}, {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8"},
    {"X-Twilio-Signature": "kvajT1Ptam85bY51eRf/AJRuM3w=x"},
    {"X-Twilio-Signature": "ß" + DOC_SIGNATURE},
])
def test_missing_or_wrong_signatures_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        TWILIO.verify(_form(DOC_PARAMS), headers)


def test_another_url_or_token_does_not_verify() -> None:
    headers = {"X-Twilio-Signature": DOC_SIGNATURE}
    with pytest.raises(SignatureError):
        TWILIO.for_url("https://mycompany.com/myapp.php?foo=1&bar=3").verify(
            _form(DOC_PARAMS), headers)
    with pytest.raises(SignatureError):
        Twilio(account_sid=p.ACCOUNT_SID, auth_token="54321", webhook_url=DOC_URL).verify(
            _form(DOC_PARAMS), headers)


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=30), max_size=8),
       st.text(min_size=1, max_size=30))
def test_any_change_to_a_signed_form_is_detected(params: dict[str, str], noise: str) -> None:
    body = _form(params)
    headers = TWILIO.sign(body)
    TWILIO.verify(body, headers)
    forged = _form({**params, "Body": noise + params.get("Body", "")})
    if forged != body:
        with pytest.raises(SignatureError):
            TWILIO.verify(forged, headers)


@given(st.binary(max_size=200))
def test_any_bytes_sign_and_verify_without_other_errors(body: bytes) -> None:
    headers = TWILIO.sign(body, content_type="application/x-www-form-urlencoded")
    TWILIO.verify(body, {**headers, "Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(SignatureError):
        TWILIO.verify(body + b"&x=1", headers)


def test_json_bodies_are_detected_without_a_content_type() -> None:
    body = json.dumps({"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030"}).encode()
    headers = TWILIO.sign(body)
    assert headers["Content-Type"] == "application/json"
    TWILIO.verify(body, {"X-Twilio-Signature": headers["X-Twilio-Signature"]})


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=8),
       st.sampled_from([DOC_URL, p.URL, "https://crm.example.ch:8443/hooks/t?x=%2B1"]))
def test_signatures_agree_with_twilios_own_validator(params: dict[str, str], url: str) -> None:
    validator = pytest.importorskip("twilio.request_validator").RequestValidator("12345")
    assert compute_signature(b"12345", url, params.items()) == validator.compute_signature(
        url, params)
    body = _form(params)
    if dict(parse_qsl(body.decode(), keep_blank_values=True)) == params:  # a round trip
        ours = TWILIO.for_url(url).sign(body)["X-Twilio-Signature"]
        assert validator.validate(url, params, ours)
