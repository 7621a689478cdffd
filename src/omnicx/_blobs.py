"""Blob stores: where attachment bytes live, addressed by their SHA-256.

Both implement `omnicx.typing.BlobStore` (``put`` / ``get`` / ``delete``). The key of a
blob is the hex SHA-256 of its bytes, so storing the same file twice costs
nothing and a key can never point at different content.

- `FileBlobStore(root)`: the default, one file per blob under
  ``root/ab/cd/<sha256>``, written to a temporary file and renamed so a crash
  never leaves half a blob behind.
- `MemoryBlobStore()`: a dict, for tests and short-lived processes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from ._errors import NotFoundError, StorageError

__all__ = ["FileBlobStore", "MemoryBlobStore", "blob_key"]

_KEY = re.compile(r"[0-9a-f]{64}")


def blob_key(data: bytes) -> str:
    """The key ``data`` is stored under: its hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


class MemoryBlobStore:
    """Blobs in a dict."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes, *, content_type: str | None = None) -> str:
        key = blob_key(data)
        self._blobs.setdefault(key, bytes(data))
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._blobs[key]
        except KeyError:
            raise NotFoundError(f"no blob {key!r}") from None

    def delete(self, key: str) -> None:
        self._blobs.pop(key, None)

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, key: object) -> bool:
        return key in self._blobs


class FileBlobStore:
    """Blobs as files under ``root``, fanned out by the first two bytes of the key."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            # Keys are hex digests; anything else could walk out of root.
            raise NotFoundError(f"no blob {key!r}: not a SHA-256 key")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes, *, content_type: str | None = None) -> str:
        key = blob_key(data)
        path = self._path(key)
        if path.exists():
            return key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot store blob {key} under {self.root}: {exc}") from exc
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no blob {key!r} under {self.root}") from None
        except OSError as exc:
            raise StorageError(f"cannot read blob {key} under {self.root}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Remove a blob, its bytes overwritten first (a plain unlink leaves them on disk
        until the blocks are reused; erasure wants them gone)."""
        path = self._path(key)
        try:
            with path.open("r+b") as handle:
                handle.write(bytes(path.stat().st_size))
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot delete blob {key} under {self.root}: {exc}") from exc

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(_KEY.fullmatch(key)) and self._path(key).exists()
