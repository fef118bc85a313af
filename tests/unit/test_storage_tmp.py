"""Leftovers of a crash in the data directory's tmp (server/storage.py clean_tmp)."""

from __future__ import annotations

from pathlib import Path

from server.storage import BlobStore


def test_clean_tmp_removes_what_a_crash_left_and_nothing_else(tmp_path: Path) -> None:
    """Half-received bodies, exports and form upload folders go; other files stay."""
    store = BlobStore(tmp_path / "blobs", tmp_path / "tmp")
    store.ensure_dirs()
    tmp = tmp_path / "tmp"
    (tmp / "in-abc").write_bytes(b"x")
    (tmp / "export-1.xlsx").write_bytes(b"x")
    upload = tmp / "upload-xyz"
    upload.mkdir()
    (upload / "form.xlsx").write_bytes(b"x")
    (tmp / "keep.txt").write_bytes(b"x")
    assert store.clean_tmp() == 3
    assert sorted(p.name for p in tmp.iterdir()) == ["keep.txt"]
