"""Sending email through a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from _email_servers import SMTPServer, free_port, run_smtp

from omnicx import Address, ConfigurationError, Interaction, MessageEvent, Outgoing, SendError
from omnicx.channels import Email, SMTPSettings
from omnicx.channels.email._mime import parse_mail


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with run_smtp() as server:
        yield server


def channel(server: SMTPServer) -> Email:
    return Email(mailbox="support@example.com", display_name="Example Support",
                 smtp=SMTPSettings(host=server.host, port=server.port, security="none"))


def outgoing(**overrides: object) -> Outgoing:
    fields: dict[str, object] = {
        "client_id": "c-1", "contact_id": 1,
        "to": Address(kind="email", value="Jane.Doe@gmail.com", name="Jane Doe"),
        "text": "Your parcel left our warehouse.", "subject": "Order 10432",
    }
    fields.update(overrides)
    return Outgoing(**fields)  # type: ignore[arg-type]


def test_send_builds_a_proper_message_and_returns_its_message_id(smtp: SMTPServer) -> None:
    result = channel(smtp).send(outgoing(html="<p>Your parcel left our warehouse.</p>"))
    ((mail_from, rcpt_tos, data),) = smtp.messages
    assert mail_from == "support@example.com"
    assert rcpt_tos == ["jane.doe@gmail.com"]
    sent = parse_mail(data)
    assert sent.message_id == result.external_id
    assert result.external_id.endswith("@example.com")
    assert result.data["message_id"] == f"<{result.external_id}>"
    assert sent.subject == "Order 10432"
    assert sent.from_ == (("Example Support", "support@example.com"),)
    assert sent.to == (("Jane Doe", "jane.doe@gmail.com"),)
    assert sent.text == "Your parcel left our warehouse.\n"
    assert sent.html == "<p>Your parcel left our warehouse.</p>\n"
    assert sent.in_reply_to == ()
    assert sent.date is not None


def test_a_reply_carries_in_reply_to_references_and_re_subject(smtp: SMTPServer) -> None:
    now = dt.datetime(2025, 3, 4, tzinfo=dt.UTC)
    parent = Interaction(
        id=7, contact_id=1, conversation_id=3, channel="email", account="support@example.com",
        direction="inbound", kind="message", external_id="CAF3x9@mail.gmail.com",
        occurred_at=now, received_at=now, subject="Wo bleibt meine Bestellung?")
    result = channel(smtp).send(outgoing(subject=None, reply_to=parent,
                                         references=("root@example.com",)))
    sent = parse_mail(smtp.messages[0][2])
    assert sent.in_reply_to == ("CAF3x9@mail.gmail.com",)
    assert sent.references == ("root@example.com", "CAF3x9@mail.gmail.com")
    assert sent.subject == "Re: Wo bleibt meine Bestellung?"
    assert result.subject == "Re: Wo bleibt meine Bestellung?"
    # and the customer's answer to it threads back onto it
    answer = (f"From: jane.doe@gmail.com\r\nTo: support@example.com\r\n"
              f"Message-ID: <ans@gmail>\r\nIn-Reply-To: <{result.external_id}>\r\n"
              f"Subject: Re: {sent.subject}\r\n\r\nDanke\r\n")
    event = channel(smtp).parse(answer.encode())[0]
    assert isinstance(event, MessageEvent)
    assert event.reply_to == result.external_id


def test_refused_recipient_is_a_permanent_send_error(smtp: SMTPServer) -> None:
    with pytest.raises(SendError) as info:
        channel(smtp).send(outgoing(to=Address(kind="email", value="reject@example.org")))
    assert info.value.code == 550
    assert info.value.retryable is False
    assert smtp.messages == []


def test_unreachable_server_is_a_retryable_send_error() -> None:
    email = Email(mailbox="support@example.com",
                  smtp=SMTPSettings(host="127.0.0.1", port=free_port(), security="none",
                                    timeout=2))
    with pytest.raises(SendError) as info:
        email.send(outgoing())
    assert info.value.retryable is True


def test_sending_needs_smtp_settings_and_an_email_address(smtp: SMTPServer) -> None:
    with pytest.raises(ConfigurationError, match="smtp"):
        Email(mailbox="support@example.com").send(outgoing())
    with pytest.raises(SendError, match="phone"):
        channel(smtp).send(outgoing(to=Address(kind="phone", value="+41791234567")))
    with pytest.raises(SendError, match="text or html"):
        channel(smtp).send(outgoing(text=None))
    with pytest.raises(ConfigurationError):
        SMTPSettings(host="x", security="tls-please")
