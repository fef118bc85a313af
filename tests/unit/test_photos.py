"""Photo hashing: decompression bombs are refused unread, from any number of threads; the
hashing processes answer as dhash does and survive one of them dying."""

from __future__ import annotations

import os
import signal
import struct
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from server.validation import hashing
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


def test_hashing_processes_give_what_dhash_gives(tmp_path: Path) -> None:
    """Photos hashed in the processes match dhash; missing or unreadable files give None."""
    files = {}
    for n in range(6):
        Image.effect_noise((64, 48), 40 + n).save(tmp_path / f"{n}.jpg", "JPEG")
        files[f"photo{n}"] = tmp_path / f"{n}.jpg"
    (tmp_path / "text.jpg").write_text("not an image")
    files["text"], files["gone"] = tmp_path / "text.jpg", tmp_path / "gone.jpg"
    found = hashing.collect(hashing.start(files))
    assert found == {key: dhash(path) for key, path in files.items()}
    assert found["text"] is None and found["gone"] is None and found["photo0"] is not None


def test_a_dead_hashing_process_leaves_its_photos_for_later(tmp_path: Path) -> None:
    """Killed mid-part: its photos are left out, not called unreadable; a new pool hashes them."""
    files = {}
    for n in range(4):
        Image.effect_noise((64, 48), 50 + n).save(tmp_path / f"{n}.jpg", "JPEG")
        files[f"photo{n}"] = tmp_path / f"{n}.jpg"
    expected = {key: dhash(path) for key, path in files.items()}
    os.mkfifo(tmp_path / "stuck.jpg")  # opening it waits for a writer: the part never ends
    pending = hashing.start({**files, "stuck": tmp_path / "stuck.jpg"})
    pool = hashing.pool()
    assert isinstance(pool, ProcessPoolExecutor)
    for process in list(pool._processes.values()):  # type: ignore[attr-defined]
        os.kill(process.pid, signal.SIGKILL)
    partial = hashing.collect(pending)
    assert "stuck" not in partial and partial.items() < expected.items()
    assert hashing.collect(hashing.start(files)) == expected


def test_threads_take_over_where_process_pools_keep_breaking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After GIVE_UP_AFTER broken pools in a row, photos are hashed on threads."""
    Image.effect_noise((64, 48), 60).save(tmp_path / "a.jpg", "JPEG")
    monkeypatch.setattr(hashing, "_POOL", None)
    monkeypatch.setattr(hashing, "_BROKEN", hashing.GIVE_UP_AFTER)
    found = hashing.collect(hashing.start({"a": tmp_path / "a.jpg"}))
    assert found == {"a": dhash(tmp_path / "a.jpg")}
    threads = hashing.pool()
    assert isinstance(threads, ThreadPoolExecutor)
    threads.shutdown()
