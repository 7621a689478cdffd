"""Attachment bytes: kept in the blob store, sealed with the contact's key, erased with them.

An email's parts reach the history's blob store when it is received;
`History.attachment` returns them, checked against the SHA-256 the
interaction recorded. With a key each file is sealed under the contact's
data key, so nothing of it is readable on disk and erasure shreds it; erasure
also deletes the files.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import omnicx
from integrity_support import KEY
from omnicx.channels import Email

MAILBOX = Email(mailbox="support@example.com")
SECRET = b"%PDF-1.4 contract of Anna Muster, IBAN CH93 0076 2011 6238 5295 7"
PICTURE = b"\x89PNG\r\n\x1a\n scan of a passport"


def _mail(number: int = 1) -> bytes:
    """A multipart message with a PDF attachment and an inline picture (RFC 2046)."""
    pdf = base64.encodebytes(SECRET).decode()
    png = base64.encodebytes(PICTURE).decode()
    return (
        "From: Anna Muster <anna@example.com>\r\n"
        "To: support@example.com\r\n"
        "Subject: My contract\r\n"
        f"Message-ID: <att-{number}@example.com>\r\n"
        "Date: Wed, 05 Mar 2025 09:12:30 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attached contract.\r\n"
        "--b1\r\nContent-Type: application/pdf; name=\"contract.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"contract.pdf\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n"
        "--b1\r\nContent-Type: image/png\r\nContent-ID: <scan1@example.com>\r\n"
        "Content-Disposition: inline; filename=\"scan.png\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{png}\r\n"
        "--b1--\r\n"
    ).encode()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(params=["sqlite", "postgres"])
def opened(request: pytest.FixtureRequest, tmp_path: Path
           ) -> Iterator[tuple[omnicx.History, Path]]:
    """A history with a key and its blob directory (the default one for SQLite)."""
    if request.param == "sqlite":
        with omnicx.open(tmp_path / "h.db", key=KEY) as history:
            yield history, tmp_path / "h.blobs"
        return
    url, schema = request.getfixturevalue("postgres_schema")
    with omnicx.open(url, schema=schema, key=KEY, blobs=tmp_path / "blobs") as history:
        yield history, tmp_path / "blobs"


def test_attachment_bytes_are_kept_sealed_and_erased(
        opened: tuple[omnicx.History, Path]) -> None:
    history, root = opened
    (item,) = history.receive(MAILBOX, body=_mail()).interactions
    pdf, png = item.attachments
    assert (pdf.filename, png.filename) == ("contract.pdf", "scan.png")
    assert png.ref == "cid:scan1@example.com"  # the provider's reference stays
    assert history.attachment(item, 0) == SECRET
    assert history.attachment(item.id, 1) == PICTURE
    assert pdf.sha256 == hashlib.sha256(SECRET).hexdigest()
    files = _files(root)
    assert len(files) == 2
    on_disk = b"".join(p.read_bytes() for p in files)
    assert SECRET not in on_disk and b"IBAN" not in on_disk and b"passport" not in on_disk
    # The timeline reads the same attachments back (opened).
    anna = history.contacts.find("anna@example.com")
    assert anna is not None
    assert history.timeline(anna).items[0].attachments == (pdf, png)
    assert history.verify().ok
    history.erase(anna)
    assert _files(root) == []
    with pytest.raises(omnicx.NotFoundError, match="erased"):
        history.attachment(item, 0)
    assert history.verify().ok


def test_erasure_shreds_a_copy_of_the_file_taken_before(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        (item,) = history.receive(MAILBOX, body=_mail()).interactions
        copies = {p.name: p.read_bytes() for p in _files(tmp_path / "h.blobs")}
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        history.erase(anna)
        # A backup of the blob directory put back after the erasure opens for no one.
        for name, data in copies.items():
            target = tmp_path / "h.blobs" / name[:2] / name[2:4] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        with pytest.raises(omnicx.NotFoundError):
            history.attachment(item, 0)


def test_without_a_key_the_bytes_are_kept_and_erased(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        (item,) = history.receive(MAILBOX, body=_mail()).interactions
        assert history.attachment(item, 0) == SECRET
        assert SECRET in b"".join(p.read_bytes() for p in _files(tmp_path / "h.blobs"))
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        history.erase(anna)
        assert _files(tmp_path / "h.blobs") == []


def test_missing_and_tampered_attachments_are_typed_errors(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        (item,) = history.receive(MAILBOX, body=_mail()).interactions
        with pytest.raises(omnicx.NotFoundError, match="no attachment 2"):
            history.attachment(item, 2)
        with pytest.raises(omnicx.NotFoundError, match="no interaction"):
            history.attachment(9999, 0)
        assert item.attachments[0].blob is not None
        path = next(p for p in _files(tmp_path / "h.blobs")
                    if p.name == item.attachments[0].blob)
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")
        with pytest.raises(omnicx.TamperedError):
            history.attachment(item, 0)
        path.unlink()
        with pytest.raises(omnicx.NotFoundError):
            history.attachment(item, 0)


def test_in_memory_and_without_a_blob_store(tmp_path: Path) -> None:
    with omnicx.open(":memory:", key=KEY) as history:
        (item,) = history.receive(MAILBOX, body=_mail()).interactions
        assert history.attachment(item, 1) == PICTURE
    store = omnicx.storage.SQLiteStore(tmp_path / "other.db")
    with omnicx.History(store, key=KEY) as history:  # no blob store: metadata only
        (item,) = history.receive(MAILBOX, body=_mail()).interactions
        assert item.attachments[0].size == len(SECRET)
        with pytest.raises(omnicx.NotFoundError, match="not kept"):
            history.attachment(item, 0)


def test_recorded_attachments_go_to_the_history_blob_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`History.record` without ``blobs=``: the scanned letter is sealed and erased too."""
    monkeypatch.chdir(tmp_path)  # where ./omnicx-media would appear
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        letter = history.record(channel="letter", direction="inbound",
                                contact="anna@example.com", subject="Contract",
                                attachments=[SECRET], external_id="post-1")
        (attachment,) = letter.attachments
        assert attachment.blob is not None and attachment.ref is None
        assert history.attachment(letter, 0) == SECRET
        assert SECRET not in b"".join(p.read_bytes() for p in _files(tmp_path / "h.blobs"))
        assert not Path("omnicx-media").exists()  # nothing in the clear beside it
        history.erase(history.contacts.get(letter.contact_id))
        assert _files(tmp_path / "h.blobs") == []
