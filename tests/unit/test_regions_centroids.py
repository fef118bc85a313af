"""Village centroid files read row by row with their problems, and invented centroids that
are deterministic, inside Java and about 1.4 km apart."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from server.registry.centroids import (
    CentroidFileError,
    CentroidRow,
    read_centroids,
    synthetic_centroids,
    write_centroids_csv,
)
from server.registry.regions import iter_regions
from server.rules.location import distance_m
from server.rules.model import Point

MALANG = sorted(r["code"] for r in iter_regions("3573") if r["level"] == 4)


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "centroids.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_rows_carry_their_problem_and_line(tmp_path: Path) -> None:
    """Bad codes, numbers, positions and short rows are reported by line; good rows pass."""
    path = _write(
        tmp_path,
        "\ufeffkode,nama,lat,lon\n"
        "35.73.04.1003,Kebonsari,-7.98,112.62\n"
        "\n"
        "357304,Sukun,-7.98,112.62\n"
        "3573041004,X,abc,112.6\n"
        "3573041005,X,112.6,-7.9\n"
        "3573041006,X,-7.9\n",
    )
    rows = list(read_centroids(path))
    assert rows[0] == CentroidRow(2, "3573041003", -7.98, 112.62)
    problems = {row.line: row.problem for row in rows[1:]}
    assert sorted(problems) == [4, 5, 6, 7]
    assert "not a village code" in (problems[4] or "")
    assert "'abc' is not a number" in (problems[5] or "")
    assert "outside Indonesia" in (problems[6] or "") and "swapped" in (problems[6] or "")
    assert "columns" in (problems[7] or "")


def test_semicolon_files_with_decimal_commas_and_english_names(tmp_path: Path) -> None:
    """A spreadsheet's `code;latitude;longitude` export with decimal commas reads the same."""
    path = _write(tmp_path, "Code;Latitude;Longitude\r\n3573041003;-7,98;112,62\r\n")
    assert list(read_centroids(path)) == [CentroidRow(2, "3573041003", -7.98, 112.62)]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("desa,x,y\n1,2,3\n", "kode, lat and lon"), ("kode,lat,lon\n\xff\n", "UTF-8")],
)
def test_unreadable_files_raise_one_error(tmp_path: Path, text: str, message: str) -> None:
    """No header, a wrong header or bytes that are not UTF-8 make one CentroidFileError."""
    path = _write(tmp_path, text, "latin-1")
    with pytest.raises(CentroidFileError, match=message):
        list(read_centroids(path))


def test_synthetic_centroids_are_a_pure_function_of_the_codes() -> None:
    """The same codes, in any order, dotted or not, give the same invented positions."""
    shuffled = MALANG[:]
    random.Random(3).shuffle(shuffled)
    dotted = [f"{c[:2]}.{c[2:4]}.{c[4:6]}.{c[6:]}" for c in shuffled]
    assert synthetic_centroids(MALANG) == synthetic_centroids(dotted)
    assert len(synthetic_centroids(MALANG)) == len(MALANG) == 57


def test_synthetic_centroids_lie_in_java_about_1_4_km_apart() -> None:
    """Every invented village's nearest neighbour is 1.0-1.8 km away, inside Java's box."""
    found = synthetic_centroids(MALANG)
    points = {code: Point(lat, lon) for code, (lat, lon) in found.items()}
    nearest = []
    for code, point in points.items():
        assert -8.2 <= point.lat <= -6.8 and 106 <= point.lon <= 114
        nearest.append(min(distance_m(point, p) for c, p in points.items() if c != code))
    assert min(nearest) >= 1000 and max(nearest) <= 1800
    assert 1200 <= sum(nearest) / len(nearest) <= 1450  # jitter brings the nearest closer
    # Neighbouring codes (the villages of one kecamatan, in order) are neighbours on the map.
    for before, after in zip(MALANG, MALANG[1:], strict=False):
        assert distance_m(points[before], points[after]) <= 2000


def test_written_centroids_read_back(tmp_path: Path) -> None:
    """write_centroids_csv writes what read_centroids reads, rounded to a tenth of a metre."""
    found = synthetic_centroids(MALANG[:5])
    path = tmp_path / "c.csv"
    assert write_centroids_csv(path, found) == 5
    rows = list(read_centroids(path))
    assert {row.code: (row.lat, row.lon) for row in rows} == found
    assert [row.line for row in rows] == [2, 3, 4, 5, 6]
