"""Incremental IMAP fetching against a real Dovecot on loopback."""

from __future__ import annotations

import imaplib
import time
from collections.abc import Iterator

import pytest
from _email_corpus import synthetic_mail
from _email_servers import Dovecot, free_port, run_dovecot

from omnicx import ConfigurationError
from omnicx.channels import IMAPSettings
from omnicx.channels.email._imap import ImapCursor, fetch_new
from omnicx.channels.email._mailsources import MailSourceError
from omnicx.channels.email._mime import parse_mail


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with run_dovecot() as server:
        yield server


def settings(server: Dovecot, **overrides: object) -> IMAPSettings:
    fields: dict[str, object] = {"host": server.host, "port": server.port,
                                 "username": server.user, "password": server.password,
                                 "security": "none", "batch_size": 3}
    fields.update(overrides)
    return IMAPSettings(**fields)  # type: ignore[arg-type]


def append(server: Dovecot, folder: str, messages: list[bytes]) -> None:
    client = imaplib.IMAP4(server.host, server.port)
    client.login(server.user, server.password)
    quoted = f'"{folder}"'  # imaplib does not quote mailbox names
    if folder != "INBOX":
        client.create(quoted)
    for raw in messages:
        assert client.append(quoted, None, None, raw)[0] == "OK"
    client.logout()


def ids(fetched: list[object]) -> list[str | None]:
    return [parse_mail(m.raw).message_id for m in fetched]  # type: ignore[attr-defined]


def test_fetch_all_then_only_new_mail(dovecot: Dovecot) -> None:
    append(dovecot, "INBOX", [synthetic_mail(i) for i in range(7)])
    first = list(fetch_new(settings(dovecot), "INBOX", None))
    assert ids(first) == [parse_mail(synthetic_mail(i)).message_id for i in range(7)]
    assert [m.uid for m in first] == list(range(1, 8))
    cursor = first[-1].cursor
    assert str(cursor) == f"{first[0].uidvalidity}:7"
    assert ImapCursor.parse(str(cursor)) == cursor
    assert list(fetch_new(settings(dovecot), "INBOX", cursor)) == []  # "8:*" still matches 7
    # a week of downtime: many messages arrive, nothing is lost
    append(dovecot, "INBOX", [synthetic_mail(i) for i in range(7, 30)])
    later = list(fetch_new(settings(dovecot), "INBOX", cursor))
    assert [m.uid for m in later] == list(range(8, 31))
    assert not any(m.resynced for m in later)


def test_fetching_does_not_mark_mail_read(dovecot: Dovecot) -> None:
    append(dovecot, "INBOX", [synthetic_mail(0)])
    list(fetch_new(settings(dovecot), "INBOX", None))
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    client.login(dovecot.user, dovecot.password)
    client.select("INBOX", readonly=True)
    assert client.uid("SEARCH", "UNSEEN")[1] == [b"1"]
    client.logout()


def test_uidvalidity_change_resyncs_the_folder(dovecot: Dovecot) -> None:
    append(dovecot, "Support Requests", [synthetic_mail(i) for i in range(3)])
    first = list(fetch_new(settings(dovecot), "Support Requests", None))
    cursor = first[-1].cursor
    # The folder is recreated: the server renumbers its UIDs with a new UIDVALIDITY.
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    client.login(dovecot.user, dovecot.password)
    assert client.delete('"Support Requests"')[0] == "OK"
    client.logout()
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    append(dovecot, "Support Requests", [synthetic_mail(i) for i in range(4)])
    again = list(fetch_new(settings(dovecot), "Support Requests", cursor))
    assert again[0].uidvalidity != cursor.uidvalidity
    assert all(m.resynced for m in again)
    assert ids(again) == [parse_mail(synthetic_mail(i)).message_id for i in range(4)]


def test_bad_credentials_and_unknown_folder_are_mail_source_errors(dovecot: Dovecot) -> None:
    with pytest.raises(MailSourceError, match="IMAP"):
        list(fetch_new(settings(dovecot, username="nobody", password="wrong"), "INBOX", None))
    dovecot_down = settings(dovecot, port=free_port())
    with pytest.raises(MailSourceError):
        list(fetch_new(dovecot_down, "INBOX", None))
    with pytest.raises(MailSourceError, match=r"cannot be selected|IMAP"):
        list(fetch_new(settings(dovecot), "No Such Folder", None))


def test_cursor_and_settings_validation() -> None:
    assert ImapCursor.parse(None) is None
    assert ImapCursor.parse("12:34") == ImapCursor(12, 34)
    with pytest.raises(ConfigurationError):
        ImapCursor.parse("garbage")
    with pytest.raises(ConfigurationError):
        IMAPSettings(host="x", username="u", password="p", security="plain")
