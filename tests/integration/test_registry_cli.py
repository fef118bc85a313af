"""`verivali registry synth` and `registry import` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def verivali(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        VERIVALI_DATA_DIR=str(tmp_path / "data"),
        VERIVALI_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        VERIVALI_REGIONS_WITHIN="3573",
    )
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_synth_then_import_every_file(tmp_path: Path) -> None:
    """Synthetic extracts import with their shipped profiles and nothing rejected."""
    assert verivali(tmp_path, "init").returncode == 0
    out = tmp_path / "synth"
    made = verivali(
        tmp_path,
        "registry",
        "synth",
        "--kabupaten",
        "3573",
        "--persons",
        "600",
        "--seed",
        "3",
        "--out",
        str(out),
    )
    assert made.returncode == 0, made.stderr
    for source, name in (
        ("dtks", "dtks.csv"),
        ("dtsen", "dtsen.csv"),
        ("p3ke", "p3ke_keluarga.csv"),
        ("p3ke", "p3ke_individu.csv"),
    ):
        done = verivali(tmp_path, "registry", "import", str(out / name), "--source", source)
        assert done.returncode == 0, done.stderr
        assert "rejected: 0" in done.stdout


def test_wrong_layout_fails_in_one_line(tmp_path: Path) -> None:
    """An extract that matches no layout fails with one line naming the missing columns."""
    assert verivali(tmp_path, "init").returncode == 0
    path = tmp_path / "x.csv"
    path.write_text("IDDTKS|NAMA\n1|A\n")
    failed = verivali(tmp_path, "registry", "import", str(path), "--source", "dtks")
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verivali: error: x.csv:")
    assert "NOMOR_NIK" in lines[0] and "nothing was imported" in lines[0]
