"""Who may write into the history over HTTP: empty secrets, unsigned channels, credentials."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicx
from omnicx import Channel, ChannelEvent, ConfigurationError, SignatureError
from omnicx._cli import main
from omnicx.channels import (
    Authenticated,
    Email,
    Instagram,
    Messenger,
    Telegram,
    Twilio,
    WebChat,
    WebForm,
    WhatsApp,
)
from server_support import Misconfigured
from test_server import exchange
from webchat_payloads import message, signed

BLANK = st.text(alphabet=" \t\r\n", max_size=4)
MAIL = (b"From: Anna <anna@example.com>\r\nTo: support@example.com\r\nSubject: Hi\r\n"
        b"Message-ID: <s1@example.com>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\nHello\r\n")


@given(blank=BLANK, as_bytes=st.booleans())
def test_an_empty_or_blank_secret_is_refused_at_construction(blank: str,
                                                             as_bytes: bool) -> None:
    secret: str | bytes = blank.encode() if as_bytes else blank
    with pytest.raises(ConfigurationError, match="secret is empty"):
        WebChat(secret=secret, site="shop")
    with pytest.raises(ConfigurationError, match="app_secret is empty"):
        WhatsApp(phone_number_id="1065", app_secret=secret)
    with pytest.raises(ConfigurationError, match="hmac_secret is empty"):
        Authenticated(adapter=Email(mailbox="support@example.com"), hmac_secret=secret)
    with pytest.raises(ConfigurationError, match="secret is empty"):
        WebForm(form="contact", secret=secret)
    with pytest.raises(ConfigurationError, match="app_secret is empty"):
        Messenger(page_id="1", app_secret=secret)
    with pytest.raises(ConfigurationError, match="app_secret is empty"):
        Instagram(instagram_id="1", app_secret=secret)
    if not as_bytes:
        with pytest.raises(ConfigurationError, match="verify_token is empty"):
            WhatsApp(phone_number_id="1065", app_secret="s", verify_token=blank)
        with pytest.raises(ConfigurationError, match="bearer_token is empty"):
            Authenticated(adapter=Email(mailbox="support@example.com"), bearer_token=blank)
        with pytest.raises(ConfigurationError, match="auth_token is empty"):
            Twilio(account_sid="AC00000000000000000000000000000000", auth_token=blank)
        with pytest.raises(ConfigurationError, match="secret_token is empty"):
            Telegram(bot_token="123:abc", secret_token=blank)
        with pytest.raises(ConfigurationError, match="verify_token is empty"):
            Messenger(page_id="1", app_secret="s", verify_token=blank)


def test_a_secret_must_be_text_or_bytes() -> None:
    with pytest.raises(ConfigurationError, match="str or bytes"):
        WebChat(secret=12345)  # type: ignore[arg-type]


def test_authenticated_needs_exactly_one_credential() -> None:
    mail = Email(mailbox="support@example.com")
    with pytest.raises(ConfigurationError, match="exactly one"):
        Authenticated(adapter=mail)
    with pytest.raises(ConfigurationError, match="exactly one"):
        Authenticated(adapter=mail, bearer_token="t", hmac_secret="s")


class _Trusting:
    """A user's own adapter that forgot to check anything."""

    channel: ClassVar[Channel] = Channel.WEBFORM
    account = "site"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        return None

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        return []


@pytest.mark.parametrize("adapter", [
    Email(mailbox="support@example.com"),
    WhatsApp(phone_number_id="1065"),  # send-only: no app_secret to verify with
    _Trusting(),
    WebForm(form="contact", unsigned=True),
    # A credential in front does not make up for an adapter that cannot verify.
    Authenticated(adapter=WhatsApp(phone_number_id="1065"), bearer_token="t"),
], ids=["email", "whatsapp-without-app-secret", "custom-trusting", "unsigned-form",
        "wrapped-whatsapp-without-app-secret"])
def test_a_channel_that_cannot_authenticate_is_not_served(adapter: Any) -> None:
    history = omnicx.open(":memory:")
    with pytest.raises(ConfigurationError, match=r"authenticate|unsigned"):
        omnicx.webhook_app(history, [adapter])


def test_a_secret_emptied_behind_the_constructor_is_refused_at_start_up() -> None:
    chat = WebChat(secret="s", site="shop")
    object.__setattr__(chat, "secret", "")
    with pytest.raises(ConfigurationError, match="secret is empty"):
        omnicx.webhook_app(omnicx.open(":memory:"), [chat])


@pytest.mark.parametrize("credential", [{"bearer_token": "relay-token"},
                                        {"hmac_secret": "relay-secret"}])
def test_email_is_served_only_with_its_credential(credential: dict[str, str]) -> None:
    history = omnicx.open(":memory:")
    mail = Authenticated(adapter=Email(mailbox="support@example.com"), **credential)
    app = omnicx.webhook_app(history, [mail])
    path = "/email/support@example.com"
    wrong = Authenticated(adapter=Email(mailbox="support@example.com"),
                          **{k: v + "x" for k, v in credential.items()})
    unsigned, forged, ok = exchange(
        app,
        ("POST", path, MAIL, {}),
        ("POST", path, MAIL, wrong.sign(MAIL)),
        ("POST", path, MAIL, mail.sign(MAIL)),
    )
    assert unsigned.status_code == forged.status_code == 401
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    assert history.report()["raw_payloads"] == {"ok": 1}
    with pytest.raises(SignatureError):
        mail.verify(MAIL, {"Authorization": "Basic cmVsYXk="})


def test_a_bearer_token_must_match_exactly() -> None:
    mail = Authenticated(adapter=Email(mailbox="support@example.com"), bearer_token="abc")
    mail.verify(MAIL, {"authorization": "bearer abc"})  # scheme and header name: any case
    for given_header in ("Bearer ab", "Bearer abcd", "Bearer ", "abc", "Bearer  "):
        with pytest.raises(SignatureError):
            mail.verify(MAIL, {"Authorization": given_header})


def _serve(tmp_path: Path, config: str) -> tuple[int, str]:
    (tmp_path / "channels.toml").write_text(config)
    errors = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(errors):
        code = main(["--db", str(tmp_path / "h.db"), "serve", "--channels",
                     str(tmp_path / "channels.toml"), "--port", "1"], out=io.StringIO())
    return code, errors.getvalue()


def test_serve_refuses_an_unauthenticated_or_empty_secret_channel_before_binding(
        tmp_path: Path) -> None:
    code, said = _serve(tmp_path, '[[channel]]\ntype = "email"\nmailbox = "s@example.com"\n')
    assert code == 2 and "Authenticated" in said and "bearer_token" in said
    code, said = _serve(tmp_path, '[[channel]]\ntype = "webchat"\nsecret = ""\nsite = "x"\n')
    assert code == 2 and "secret is empty" in said
    code, said = _serve(tmp_path, '[[channel]]\ntype = "whatsapp"\nphone_number_id = "1"\n')
    assert code == 2 and "app_secret" in said
    code, said = _serve(tmp_path, '[[channel]]\ntype = "email"\nmailbox = "s@example.com"\n'
                                  'bearer_token = ""\n')
    assert code == 2 and "bearer_token is empty" in said


def test_serve_config_wraps_a_channel_in_its_credential(tmp_path: Path) -> None:
    from omnicx._serve import load_channels

    (tmp_path / "c.toml").write_text(
        '[[channel]]\ntype = "email"\nmailbox = "s@example.com"\nbearer_token = "t0k"\n'
        '[[channel]]\ntype = "webchat"\nsecret = "s"\nsite = "shop"\n')
    mail, chat = load_channels(tmp_path / "c.toml")
    assert isinstance(mail, Authenticated) and mail.bearer_token == "t0k"
    assert isinstance(chat, WebChat)
    omnicx.webhook_app(omnicx.open(":memory:"), [mail, chat])  # both servable
    body, headers = signed(message("m1", 0), channel=chat)
    chat.verify(body, headers)


@given(body=st.binary(max_size=2000), flip=st.integers(min_value=0))
def test_an_hmac_credential_covers_every_byte_of_the_body(body: bytes, flip: int) -> None:
    mail = Authenticated(adapter=Email(mailbox="support@example.com"), hmac_secret="k3y")
    headers = mail.sign(body)
    mail.verify(body, headers)
    if body:
        at = flip % len(body)
        tampered = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1:]
        with pytest.raises(SignatureError):
            mail.verify(tampered, headers)
    with pytest.raises(SignatureError):
        mail.verify(body + b"x", headers)


def test_a_verify_that_fails_on_configuration_answers_500_and_stores_nothing() -> None:
    history = omnicx.open(":memory:")
    app = omnicx.webhook_app(history, [Misconfigured()])
    (answer,) = exchange(app, ("POST", "/webform/site", b"{}", {"X-Sig": "x"}))
    assert answer.status_code == 500 and "unreadable" in answer.json()["error"]
    assert history.report()["raw_payloads"] == {}
