"""Blob stores: content-addressed, idempotent, typed errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from omnicx import NotFoundError
from omnicx._blobs import FileBlobStore, MemoryBlobStore
from omnicx.typing import BlobStore


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return FileBlobStore(tmp_path / "blobs") if request.param == "file" else MemoryBlobStore()


def test_put_returns_the_sha256_and_get_returns_the_bytes(store: BlobStore) -> None:
    data = b"%PDF-1.7 invoice"
    key = store.put(data, content_type="application/pdf")
    assert key == hashlib.sha256(data).hexdigest()
    assert store.get(key) == data


def test_put_is_idempotent(store: BlobStore) -> None:
    assert store.put(b"same") == store.put(b"same")


def test_empty_blob(store: BlobStore) -> None:
    assert store.get(store.put(b"")) == b""


@pytest.mark.parametrize("key", ["0" * 64, "../../etc/passwd", "", "A" * 64])
def test_unknown_or_invalid_keys_are_not_found(store: BlobStore, key: str) -> None:
    with pytest.raises(NotFoundError):
        store.get(key)


def test_file_store_layout_and_no_temporary_files_left(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    key = store.put(b"voice note")
    assert (tmp_path / key[:2] / key[2:4] / key).read_bytes() == b"voice note"
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []
    assert key in store and "nope" not in store
