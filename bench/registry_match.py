"""Registry matching benchmark: latency of `match()` against a 1,000,000-person DTKS, and
how often it finds the right person, measured on the synthetic ground truth.

The registry is the DTKS extract of `verivali registry synth --persons 1210000` (about a
million rows), imported with `verivali registry import`. Queries are records of the same
people written elsewhere, as a field record would be:

  mistyped_nik        a DTSEN or P3KE record whose NIK has a typo (one digit, or two
                      neighbours swapped), and DTKS records with such a typo looked up
                      by the person's DTSEN record (correct NIK)
  name_variant        a second record of a person under another ID with the name written
                      differently (title added or dropped, Moch./Muhammad, old spelling,
                      a doubled letter, a word dropped), from DTSEN or DTKS
  name_variant_no_nik the same records with the NIK left out (only village, birth date,
                      name, sex, KK remain)
  absent              DTSEN records of people who are not in DTKS at all (for precision)

A case is found when the top candidate is one of the person's DTKS records (a DTKS
duplicate's own record is left out of its candidates). Precision counts, over every query,
the top candidates at or above a band that are the right person.

    python bench/registry_match.py                       # SQLite
    python bench/registry_match.py --database-url postgresql://user@127.0.0.1:5432/db

The synthetic files and the SQLite instance are kept under --work (bench/.work by default),
so a second run skips the synth and the import. Results are appended to
bench/results/registry_match-<backend>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VERIVALI = ROOT / ".venv" / "bin" / "verivali"
sys.path.insert(0, str(ROOT))

from server.registry.scoring import AUTO_LINK, REVIEW, PersonFacts  # noqa: E402 - after path


@dataclass
class Case:
    kind: str
    person_id: str
    facts: PersonFacts
    expected: set[str]
    exclude: str | None = None  # the query's own DTKS record


@dataclass
class Outcome:
    kind: str
    ms: float
    top: str | None
    score: float
    correct: bool
    candidates: int
    expected: set[str] = field(default_factory=set)


def run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def synth(work: Path, persons: int, seed: int, env: dict[str, str]) -> Path:
    out = work / f"synth-{persons}-{seed}"
    if not (out / "truth_people.csv").is_file():
        print(f"synthesising {persons:,} persons into {out} ...", flush=True)
        run(
            [str(VERIVALI), "registry", "synth", "--kabupaten", "3573", "--persons",
             str(persons), "--seed", str(seed), "--out", str(out)],
            env,
        )  # fmt: skip
    return out


def instance(args: argparse.Namespace, data: Path) -> dict[str, str]:
    """An initialised instance with the DTKS extract imported (kept between runs)."""
    env = dict(os.environ, VERIVALI_DATA_DIR=str(args.work / f"match-{args.persons}-{args.seed}"))
    env.pop("VERIVALI_REGIONS_WITHIN", None)
    if args.database_url:
        env["VERIVALI_DATABASE_URL"] = args.database_url
    Path(env["VERIVALI_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    marker = Path(env["VERIVALI_DATA_DIR"]) / (
        "imported-postgresql" if args.database_url else "imported-sqlite"
    )
    if marker.is_file() and not args.reimport:
        return env
    if args.database_url:
        reset_postgres(args.database_url)
    else:
        for name in ("verivali.sqlite3", "verivali.sqlite3-wal", "verivali.sqlite3-shm"):
            (Path(env["VERIVALI_DATA_DIR"]) / name).unlink(missing_ok=True)
    run([str(VERIVALI), "init"], env)
    print("importing dtks.csv ...", flush=True)
    started = time.monotonic()
    run([str(VERIVALI), "registry", "import", str(data / "dtks.csv"), "--source", "dtks"], env)
    print(f"  imported in {time.monotonic() - started:.0f} s", flush=True)
    marker.write_text("ok\n")
    return env


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as c:
        c.execute("DROP SCHEMA public CASCADE")
        c.execute("CREATE SCHEMA public")


def read_rows(path: Path, key: str, wanted: set[str]) -> dict[str, dict[str, str]]:
    """The rows of a CSV extract whose `key` column is in `wanted` (streamed)."""
    from server.registry.readers import open_extract

    extract = open_extract(path)
    header = [h.strip() for h in extract.header]
    at = header.index(key)
    out = {}
    try:
        for _line, cells in extract.rows:
            if cells[at] in wanted:
                out[cells[at]] = dict(zip(header, cells, strict=False))
    finally:
        extract.close()
    return out


def facts_from(row: dict[str, str], source: str, village: str | None, nik: bool) -> PersonFacts:
    from server.registry.mapping import parse_date, parse_sex

    if source == "dtsen":
        return PersonFacts(
            nik=row["nik"] if nik else None,
            name=row["nama"],
            birth_date=parse_date(row["tanggal_lahir"], ("%Y-%m-%d",)),
            sex=parse_sex(row["jenis_kelamin"]),
            village_code=row["kode_kelurahan_desa"],
            kk=row["no_kk"],
        )
    if source == "dtks":
        return PersonFacts(
            nik=row["NOMOR_NIK"] if nik else None,
            name=row["NAMA"],
            birth_date=parse_date(row["TANGGAL_LAHIR"], ("%d-%m-%Y",)),
            sex=parse_sex(row["JENIS_KELAMIN"]),
            village_code=village,
            mother_name=row["NAMA_IBU_KANDUNG"],
            kk=row["NOMOR_KK"],
        )
    return PersonFacts(  # P3KE individu (village from the family file)
        nik=row["NIK"] if nik else None,
        name=row["Nama"],
        birth_date=parse_date(row["Tanggal Lahir"], ("%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d")),
        sex=parse_sex(row["Jenis Kelamin"]),
        village_code=village,
    )


def build_cases(data: Path, env: dict[str, str], per_kind: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    truth = list(csv.DictReader((data / "truth.csv").open(encoding="utf-8")))
    wanted_people = {
        r["person_id"] for r in truth if r["kind"] in ("mistyped_nik", "duplicate_person")
    }
    dtks_ids: dict[str, set[str]] = defaultdict(set)
    semesta: dict[str, str] = {}
    absent: list[tuple[str, str]] = []
    with (data / "truth_people.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            pid = row["person_id"]
            if row["iddtks"]:
                if pid in wanted_people:
                    dtks_ids[pid].update(row["iddtks"].split(";"))
            elif row["idsemesta"] and rng.random() < 0.05:
                absent.append((pid, row["idsemesta"].split(";")[0]))
            if pid in wanted_people and row["idsemesta"]:
                semesta[pid] = row["idsemesta"].split(";")[0]
    for r in truth:  # a DTKS duplicate is the person too
        if r["kind"] == "duplicate_person" and r["source"] == "dtks.csv":
            dtks_ids[r["person_id"]].add(r["record_ids"].split(";")[0])

    plans: dict[str, list[tuple[str, str, str, str | None]]] = defaultdict(list)
    for r in truth:
        pid, source = r["person_id"], r["source"]
        if r["kind"] == "mistyped_nik" and dtks_ids.get(pid):
            if source == "dtks.csv" and pid in semesta:
                plans["mistyped_nik"].append((pid, "dtsen", semesta[pid], None))
            elif source == "dtsen.csv":
                plans["mistyped_nik"].append((pid, "dtsen", r["record_ids"].split(";")[0], None))
            elif source == "p3ke_individu.csv":
                plans["mistyped_nik"].append((pid, "p3ke", r["record_ids"].split(";")[0], None))
        elif r["kind"] == "duplicate_person":
            own = r["record_ids"].split(";")[0] if source == "dtks.csv" else None
            if source in ("dtks.csv", "dtsen.csv") and dtks_ids.get(pid, set()) - {own}:
                plans["name_variant"].append(
                    (pid, "dtks" if own else "dtsen", r["record_ids"].split(";")[0], own)
                )
    for kind in plans:
        rng.shuffle(plans[kind])
        plans[kind] = plans[kind][:per_kind]
    rng.shuffle(absent)
    plans["absent"] = [(pid, "dtsen", sid, None) for pid, sid in absent[:per_kind]]

    need: dict[str, set[str]] = defaultdict(set)
    for items in plans.values():
        for _pid, source, rid, _own in items:
            need[source].add(rid)
    rows = {
        "dtsen": read_rows(data / "dtsen.csv", "idsemesta", need["dtsen"]),
        "dtks": read_rows(data / "dtks.csv", "IDDTKS", need["dtks"]),
        "p3ke": read_rows(data / "p3ke_individu.csv", "ID Individu", need["p3ke"]),
    }
    families = {r["ID Keluarga P3KE"] for r in rows["p3ke"].values()}
    p3ke_villages = {
        k: r["Kode Wilayah"]
        for k, r in read_rows(data / "p3ke_keluarga.csv", "ID Keluarga P3KE", families).items()
    }
    resolver = dtks_village_resolver(env)

    def village(source: str, row: dict[str, str]) -> str | None:
        if source == "p3ke":
            return p3ke_villages.get(row["ID Keluarga P3KE"])
        if source == "dtks":
            return resolver.by_names(row["KABUPATEN_KOTA"], row["KECAMATAN"], row["DESA_KELURAHAN"])
        return None

    cases = []
    for kind, items in plans.items():
        for pid, source, rid, own in items:
            row = rows[source][rid]
            expected = set() if kind == "absent" else dtks_ids[pid] - {own}
            cases.append(
                Case(kind, pid, facts_from(row, source, village(source, row), True), expected, own)
            )
            if kind == "name_variant":
                cases.append(
                    Case(
                        "name_variant_no_nik",
                        pid,
                        facts_from(row, source, village(source, row), False),
                        expected,
                        own,
                    )
                )
    return cases


def dtks_village_resolver(env: dict[str, str]):  # type: ignore[no-untyped-def]
    from server.config import load_settings
    from server.db import Database
    from server.registry.importer import region_tables
    from server.registry.reading import RegionResolver

    db = Database(load_settings(env))
    try:
        with db.sessions() as session:
            return RegionResolver(region_tables(session, names=True))
    finally:
        db.dispose()


def measure(env: dict[str, str], cases: list[Case]) -> list[Outcome]:
    from server.config import load_settings
    from server.db import Database
    from server.registry.matching import match

    db = Database(load_settings(env))
    outcomes = []
    try:
        with db.sessions() as session:
            for case in cases[:50]:  # warm the caches and the connection
                match(session, case.facts, sources=["dtks"], limit=6)
            for case in cases:
                started = time.perf_counter()
                found = match(session, case.facts, sources=["dtks"], limit=6)
                ms = (time.perf_counter() - started) * 1000
                found = [m for m in found if m.candidate.source_key != case.exclude]
                top = found[0] if found else None
                key = top.candidate.source_key if top else None
                outcomes.append(
                    Outcome(
                        case.kind, ms, key, top.score if top else 0.0,
                        key is not None and key in case.expected, len(found), case.expected,
                    )
                )  # fmt: skip
    finally:
        db.dispose()
    return outcomes


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(outcomes: list[Outcome]) -> dict[str, object]:
    ms = [o.ms for o in outcomes]
    figures: dict[str, object] = {
        "queries": len(outcomes),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "classes": {},
    }
    for kind in sorted({o.kind for o in outcomes}):
        group = [o for o in outcomes if o.kind == kind]
        entry = {"n": len(group)}
        if kind != "absent":
            entry["recall_top1"] = round(sum(o.correct for o in group) / len(group), 4)
            entry["recall_auto_link"] = round(
                sum(o.correct and o.score >= AUTO_LINK for o in group) / len(group), 4
            )
            entry["recall_review"] = round(
                sum(o.correct and o.score >= REVIEW for o in group) / len(group), 4
            )
        else:
            entry["false_auto_link"] = sum(o.score >= AUTO_LINK for o in group)
            entry["false_review"] = sum(o.score >= REVIEW for o in group)
        figures["classes"][kind] = entry  # type: ignore[index]
    for name, threshold in (("auto_link", AUTO_LINK), ("review", REVIEW)):
        offered = [o for o in outcomes if o.top is not None and o.score >= threshold]
        figures[f"precision_{name}"] = round(
            sum(o.correct for o in offered) / len(offered), 4
        ) if offered else None  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=1_210_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=1000, help="Queries per case kind.")
    parser.add_argument("--database-url", help="PostgreSQL (a throwaway database).")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--reimport", action="store_true", help="Import again.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base_env = dict(os.environ)
    data = synth(args.work, args.persons, args.seed, base_env)
    env = instance(args, data)
    os.environ.update(env)
    cases = build_cases(data, env, args.per_kind, args.seed)
    print(f"{len(cases):,} queries", flush=True)
    outcomes = measure(env, cases)
    figures = report(outcomes)
    backend = "postgresql" if args.database_url else "sqlite"
    print(json.dumps(figures, indent=2))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"registry_match-{backend}.json"
    runs = json.loads(out.read_text()) if out.is_file() else []
    runs.append(
        {
            "date": time.strftime("%Y-%m-%d"),
            "commit": commit,
            "backend": backend,
            "persons": args.persons,
            "seed": args.seed,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            **figures,
        }
    )
    out.write_text(json.dumps(runs, indent=2) + "\n")


if __name__ == "__main__":
    main()
