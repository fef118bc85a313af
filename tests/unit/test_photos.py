"""Photo hashing: decompression bombs are refused unread, from any number of threads."""

from __future__ import annotations

import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from server.validation.photos import dhash


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that claims these dimensions (only its header; decoding it would fail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )
    return path


def test_a_photo_claiming_too_many_pixels_is_refused_unread(tmp_path: Path) -> None:
    """95 and 400 megapixels: no hash, and no memory spent decoding them."""
    assert dhash(png_header(tmp_path / "a.png", 10_000, 9_500)) is None
    assert dhash(png_header(tmp_path / "b.png", 20_000, 20_000)) is None


def test_hashing_on_threads_leaves_the_warning_filters_as_they_were(tmp_path: Path) -> None:
    """The bomb check's warning filter is process-wide; threads take turns with it."""
    before = list(warnings.filters)
    bombs = [png_header(tmp_path / f"{n}.png", 10_000, 9_500) for n in range(8)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(dhash, bombs * 25)) == [None] * 200
    assert warnings.filters == before
