"""`verivali registry ...`: importing, synthesising, matching and comparing extracts; and
`verivali regions ...`: what an operator adds to the region table (village centroids)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from server.cli_base import CliError, unit_of_work
from server.registry.mapping import ProfileError, load_profile
from server.registry.readers import ExtractError

SOURCES = ["dtks", "dtsen", "p3ke"]


@click.group()
def registry() -> None:
    """Import registry extracts (DTKS, DTSEN, P3KE)."""


@registry.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", type=click.Choice(SOURCES), required=True, help="Which registry.")
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A mapping profile (TOML) for a layout we do not know.",
)
@click.option(
    "--rejected",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write rejected rows (default: beside the file).",
)
@click.option(
    "--recheck/--no-recheck",
    default=True,
    show_default=True,
    help="Queue every submission to be checked again against the new extract.",
)
def import_(
    path: Path, source: str, mapping: Path | None, rejected: Path | None, recheck: bool
) -> None:
    """Import a CSV (any delimiter) or XLSX extract; re-importing updates in place. Every
    submission is then queued to be checked again against the new extract."""
    from server.registry.importer import ExtractImportError, do_import
    from server.validation import jobs

    if not path.is_file():
        raise CliError(f"no such file: {path}")
    try:
        profile = load_profile(mapping) if mapping else None
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    rejected = rejected or path.with_name(path.stem + ".rejected.csv")
    bar = click.progressbar(
        length=max(path.stat().st_size, 1),
        label="importing",
        file=sys.stderr,
        hidden=not sys.stderr.isatty(),  # scripts and logs get the summary only
    )
    with bar, unit_of_work(bulk=True) as (svc, session):
        done = [0]

        def progress(consumed: int, _total: int) -> None:
            bar.update(consumed - done[0])
            done[0] = consumed

        try:
            summary = do_import(session, path, source, profile, rejected, progress)
        except (ExtractImportError, ExtractError) as exc:
            raise CliError(f"{path.name}: {exc}; nothing was imported") from None
        rechecks = jobs.enqueue_all(session, "registry") if recheck else 0
        jobs.notify_all(session, svc, rechecks)
    click.echo(
        f"imported {path.name} as {source} with profile {summary.profile} "
        f"in {summary.seconds:.1f} s"
    )
    click.echo(
        f"rows: {summary.rows:,}  persons: {summary.persons:,}  "
        f"households: {summary.households:,}  rejected: {summary.rejected:,}"
        + (f" (see {rejected})" if summary.rejected else "")
    )
    for code, count in summary.issues.most_common(10):
        click.echo(f"  {code}: {count:,}")
    if rechecks:
        click.echo(f"queued {rechecks:,} submissions to check again against this extract")


@registry.command("match")
@click.option("--nik", help="NIK as recorded (typos are looked for too).")
@click.option("--name", default="", help="Name as recorded.")
@click.option("--dob", help="Birth date: YYYY-MM-DD or DD-MM-YYYY.")
@click.option("--sex", type=click.Choice(["L", "P"]), help="L (laki-laki) or P (perempuan).")
@click.option("--village", help="Kemendagri village code (10 digits, dots allowed).")
@click.option("--kk", help="KK (family card) number.")
@click.option("--mother", help="Mother's name.")
@click.option(
    "--source", "sources", type=click.Choice(SOURCES), multiple=True, help="Only these registries."
)
@click.option("--limit", type=click.IntRange(1, 50), default=5, show_default=True)
def match_(
    nik: str | None,
    name: str,
    dob: str | None,
    sex: str | None,
    village: str | None,
    kk: str | None,
    mother: str | None,
    sources: tuple[str, ...],
    limit: int,
) -> None:
    """Find a person in the registry: ranked candidates with their score and reasons."""
    from server.audit import record
    from server.registry.identity import mask
    from server.registry.mapping import parse_date
    from server.registry.matching import match
    from server.registry.scoring import PersonFacts

    birth_date = parse_date(dob, ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")) if dob else None
    if dob and birth_date is None:
        raise CliError(f"--dob {dob!r} is not a date (YYYY-MM-DD or DD-MM-YYYY)")
    if not (nik or kk or (village and (name or birth_date))):
        raise CliError("give --nik or --kk, or --village with --name or --dob")
    person = PersonFacts(
        nik=nik,
        name=name,
        birth_date=birth_date,
        sex=sex,  # type: ignore[arg-type]
        village_code=village,
        mother_name=mother,
        kk=kk,
    )
    with unit_of_work() as (_svc, session):
        found = match(session, person, sources=sources or None, limit=limit)
        record(session, None, "registry.match", "registry", None, candidates=len(found))
    if not found:
        click.echo("no candidates")
        return
    for rank, m in enumerate(found, start=1):
        facts = m.candidate.facts
        click.echo(
            f"{rank}. {m.score:.3f} {m.band:9} {m.candidate.source}:{m.candidate.source_key}  "
            f"{mask(facts.nik)}  {facts.name}  {facts.birth_date or '-'}  "
            f"{facts.village_code or '-'}" + ("  (meninggal)" if m.candidate.dead else "")
        )
        click.echo(f"   found by: {', '.join(m.found_by) or '-'}")
        for reason in m.reasons:
            click.echo(f"   {reason.points:+.1f} {reason.en}")


@registry.command("synth")
@click.option("--kabupaten", required=True, help="Kemendagri kabupaten/kota code, e.g. 3573.")
@click.option("--persons", type=click.IntRange(min=1), required=True, help="How many people.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same files.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the extracts and the ground truth.",
)
@click.option("--xlsx", is_flag=True, help="Also write the extracts as XLSX workbooks.")
def synth(kabupaten: str, persons: int, seed: int, out_dir: Path, xlsx: bool) -> None:
    """Write synthetic DTKS, DTSEN and P3KE extracts with injected errors and their truth,
    and centroids.csv: invented positions of the kabupaten's villages (for V32 in tests)."""
    from server.registry.centroids import synthetic_centroids, write_centroids_csv
    from server.registry.regions import iter_regions
    from server.registry.synth import write_synthetic

    try:
        summary = write_synthetic(kabupaten, persons, seed, out_dir, xlsx=xlsx)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    click.echo(
        f"wrote {summary.persons:,} persons in {summary.households:,} households to {out_dir}"
    )
    for name, rows in sorted(summary.files.items()):
        click.echo(f"  {name}: {rows:,} rows")
    # Beside the extracts, not from write_synthetic: its files are compared byte for byte.
    villages = [r["code"] for r in iter_regions(summary.kabupaten) if r["level"] == 4]
    count = write_centroids_csv(out_dir / "centroids.csv", synthetic_centroids(villages))
    click.echo(f"  centroids.csv: {count:,} rows (invented village positions, not geography)")
    for kind, count in sorted(summary.errors.items()):
        click.echo(f"  injected {kind}: {count:,}")


@registry.command("diff")
@click.option("--a", "a", type=click.Choice(SOURCES), required=True, help="First source.")
@click.option("--b", "b", type=click.Choice(SOURCES), required=True, help="Second source.")
@click.option("--kecamatan", help="Only households in this kecamatan (357304 or 35.73.04).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write (default: diff-A-B.csv in the current directory).",
)
def diff(a: str, b: str, kecamatan: str | None, out: Path | None) -> None:
    """Compare the households of two imported sources; write a CSV target list."""
    from server.registry.diff import DiffError, check_kecamatan, check_sources, do_diff, only

    try:
        check_sources(a, b)
        kecamatan = check_kecamatan(kecamatan) if kecamatan else None
    except DiffError as exc:
        raise CliError(str(exc)) from None
    out = out or Path(f"diff-{a}-{b}" + (f"-{kecamatan}" if kecamatan else "") + ".csv")
    # Read in a read-only transaction: the unit of work then takes SQLite's writer lock only
    # for the audit row, not for the whole comparison.
    with unit_of_work() as (svc, session), svc.db.transaction(write=False) as reader:
        summary = do_diff(session, a, b, out, kecamatan, reader=reader)
    where = f" in kecamatan {kecamatan}" if kecamatan else ""
    click.echo(
        f"compared {summary.households_a:,} {a} and {summary.households_b:,} {b} "
        f"households{where} in {summary.seconds:.1f} s"
    )
    for status, label in (
        ("both", "in both, agreeing"),
        ("conflict", "in both, conflicting"),
        (only(a), f"only in {a}"),
        (only(b), f"only in {b}"),
    ):
        click.echo(f"  {label + ':':<24}{summary.statuses[status]:>10,}")
    for code, count in sorted(summary.differences.items(), key=lambda item: -item[1]):
        click.echo(f"    {code}: {count:,}")
    click.echo(f"wrote {summary.rows:,} rows to {out}")


@click.group()
def regions() -> None:
    """The Kemendagri region table: village centroids for V32."""


@regions.command("centroids")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--synthetic",
    "kabupaten",
    metavar="KABUPATEN",
    help="Instead of a file: INVENTED centroids for the kabupaten's villages (demos only).",
)
def centroids(path: Path | None, kabupaten: str | None) -> None:
    """Load village centroids from a CSV (kode,lat,lon), or invent them with --synthetic."""
    from server.registry.centroids import (
        CentroidFileError,
        do_load_centroids,
        do_synthetic_centroids,
        read_centroids,
    )

    if (path is None) == (kabupaten is None):
        raise CliError("give a centroid file (kode,lat,lon) or --synthetic KABUPATEN")
    if kabupaten is not None:
        with unit_of_work() as (_svc, session):
            try:
                count = do_synthetic_centroids(session, kabupaten)
            except ValueError as exc:
                raise CliError(str(exc)) from None
        click.echo(
            f"invented centroids for {count:,} villages of {kabupaten}: not real positions, "
            "for demos and benchmarks only"
        )
        return
    assert path is not None
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    with unit_of_work() as (_svc, session):
        try:
            summary = do_load_centroids(session, read_centroids(path))
        except CentroidFileError as exc:
            raise CliError(f"{path.name}: {exc}; nothing was loaded") from None
        skipped = summary.unknown + summary.invalid
        if not summary.updated and skipped:
            raise CliError(
                f"{path.name}: no usable row ({summary.unknown:,} unknown, "
                f"{summary.invalid:,} invalid); {summary.problems[0]}"
            )
    click.echo(
        f"centroids from {path.name}: {summary.updated:,} updated, {summary.unknown:,} unknown, "
        f"{summary.invalid:,} invalid"
    )
    for problem in summary.problems:
        click.echo(f"warning: {problem}", err=True)
    if skipped > len(summary.problems):
        click.echo(f"warning: and {skipped - len(summary.problems):,} more", err=True)
