"""Email end to end: parser + pipeline + store, imports, IMAP sync and SMTP send."""

from __future__ import annotations

import imaplib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _email_corpus import synthetic_mail, write_mbox
from _email_servers import Dovecot, SMTPServer, run_dovecot, run_smtp

import omnicx
from omnicx import Direction, PayloadError, Status
from omnicx._cli import main as cli
from omnicx._history import History
from omnicx._mailimport import ImportProgress
from omnicx.channels import Email, IMAPSettings, SMTPSettings

SAMPLES = Path(__file__).parent / "email_samples"
SRC = Path(__file__).resolve().parents[2] / "src"
EMAIL = Email(mailbox="support@example.com", also=["help@example.com"])


@pytest.fixture
def history() -> Iterator[History]:
    with omnicx.open(":memory:") as opened:
        yield opened


def mail(sender: str, subject: str, msgid: str, *, date: str = "Mon, 3 Mar 2025 10:00:00 +0000",
         to: str = "support@example.com", in_reply_to: str | None = None,
         body: str = "Hello") -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}",
             f"Message-ID: <{msgid}>"]
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def receive(history: History, raw: bytes) -> omnicx.Interaction:
    receipt = history.receive(EMAIL, body=raw)
    (interaction,) = receipt.interactions
    return interaction


# -- threading ------------------------------------------------------------------------------


def test_two_customers_answering_one_newsletter_never_share_a_conversation(
        history: History) -> None:
    news = receive(history, mail("support@example.com", "March newsletter", "news@example.com",
                                 to="list@example.com"))
    anna = receive(history, mail("anna@example.org", "Re: March newsletter", "a1@example.org"))
    bert = receive(history, mail("bert@example.net", "AW: March newsletter", "b1@example.net"))
    assert len({news.conversation_id, anna.conversation_id, bert.conversation_id}) == 3
    assert anna.contact_id != bert.contact_id


def test_subject_fallback_within_the_contact_and_the_window(history: History) -> None:
    first = receive(history, mail("anna@example.org", "Invoice 77", "i1@example.org"))
    again = receive(history, mail("anna@example.org", "RE: Fwd: Invoice 77", "i2@example.org",
                                  date="Tue, 4 Mar 2025 10:00:00 +0000"))
    much_later = receive(history, mail("anna@example.org", "Re: Invoice 77", "i3@example.org",
                                       date="Mon, 5 May 2025 10:00:00 +0000"))
    assert again.conversation_id == first.conversation_id
    assert much_later.conversation_id != first.conversation_id


def test_references_thread_across_subject_changes_and_outbound_replies(history: History) -> None:
    question = receive(history, mail("anna@example.org", "Question", "q1@example.org"))
    answer = receive(history, mail("help@example.com", "Re: Question", "r1@example.com",
                                   to="anna@example.org", in_reply_to="q1@example.org"))
    follow = receive(history, mail("anna@example.org", "something else entirely",
                                   "q2@example.org", in_reply_to="r1@example.com"))
    assert answer.direction is Direction.OUTBOUND
    assert answer.contact_id == question.contact_id
    assert question.conversation_id == answer.conversation_id == follow.conversation_id


def test_a_late_parent_closes_the_missing_parent_gap(history: History) -> None:
    reply = receive(history, mail("anna@example.org", "Re: Parcel", "r9@example.org",
                                  in_reply_to="p9@example.com"))
    (gap,) = history.gaps()
    assert (gap.kind, gap.reference) == ("missing_parent", "p9@example.com")
    parent = receive(history, mail("support@example.com", "Parcel", "p9@example.com",
                                   to="anna@example.org"))
    assert history.gaps() == []
    assert parent.conversation_id == reply.conversation_id


def test_loops_and_self_references_are_stored_once(history: History) -> None:
    raw = (b"From: anna@example.org\r\nTo: support@example.com\r\nSubject: loop\r\n"
           b"Message-ID: <self@x>\r\nReferences: <self@x> <self@x>\r\nIn-Reply-To: <self@x>\r\n"
           b"\r\nbody\r\n")
    first = history.receive(EMAIL, body=raw)
    second = history.receive(EMAIL, body=raw)
    assert (first.stored, second.stored, second.duplicates) == (1, 0, 1)
    assert history.gaps() == []


def test_bounce_marks_the_outbound_message_failed(history: History) -> None:
    sent = receive(history, mail("support@example.com", "Ihre Rechnung",
                                 "20250304095958.1234.5@mail.example.com",
                                 to="no.such.user@kunde.de"))
    receipt = history.receive(EMAIL, body=(SAMPLES / "bounce_dsn.eml").read_bytes())
    assert receipt.updates == 1
    assert history.interaction(sent.id).status is Status.FAILED
    (failed,) = [s for s in history.statuses(sent.id) if s.status is Status.FAILED]
    assert failed.error is not None and "User unknown" in failed.error


def test_mangled_mail_is_quarantined_not_lost(history: History) -> None:
    with pytest.raises(PayloadError) as info:
        history.receive(EMAIL, body=b"To: nobody\r\n\r\nno sender here")
    assert info.value.quarantine_id is not None
    (kept,) = history.quarantine()
    assert kept.body == b"To: nobody\r\n\r\nno sender here"


# -- file imports ---------------------------------------------------------------------------


def test_import_a_2000_message_mbox(tmp_path: Path, history: History) -> None:
    mbox = write_mbox(tmp_path / "archive.mbox", 2000)
    steps: list[ImportProgress] = []
    receipt = history.import_path(mbox, channel=EMAIL, batch_size=250, progress=steps.append)
    assert receipt.stored == 2000
    assert receipt.quarantined == 0
    assert receipt.interactions == ()  # counts only: memory stays flat
    assert [s.messages for s in steps] == list(range(250, 2001, 250))
    assert steps[-1].fraction == 1.0
    assert history.gaps() == []  # every parent of the corpus is in it
    jane = history.contacts.find("jane.doe@gmail.com")
    assert jane is not None
    page = history.timeline(jane, limit=500)
    assert len(page.items) == 500
    conversations = {i.conversation_id for i in page.items}
    assert len(conversations) == 100  # 500 messages in threads of five
    again = history.import_path(mbox, channel=EMAIL)
    assert (again.stored, again.duplicates) == (0, 0)  # the cursor is at the end


def test_the_same_archive_under_another_name_only_finds_duplicates(
        tmp_path: Path, history: History) -> None:
    first = write_mbox(tmp_path / "a.mbox", 30)
    second = write_mbox(tmp_path / "b.mbox", 30)
    assert history.import_path(first, channel=EMAIL).stored == 30
    receipt = history.import_path(second, channel=EMAIL)
    assert (receipt.stored, receipt.duplicates) == (0, 30)


def test_import_maildir_and_single_eml(tmp_path: Path, history: History) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i in range(12):
        (maildir / "new" / f"17410000{i:02d}.M{i}.host").write_bytes(synthetic_mail(i))
    assert history.import_path(maildir, channel=EMAIL, batch_size=5).stored == 12
    assert history.import_path(SAMPLES / "gmail_reply_en.eml", channel=EMAIL).stored == 1


_CRASHING_IMPORT = textwrap.dedent("""
    import os, signal, sys
    import omnicx
    from omnicx.channels import Email

    def crash(step):
        if step.messages >= 300:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally, no commit

    with omnicx.open(sys.argv[1]) as history:
        history.import_path(sys.argv[2], channel=Email(mailbox="support@example.com"),
                            batch_size=100, progress=crash)
""")


def test_import_resumes_after_sigkill_without_duplicates(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "big.mbox", 1000)
    db = tmp_path / "history.db"
    result = subprocess.run([sys.executable, "-c", _CRASHING_IMPORT, str(db), str(mbox)],
                            env={**os.environ, "PYTHONPATH": str(SRC)}, check=False,
                            capture_output=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr
    with omnicx.open(str(db)) as history:
        channel = Email(mailbox="support@example.com")
        receipt = history.import_path(mbox, channel=channel)
        assert receipt.stored == 700  # the 300 committed before the kill are not read again
        assert receipt.duplicates == 0
        report = history.report()
        assert sum(report["interactions"].values()) == 1000


def test_cli_import_prints_progress_and_counts(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    mbox = write_mbox(tmp_path / "cli.mbox", 40)
    db = str(tmp_path / "cli.db")
    assert cli(["--db", db, "import", str(mbox), "--mailbox", "support@example.com",
                "--batch-size", "10"]) == 0
    captured = capsys.readouterr()
    assert "stored 40" in captured.out
    assert "100.0%" in captured.err and "40 messages" in captured.err
    assert cli(["--db", db, "import", str(mbox), "--mailbox", "support@example.com",
                "--quiet", "--json"]) == 0
    assert '"stored": 0' in capsys.readouterr().out
    assert cli(["--db", db, "import", str(tmp_path / "missing.mbox"),
                "--mailbox", "support@example.com"]) == 2


# -- IMAP and SMTP ----------------------------------------------------------------------------


def _append(server: Dovecot, folder: str, messages: list[bytes], *, create: bool) -> None:
    client = imaplib.IMAP4(server.host, server.port)
    client.login(server.user, server.password)
    if create:
        client.create(f'"{folder}"')
    for raw in messages:
        assert client.append(f'"{folder}"', None, None, raw)[0] == "OK"
    client.logout()


def test_imap_sync_survives_downtime_and_uidvalidity_change(history: History) -> None:
    with run_dovecot() as server:
        channel = Email(mailbox="support@example.com", imap=IMAPSettings(
            host=server.host, port=server.port, username=server.user,
            password=server.password, security="none", folders=("INBOX", "Archive"),
            batch_size=4))
        _append(server, "INBOX", [synthetic_mail(i) for i in range(5)], create=False)
        _append(server, "Archive", [synthetic_mail(i) for i in range(100, 103)], create=True)
        assert history.sync_imap(channel).stored == 8
        assert history.sync_imap(channel).stored == 0
        assert history.cursor("imap:support@example.com:INBOX", ).endswith(":5")  # type: ignore[union-attr]
        # a week of downtime
        _append(server, "INBOX", [synthetic_mail(i) for i in range(5, 25)], create=False)
        assert history.sync_imap(channel, folders=["INBOX"]).stored == 20
        # the Archive folder is rebuilt: new UIDVALIDITY, same mail plus one new message
        client = imaplib.IMAP4(server.host, server.port)
        client.login(server.user, server.password)
        assert client.delete('"Archive"')[0] == "OK"
        client.logout()
        time.sleep(1.1)
        _append(server, "Archive", [synthetic_mail(i) for i in range(100, 104)], create=True)
        receipt = history.sync_imap(channel)
        assert (receipt.stored, receipt.duplicates) == (1, 3)
        assert sum(history.report()["interactions"].values()) == 29


def test_send_is_recorded_with_its_message_id_and_the_reply_threads_onto_it(
        history: History) -> None:
    with run_smtp() as server:
        channel = _smtp_channel(server)
        sent = history.send(channel, to="jane.doe@gmail.com", subject="Order 10432",
                            text="Your parcel left our warehouse.")
        ((_, rcpts, data),) = server.messages
        assert rcpts == ["jane.doe@gmail.com"]
        assert sent.status is Status.SENT
        assert f"Message-ID: <{sent.external_id}>".encode() in data
        reply = receive(history, mail("Jane Doe <jane.doe@gmail.com>", "Re: Order 10432",
                                      "jr@gmail.com", in_reply_to=sent.external_id,
                                      body="Thanks!\r\n\r\n> Your parcel left our warehouse."))
        assert reply.conversation_id == sent.conversation_id
        assert reply.text == "Thanks!"
        assert history.gaps() == []
        # answering the reply carries the whole thread in References
        answer = history.send(channel, to="jane.doe@gmail.com", text="You're welcome.",
                              reply_to=reply)
        sent_answer = server.messages[-1][2]
        assert f"In-Reply-To: <{reply.external_id}>".encode() in sent_answer
        assert f"<{sent.external_id}> <{reply.external_id}>".encode() in sent_answer
        assert b"Subject: Re: Order 10432" in sent_answer
        assert answer.conversation_id == sent.conversation_id


def _smtp_channel(server: SMTPServer) -> Email:
    return Email(mailbox="support@example.com",
                 smtp=SMTPSettings(host=server.host, port=server.port, security="none"))


def test_channel_settings_from_a_toml_channel_file() -> None:
    channel = Email(mailbox="support@example.com",
                    smtp={"host": "smtp.example.com", "port": 465, "security": "ssl"},  # type: ignore[arg-type]
                    imap={"host": "imap.example.com", "username": "u", "password": "p",  # type: ignore[arg-type]
                          "folders": ["INBOX", "Sent"]})
    assert channel.smtp == SMTPSettings(host="smtp.example.com", port=465, security="ssl")
    assert channel.imap is not None and channel.imap.folders == ("INBOX", "Sent")
