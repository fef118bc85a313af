"""Village centroids (V32): reading an operator's CSV into the region table, and inventing
positions for demos and benchmarks.

This module owns the `lat`/`lon` of the desa/kelurahan rows of `regions`. The Kemendagri
table we ship has codes and names only, and no village boundary polygons or centroids with
a clear licence are bundled. An operator loads centroids they are licensed to use (for
example computed from BPS or BIG village boundaries) with `verivali regions centroids
FILE.csv`; villages without one are not judged by V32.

`synthetic_centroids` is NOT geography: it invents positions on a grid so that a demo or a
benchmark has something for V32 to measure against. Never load them for real fieldwork.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from server.registry import queries
from server.registry.regions import undotted

# Indonesia's bounding box with a margin (Pulau We to Merauke, Miangas to Rote): a centroid
# outside it is a typo or swapped columns.
LAT_RANGE = (-11.0, 6.5)
LON_RANGE = (94.0, 141.5)
CODE_COLUMNS = ("kode", "code", "kode_desa")
LAT_COLUMNS = ("lat", "latitude")
LON_COLUMNS = ("lon", "longitude", "lng")
DELIMITERS = (",", ";", "\t", "|")
BATCH = 1000
MAX_PROBLEMS = 20
_VILLAGE = re.compile(r"[0-9]{10}")

# The invented layout: villages of one kabupaten on a grid SPACING_M apart, each moved by up
# to JITTER of the spacing on each axis, around an origin inside Java's box.
SPACING_M = 1400.0
JITTER = 0.12
JAVA_LAT = (-8.2, -6.8)
JAVA_LON = (106.0, 114.0)
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180  # along a meridian, mean Earth radius


class CentroidFileError(ValueError):
    """The file as a whole cannot be read (no usable header, not UTF-8 text)."""


@dataclass(frozen=True)
class CentroidRow:
    """One data row of a centroid file; `problem` says why it cannot be used."""

    line: int
    code: str
    lat: float = 0.0
    lon: float = 0.0
    problem: str | None = None


@dataclass
class CentroidSummary:
    """What loading a file did; `problems` holds the first MAX_PROBLEMS, by line."""

    updated: int = 0
    unknown: int = 0
    invalid: int = 0
    found: list[tuple[int, str]] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        if len(self.found) < MAX_PROBLEMS:
            self.found.append((line, message))

    @property
    def problems(self) -> list[str]:
        """'line N: what is wrong', in line order."""
        return [f"line {line}: {message}" for line, message in sorted(self.found)]


def _column(cells: list[str], names: tuple[str, ...]) -> int | None:
    return next((i for i, cell in enumerate(cells) if cell in names), None)


def _header(first: str) -> tuple[str, int, int, int]:
    """The delimiter and the code, lat and lon columns named by the header line."""
    for delimiter in DELIMITERS:
        cells = [c.strip().lower() for c in next(csv.reader([first], delimiter=delimiter))]
        columns = [_column(cells, names) for names in (CODE_COLUMNS, LAT_COLUMNS, LON_COLUMNS)]
        code, lat, lon = columns
        if code is not None and lat is not None and lon is not None:
            return delimiter, code, lat, lon
    raise CentroidFileError(
        f"line 1: the header must name the columns kode, lat and lon (got {first.strip()[:80]!r})"
    )


def _number(text: str, decimal_comma: bool) -> float | None:
    cleaned = text.strip().replace(",", ".") if decimal_comma else text.strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _row(line: int, code_text: str, lat_text: str, lon_text: str, comma: bool) -> CentroidRow:
    code = undotted(code_text.strip())
    if not _VILLAGE.fullmatch(code):
        return CentroidRow(line, code, problem=f"{code_text.strip()!r} is not a village code")
    lat, lon = _number(lat_text, comma), _number(lon_text, comma)
    if lat is None or lon is None:
        bad = lat_text if lat is None else lon_text
        return CentroidRow(line, code, problem=f"{bad.strip()!r} is not a number")
    lat_ok = LAT_RANGE[0] <= lat <= LAT_RANGE[1]
    lon_ok = LON_RANGE[0] <= lon <= LON_RANGE[1]
    if not (lat_ok and lon_ok):
        swapped = LAT_RANGE[0] <= lon <= LAT_RANGE[1] and LON_RANGE[0] <= lat <= LON_RANGE[1]
        return CentroidRow(
            line,
            code,
            problem=f"lat {lat:g}, lon {lon:g} is outside Indonesia (lat {LAT_RANGE[0]:g} to "
            f"{LAT_RANGE[1]:g}, lon {LON_RANGE[0]:g} to {LON_RANGE[1]:g})"
            + ("; lat and lon swapped?" if swapped else ""),
        )
    return CentroidRow(line, code, lat, lon)


def read_centroids(path: Path) -> Iterator[CentroidRow]:
    """Stream the rows of a centroid CSV: header `kode,lat,lon` (or code/latitude/longitude,
    any order, other columns ignored; `;`, tab or `|` delimited files may use a decimal
    comma). Dotted codes are undotted. Rows that cannot be used carry their problem;
    a file without a usable header raises CentroidFileError."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first, header_lines = handle.readline(), 1
            while first and not first.strip():
                first, header_lines = handle.readline(), header_lines + 1
            if not first:
                raise CentroidFileError("the file is empty")
            delimiter, code, lat, lon = _header(first)
            width = max(code, lat, lon) + 1
            reader = csv.reader(handle, delimiter=delimiter)
            for cells in reader:
                line = reader.line_num + header_lines
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) < width:
                    yield CentroidRow(line, "", problem=f"{len(cells)} columns, {width} needed")
                    continue
                yield _row(line, cells[code], cells[lat], cells[lon], delimiter != ",")
    except UnicodeDecodeError:
        raise CentroidFileError("not UTF-8 text") from None
    except csv.Error as exc:
        raise CentroidFileError(f"not a CSV file: {exc}") from None


def do_load_centroids(session: Session, rows: Iterable[CentroidRow]) -> CentroidSummary:
    """Store the centroids of the rows naming a desa/kelurahan of the region table; count the
    rest as unknown (no such code) or invalid (a bad row, or not a village)."""
    summary = CentroidSummary()
    batch: list[CentroidRow] = []
    for row in rows:
        if row.problem is not None:
            summary.invalid += 1
            summary.problem(row.line, row.problem)
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            _store(session, batch, summary)
            batch = []
    if batch:
        _store(session, batch, summary)
    return summary


def _store(session: Session, batch: list[CentroidRow], summary: CentroidSummary) -> None:
    levels = queries.region_levels(session, sorted({row.code for row in batch}))
    found: dict[str, tuple[float, float]] = {}
    for row in batch:
        level = levels.get(row.code)
        if level is None:
            summary.unknown += 1
            summary.problem(row.line, f"{row.code} is not in the region table")
        elif level != 4:
            summary.invalid += 1
            summary.problem(row.line, f"{row.code} is not a desa/kelurahan")
        else:
            found[row.code] = (row.lat, row.lon)
            summary.updated += 1
    queries.set_centroids(session, found)


def _fraction(text: str, salt: str) -> float:
    """A number in [0, 1) drawn from the text (the same text, the same number)."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _kabupaten_grid(kabupaten: str, codes: list[str]) -> dict[str, tuple[float, float]]:
    columns = math.ceil(math.sqrt(len(codes)))
    rows = math.ceil(len(codes) / columns)
    dlat = SPACING_M / METRES_PER_DEGREE
    height = (rows - 1) * dlat
    lat0 = JAVA_LAT[0] + _fraction(kabupaten, "lat") * max(0.0, JAVA_LAT[1] - JAVA_LAT[0] - height)
    dlon = dlat / math.cos(math.radians(lat0 + height / 2))
    width = (columns - 1) * dlon
    lon0 = JAVA_LON[0] + _fraction(kabupaten, "lon") * max(0.0, JAVA_LON[1] - JAVA_LON[0] - width)
    found = {}
    for index, code in enumerate(codes):
        row, column = divmod(index, columns)
        if row % 2:  # serpentine: consecutive codes stay neighbours across row ends
            column = columns - 1 - column
        jitter_lat = (2 * _fraction(code, "jitter-lat") - 1) * JITTER
        jitter_lon = (2 * _fraction(code, "jitter-lon") - 1) * JITTER
        lat = lat0 + (row + jitter_lat) * dlat
        lon = lon0 + (column + jitter_lon) * dlon
        found[code] = (round(lat, 6), round(lon, 6))
    return found


def synthetic_centroids(codes: Iterable[str]) -> dict[str, tuple[float, float]]:
    """INVENTED positions for these village codes, not geography: a pure function of the
    codes. The villages of each kabupaten lie on a grid about 1.4 km apart (each moved by up
    to 12 % of that), filled in code order along serpentine rows, so the villages of one
    kecamatan sit next to each other; the grid sits at a place inside Java's box (lat -8.2
    to -6.8, lon 106 to 114) drawn from the kabupaten code. Two kabupaten may overlap."""
    by_kabupaten: dict[str, list[str]] = {}
    for code in sorted({undotted(c) for c in codes}):
        by_kabupaten.setdefault(code[:4], []).append(code)
    found: dict[str, tuple[float, float]] = {}
    for kabupaten, villages in sorted(by_kabupaten.items()):
        found.update(_kabupaten_grid(kabupaten, villages))
    return found


def write_centroids_csv(path: Path, centroids: Mapping[str, tuple[float, float]]) -> int:
    """Write `kode,lat,lon` rows (codes in order), as `read_centroids` reads them; the count."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("kode", "lat", "lon"))
        for code in sorted(centroids):
            lat, lon = centroids[code]
            writer.writerow((code, f"{lat:.6f}", f"{lon:.6f}"))
    return len(centroids)


def check_kabupaten(kabupaten: str) -> str:
    """An undotted kabupaten/kota code ('35.73' -> '3573'); ValueError when it is not one."""
    code = undotted(kabupaten.strip())
    if not re.fullmatch(r"[0-9]{4}", code):
        raise ValueError(f"{kabupaten!r} is not a kabupaten/kota code like 3573 or 35.73")
    return code


def do_synthetic_centroids(session: Session, kabupaten: str, missing_only: bool = False) -> int:
    """Store INVENTED centroids (`synthetic_centroids`) for the kabupaten's villages in the
    region table (only those without one, if `missing_only`); how many were stored."""
    code = check_kabupaten(kabupaten)
    villages = queries.villages_within(session, code)
    if not villages:
        raise ValueError(f"the region table has no villages in {code}")
    invented = synthetic_centroids(villages)
    if missing_only:
        missing = set(queries.villages_within(session, code, missing_only=True))
        invented = {c: point for c, point in invented.items() if c in missing}
    queries.set_centroids(session, invented)
    return len(invented)
