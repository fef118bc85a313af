"""Content-addressed file storage under VERIVALI_DATA_DIR/blobs.

Incoming files (upload parts, form media) are streamed into a temporary file in the data
directory while their SHA-256 and MD5 are computed, then fsynced and hard-linked to
`blobs/<aa>/<bb>/<sha256>`. A file is therefore stored once whatever name the client gave
it, no client-supplied name ever becomes a path, and a stored file never changes.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

CHUNK = 1 << 20


@dataclass(frozen=True)
class BlobInfo:
    """What we know of a stored file."""

    sha256: str
    md5: str
    size: int


class HashingFile:
    """A temporary file in the data directory that hashes what is written to it.

    With `spool` > 0 it starts in memory and moves to disk once it grows past `spool`
    bytes or when a file name is needed (small instance XML parts never touch the disk).
    """

    def __init__(self, tmp_dir: Path, spool: int = 0) -> None:
        self._tmp_dir = tmp_dir
        self._spool = spool
        self._file: IO[bytes] = io.BytesIO() if spool else self._disk_file()
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def _disk_file(self) -> IO[bytes]:
        return tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by owner)
            dir=self._tmp_dir, prefix="in-", delete=True
        )

    def _to_disk(self) -> None:
        if isinstance(self._file, io.BytesIO):
            memory, position = self._file, self._file.tell()
            self._file = self._disk_file()
            self._file.write(memory.getbuffer())
            self._file.seek(position)
            memory.close()

    @property
    def name(self) -> str:
        self._to_disk()
        return self._file.name

    def write(self, data: bytes) -> int:
        self._sha256.update(data)
        self._md5.update(data)
        self.size += len(data)
        if self._spool and self.size > self._spool:
            self._to_disk()
        return self._file.write(data)

    def info(self) -> BlobInfo:
        return BlobInfo(self._sha256.hexdigest(), self._md5.hexdigest(), self.size)

    # The rest of the file protocol, as Werkzeug's FileStorage uses it.
    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        self._file.flush()

    def fileno(self) -> int:
        self._to_disk()
        return self._file.fileno()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> HashingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlobStore:
    """Stores and serves files by SHA-256."""

    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir

    def ensure_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def clean_tmp(self) -> int:
        """Remove temporary files left by a crash; returns how many were removed."""
        removed = 0
        if self.tmp_dir.exists():
            for leftover in self.tmp_dir.iterdir():
                if leftover.name.startswith("upload-") and leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)  # a form upload's files
                    removed += 1
                elif leftover.name.startswith(("in-", "export-")):
                    leftover.unlink(missing_ok=True)
                    removed += 1
        return removed

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def incoming(self, spool: int = 0) -> HashingFile:
        """A new temporary file to stream an upload into (in memory up to `spool` bytes)."""
        return HashingFile(self.tmp_dir, spool)

    def keep(self, incoming: HashingFile) -> BlobInfo:
        """Make an incoming file durable under its hash (fsync file and directories)."""
        info = incoming.info()
        final = self.path(info.sha256)
        if final.exists():
            return info
        incoming.flush()
        os.fsync(incoming.fileno())
        if not final.parent.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(final.parent.parent)
            _fsync_dir(self.root)
        try:
            os.link(incoming.name, final)
        except FileExistsError:
            return info  # another request stored the same bytes meanwhile
        _fsync_dir(final.parent)
        return info

    def put_stream(self, stream: BinaryIO, limit: int | None = None) -> BlobInfo:
        """Copy a stream into the store; raises ValueError past `limit` bytes."""
        with self.incoming() as incoming:
            while chunk := stream.read(CHUNK):
                incoming.write(chunk)
                if limit is not None and incoming.size > limit:
                    raise ValueError(f"larger than {limit} bytes")
            return self.keep(incoming)

    def put_bytes(self, data: bytes) -> BlobInfo:
        with self.incoming() as incoming:
            incoming.write(data)
            return self.keep(incoming)

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
