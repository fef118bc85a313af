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
    # Beside the extracts: invented centroids of Kota Malang's 57 villages, loadable as is.
    assert "centroids.csv: 57 rows (invented" in made.stdout
    loaded = verivali(tmp_path, "regions", "centroids", str(out / "centroids.csv"))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "centroids from centroids.csv: 57 updated, 0 unknown, 0 invalid\n"


def test_region_centroids_from_the_command_line(tmp_path: Path) -> None:
    """`regions centroids` warns per bad line, fails in one line on a useless file, invents."""
    assert verivali(tmp_path, "init").returncode == 0
    path = tmp_path / "c.csv"
    path.write_text("kode,lat,lon\n3573041003,-7.98,112.62\n3573041004,1,2\n")
    done = verivali(tmp_path, "regions", "centroids", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "centroids from c.csv: 1 updated, 0 unknown, 1 invalid\n"
    assert done.stderr.startswith("warning: line 3: lat 1, lon 2 is outside Indonesia")
    path.write_text("kode,lat,lon\n3573049999,-7.98,112.62\n")
    failed = verivali(tmp_path, "regions", "centroids", str(path))
    assert failed.returncode == 1
    assert failed.stderr == (
        "verivali: error: c.csv: no usable row (1 unknown, 0 invalid); "
        "line 2: 3573049999 is not in the region table\n"
    )
    path.write_text("desa;x\n")
    failed = verivali(tmp_path, "regions", "centroids", str(path))
    assert failed.returncode == 1 and "nothing was loaded" in failed.stderr
    assert verivali(tmp_path, "regions", "centroids").returncode == 1
    invented = verivali(tmp_path, "regions", "centroids", "--synthetic", "3573")
    assert invented.stdout.startswith("invented centroids for 57 villages of 3573: not real")
    wrong = verivali(tmp_path, "regions", "centroids", "--synthetic", "3574")
    assert wrong.returncode == 1 and "no villages in 3574" in wrong.stderr


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
