"""Registry import benchmark: `verivali registry import` of a synthetic DTKS extract.

Owns the figures for importing a large extract: wall time, rows/s and peak memory of
`verivali registry import DTKS.csv --source dtks`, run as a subprocess exactly as an operator
runs it, on SQLite (embedded default) or PostgreSQL (`--database-url`).

The extract comes from `verivali registry synth --kabupaten 3573 --persons N --seed S`
(N = 1,210,000 gives about 1,004,955 DTKS rows, ~218 MB). It is made once per (N, seed)
under the work directory (default bench/.work/, which ignores itself) and reused, since
synthesising a million people takes about 100 s; only dtks.csv is kept.

Each run makes a fresh instance in a temporary directory under the work directory (on the
same disk as the repository, not a tmpfs): `verivali init` loads the full Kemendagri
region table (not timed), then two timed imports:
  first     the extract into the empty registry
  reimport  the same file again (every row updated in place)
For each: wall time of the process (interpreter start to exit), rows/s from the rows the
CLI reports, the CLI's own timer, the parsed summary (rows, persons, households, rejected),
and the database size afterwards (SQLite: the file, with -wal/-shm if any; PostgreSQL:
pg_database_size; both also the registry tables and their indexes alone). RSS is sampled
every 50 ms from /proc over the whole process tree: the verivali process and every
descendant (a large file is read in a second process, started through a forkserver).
Reported are the peak of the summed VmRSS and the peak of the largest single process.
Summed VmRSS counts pages shared between processes once per process, so it errs high.
The same samples give the tree's CPU seconds (user + system; they miss at most the last
50 ms of each process), which against the wall time shows how much the second process
overlaps. PostgreSQL's own server processes are in none of these figures. The extract is
read warm from the page cache (the import hashes the whole file before reading it anyway).

PostgreSQL: pass a throwaway database you own. Before every run its `public` schema is
dropped and recreated (`DROP SCHEMA public CASCADE; CREATE SCHEMA public`), so the import
starts from an empty registry; everything else in that schema is lost.

Prints a table (with --runs > 1 the median of each figure) and appends the figures to
bench/results/registry_import-<sqlite|postgresql>.json. Inherited VERIVALI_* variables are
ignored so that the instance is the default one.

    .venv/bin/python bench/registry_import.py                      # SQLite, 1,210,000 people
    .venv/bin/python bench/registry_import.py --database-url postgresql://user@127.0.0.1:5432/db
    .venv/bin/python bench/registry_import.py --persons 20000 --results /tmp/try   # a quick try
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from proctree import children, rss

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / ".work"
KABUPATEN = "3573"
MB = 1_000_000


def verivali_cli() -> Path:
    """The console script of the environment running this benchmark (.venv/bin/verivali)."""
    beside = Path(sys.executable).parent / "verivali"
    for candidate in (beside, ROOT / ".venv" / "bin" / "verivali"):
        if candidate.is_file():
            return candidate
    found = shutil.which("verivali")
    if not found:
        sys.exit("verivali is not installed: run `make dev` (or pip install -e .) first")
    return Path(found)


def run(cli: Path, env: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [str(cli), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"verivali {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VERIVALI_")}


# ---------------------------------------------------------------------------- the extract


def prepare_work(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    ignore = work / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# bench/registry_import.py: cached extracts and scratch instances\n*\n")


def extract(cli: Path, work: Path, persons: int, seed: int) -> dict[str, object]:
    """The cached DTKS extract for (persons, seed), made with `verivali registry synth`."""
    folder = work / f"synth-{KABUPATEN}-p{persons}-s{seed}"
    meta_path = folder / "synth.json"
    if meta_path.is_file() and (folder / "dtks.csv").is_file():
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
    else:
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        print(f"synthesising {persons:,} persons (seed {seed}) into {folder} ...", flush=True)
        began = time.perf_counter()
        out = run(
            cli,
            clean_env(),
            work,
            "registry",
            "synth",
            "--kabupaten",
            KABUPATEN,
            "--persons",
            str(persons),
            "--seed",
            str(seed),
            "--out",
            str(partial),
        )
        seconds = time.perf_counter() - began
        found = re.search(r"dtks\.csv: ([\d,]+) rows", out)
        if not found:
            raise RuntimeError(f"no DTKS row count in the synth output:\n{out}")
        for other in partial.iterdir():  # only the DTKS extract is needed; the rest is large
            if other.name != "dtks.csv":
                other.unlink()
        meta = {
            "kabupaten": KABUPATEN,
            "persons": persons,
            "seed": seed,
            "rows": int(found.group(1).replace(",", "")),
            "bytes": (partial / "dtks.csv").stat().st_size,
            "synth_seconds": round(seconds, 1),
        }
        (partial / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
        partial.rename(folder)
        meta["cached"] = False
    meta["path"] = str(folder / "dtks.csv")
    return meta


# ------------------------------------------------------------------------------- databases


def psycopg_url(url: str) -> str:
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def reset_postgres(url: str) -> None:
    """Empty the throwaway database: drop and recreate its public schema."""
    import psycopg

    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


REGISTRY_TABLES = ("registry_imports", "registry_households", "registry_persons")


def database_size(url: str, data_dir: Path) -> dict[str, float | None]:
    """Whole database and registry tables (with their indexes), in MB."""
    if url:
        import psycopg

        with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
            total = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            registry = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY(%s)",
                (list(REGISTRY_TABLES),),
            ).fetchone()
        return {
            "database_mb": round(int(total[0]) / MB, 1) if total else None,
            "registry_mb": round(int(registry[0]) / MB, 1) if registry and registry[0] else None,
        }
    path = data_dir / "verivali.sqlite3"
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    total_bytes = sum(f.stat().st_size for f in files if f.exists())
    registry_mb = None
    with contextlib.suppress(sqlite3.Error):  # dbstat is an optional SQLite feature
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            marks = ",".join("?" * len(REGISTRY_TABLES))
            row = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name IN"
                f" (SELECT name FROM sqlite_master WHERE tbl_name IN ({marks}))",
                REGISTRY_TABLES,
            ).fetchone()
            registry_mb = round(int(row[0]) / MB, 1) if row and row[0] else None
        finally:
            conn.close()
    return {"database_mb": round(total_bytes / MB, 1), "registry_mb": registry_mb}


def database_version(url: str) -> str:
    if not url:
        return f"SQLite {sqlite3.sqlite_version}"
    import psycopg

    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


# ------------------------------------------------------------------------------------- RSS


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _role(pid: int, depth: int) -> str:
    """What a process of the tree is: the CLI itself, or a multiprocessing helper."""
    if depth == 0:
        return "verivali"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return "child"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "forkserver" in cmdline:
        return "forkserver" if depth == 1 else "reader"
    return "child"


class TreeSampler(threading.Thread):
    """Samples VmRSS of a process and all its descendants every `interval` seconds."""

    def __init__(self, root_pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.interval = interval
        self.tree_peak = 0
        self.single_peak = 0
        self.single_role = ""
        self.roles: dict[int, str] = {}
        self.cpu: dict[int, float] = {}
        self.peaks: dict[str, int] = {}  # by role (the largest process of that role)
        self.samples = 0
        self.stopped = threading.Event()

    def tree(self) -> list[tuple[int, int]]:
        """(pid, depth) for the root and every descendant."""
        found = [(self.root_pid, 0)]
        for pid, depth in found:  # grows while walking: breadth first
            found.extend((child, depth + 1) for child in children(pid))
        return found

    def sample(self) -> None:
        total = 0
        for pid, depth in self.tree():
            resident = rss(pid)
            total += resident
            if pid not in self.roles:
                self.roles[pid] = _role(pid, depth)
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu(pid))
            role = self.roles[pid]
            self.peaks[role] = max(self.peaks.get(role, 0), resident)
            if resident > self.single_peak:
                self.single_peak, self.single_role = resident, self.roles[pid]
        self.tree_peak = max(self.tree_peak, total)
        self.samples += 1

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval)


# ---------------------------------------------------------------------------- the imports

SUMMARY = re.compile(
    r"rows: (?P<rows>[\d,]+)\s+persons: (?P<persons>[\d,]+)\s+"
    r"households: (?P<households>[\d,]+)\s+rejected: (?P<rejected>[\d,]+)"
)
TIMER = re.compile(r"^imported .* in (?P<seconds>[\d.]+) s$", re.MULTILINE)
ISSUE = re.compile(r"^  (?P<code>[a-z_]+): (?P<count>[\d,]+)$", re.MULTILINE)


def parse_summary(out: str) -> dict[str, object]:
    found = SUMMARY.search(out)
    timer = TIMER.search(out)
    if not found or not timer:
        raise RuntimeError(f"unexpected output from verivali registry import:\n{out}")
    result: dict[str, object] = {k: int(v.replace(",", "")) for k, v in found.groupdict().items()}
    result["cli_seconds"] = float(timer.group("seconds"))
    result["issues"] = {m["code"]: int(m["count"].replace(",", "")) for m in ISSUE.finditer(out)}
    return result


def timed_import(cli: Path, env: dict[str, str], tmp: Path, csv_path: Path) -> dict[str, object]:
    """One `verivali registry import`, with its wall time and the tree's peak RSS."""
    with (tmp / "out.txt").open("w+") as out, (tmp / "err.txt").open("w+") as err:
        began = time.perf_counter()
        process = subprocess.Popen(
            [str(cli), "registry", "import", str(csv_path), "--source", "dtks"],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=err,
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        code = process.wait()
        wall = time.perf_counter() - began
        sampler.stopped.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise RuntimeError(f"verivali registry import exited with {code}:\n{stdout}{stderr}")
    result = parse_summary(stdout)
    result.update(
        {
            "wall_seconds": round(wall, 2),
            "rows_per_second": round(int(result["rows"]) / wall),  # type: ignore[call-overload]
            "tree_peak_rss_mb": round(sampler.tree_peak / MB, 1),
            "largest_process_peak_rss_mb": round(sampler.single_peak / MB, 1),
            "largest_process": sampler.single_role,
            "peak_rss_mb_by_process": {
                role: round(peak / MB, 1) for role, peak in sorted(sampler.peaks.items())
            },
            "cpu_seconds": round(sum(sampler.cpu.values()), 1),
            "rss_samples": sampler.samples,
        }
    )
    return result


def one_run(
    cli: Path, url: str, work: Path, source: Path, reimport: bool
) -> dict[str, dict[str, object]]:
    """A fresh instance (init, not timed), then the first import and maybe a re-import."""
    with tempfile.TemporaryDirectory(prefix="instance-", dir=work) as tmpdir:
        tmp = Path(tmpdir)
        data_dir = tmp / "data"
        env = clean_env() | {"VERIVALI_DATA_DIR": str(data_dir), "VERIVALI_SECRET_KEY": "bench"}
        if url:
            env["VERIVALI_DATABASE_URL"] = url
            reset_postgres(url)
        began = time.perf_counter()
        run(cli, env, tmp, "init")
        init_seconds = round(time.perf_counter() - began, 1)
        # A link beside the instance: the CLI writes its rejected-rows file next to the
        # extract, and that should not land in the shared cache.
        csv_path = tmp / "dtks.csv"
        csv_path.symlink_to(source)
        phases = ["first", "reimport"] if reimport else ["first"]
        result: dict[str, dict[str, object]] = {}
        for phase in phases:
            figures = timed_import(cli, env, tmp, csv_path)
            figures |= database_size(url, data_dir)
            result[phase] = figures
            print(f"  {phase:9s} {json.dumps(figures)}", flush=True)
        result["first"]["init_seconds"] = init_seconds
        return result


MEDIAN_KEYS = (
    "wall_seconds",
    "cli_seconds",
    "cpu_seconds",
    "rows_per_second",
    "tree_peak_rss_mb",
    "largest_process_peak_rss_mb",
    "database_mb",
    "registry_mb",
)


def median_of(runs: list[dict[str, object]]) -> dict[str, object]:
    """Median of each figure; counts and labels from the first run (identical every run)."""
    result = dict(runs[0])
    for key in MEDIAN_KEYS:
        values = [float(r[key]) for r in runs if r.get(key) is not None]  # type: ignore[arg-type]
        result[key] = round(statistics.median(values), 2) if values else None
    result["runs"] = len(runs)
    return result


# ------------------------------------------------------------------------------ reporting


def commit() -> dict[str, object]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def machine() -> dict[str, object]:
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) * 1024 / 2**30, 1)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews runs
    }


def table(report: dict[str, object]) -> str:
    lines = [
        f"{'phase':9s} {'rows':>10s} {'wall s':>8s} {'CPU s':>7s} {'rows/s':>8s} {'tree RSS':>9s}"
        f" {'largest':>9s} {'database':>9s} {'registry':>9s}",
    ]
    for phase in ("first", "reimport"):
        figures = report.get(phase)
        if not isinstance(figures, dict):
            continue

        def mb(key: str, f: dict[str, object] = figures) -> str:
            return "-" if f.get(key) is None else f"{float(f[key]):.0f} MB"  # type: ignore[arg-type]

        lines.append(
            f"{phase:9s} {int(figures['rows']):>10,} {float(figures['wall_seconds']):>8.1f}"
            f" {float(figures['cpu_seconds']):>7.1f} {float(figures['rows_per_second']):>8,.0f}"
            f" {mb('tree_peak_rss_mb'):>9s}"
            f" {mb('largest_process_peak_rss_mb'):>9s} {mb('database_mb'):>9s}"
            f" {mb('registry_mb'):>9s}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--persons", type=int, default=1_210_000, help="people to synthesise (default 1,210,000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="synth seed (default 7)")
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL of a throwaway database: its public schema is dropped every run"
        " (default SQLite)",
    )
    parser.add_argument(
        "--work", type=Path, default=WORK, help="cache and scratch directory (bench/.work)"
    )
    parser.add_argument("--runs", type=int, default=1, help="fresh instances to import into")
    parser.add_argument("--skip-reimport", action="store_true", help="only the first import")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="where to append the JSON (bench/results)"
    )
    args = parser.parse_args()
    if args.runs < 1 or args.persons < 1:
        parser.error("--runs and --persons must be at least 1")
    url = args.database_url
    if url and not url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql:// URL")

    cli = verivali_cli()
    work = args.work.resolve()
    prepare_work(work)
    made = extract(cli, work, args.persons, args.seed)
    print(
        f"extract: {made['rows']:,} DTKS rows, {int(made['bytes']) / MB:.1f} MB"  # type: ignore[call-overload]
        + (" (cached)" if made["cached"] else f" (synthesised in {made['synth_seconds']} s)"),
        flush=True,
    )
    database = "postgresql" if url else "sqlite"
    report: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        **commit(),
        "database": database,
        "database_version": database_version(url),
        "machine": machine(),
        "persons": args.persons,
        "seed": args.seed,
        "rows": made["rows"],
        "extract_mb": round(int(made["bytes"]) / MB, 1),  # type: ignore[call-overload]
        "runs": args.runs,
    }
    runs = []
    for number in range(1, args.runs + 1):
        print(f"run {number}/{args.runs} ({database})", flush=True)
        runs.append(one_run(cli, url, work, Path(str(made["path"])), not args.skip_reimport))
    for phase in runs[0]:
        report[phase] = median_of([r[phase] for r in runs])
        figures = report[phase]
        if isinstance(figures, dict) and figures["rows"] != made["rows"]:
            print(f"warning: {phase} imported {figures['rows']:,} rows of {made['rows']:,}")
    if args.runs > 1:
        report["each_run"] = runs
    print((f"median of {args.runs} runs:\n" if args.runs > 1 else "") + table(report))
    print("RSS: the CLI and its descendants (summed; largest single process); not PostgreSQL's.")
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"registry_import-{database}.json"
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(report)
    out.write_text(json.dumps(history, indent=2) + "\n")
    with contextlib.suppress(ValueError):
        out = out.resolve().relative_to(ROOT)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
