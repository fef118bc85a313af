"""Throughput of the rules: submissions checked per second by one worker against a
1,000,000-person registry, and a full re-run of every submission.

The registry is `verivali registry synth --kabupaten 3573 --persons 1210000 --seed 7`:
1,004,955 DTKS rows and the DTSEN extract of the same people, both imported, with synthetic
village centroids. 500 enumerators in teams of seven get 100 DTKS households each, and
every household's submission (three photos each, duplicates and field errors included,
server/validation/synth.py) is received in-process as a phone's POST is; that queues one
validation job per submission. Then:

  check   one worker (this process, the same `run_batch` the rq job and the in-process
          worker call, with the photo-hashing processes every worker starts:
          server/validation/hashing.py) runs every queued job, in batches of one
          transaction each: the submission checks and the peer re-checks they queue
          when a flag names another.
          Reported: submissions per second (all submissions over the whole drain,
          re-checks included), checks per second, p50/p99 of one check (its share of
          the time of the group it was checked in, service.evaluate_many; the commit not
          counted: a batch commits once), p50/p99 of a whole batch (claim, checks,
          commit: how long it holds SQLite's write lock), and the worker's peak RSS
          during the drain, and that of its photo-hashing processes.
  rerun   `verivali rules rerun --all` as a subprocess: every submission checked again
          (photo hashes are already stored), with its wall time and peak RSS.

Targets: at least 200 submissions/s; the re-run of 50,000 submissions under 5 minutes.

    python bench/rules_throughput.py                          # SQLite
    python bench/rules_throughput.py --database-url postgresql://u:p@127.0.0.1:5432/bench

Results are appended to bench/results/rules_throughput-<backend>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

from fieldwork import ROOT, VERIVALI, record, registry_instance, send_round, set_up_round
from proctree import children, rss
from proctree import peak_rss as child_peak_rss


def peak_rss_reset() -> None:
    """Reset this process's peak RSS (VmHWM) so the drain's own peak can be read."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def drain(svc) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from server.validation import jobs
    from server.validation.models import ValidationJob

    peak_rss_reset()
    times: list[float] = []
    batch_times: list[float] = []
    started = time.monotonic()
    while True:
        began = time.perf_counter()
        if not jobs.run_batch(svc, timings=times):
            break
        batch_times.append(time.perf_counter() - began)
    wall = time.monotonic() - started
    helpers = children(os.getpid())
    with svc.db.transaction() as session:
        states = dict(
            session.execute(
                select(ValidationJob.state, func.count()).group_by(ValidationJob.state)
            ).all()
        )
    times.sort()
    batch_times.sort()
    return {
        "checks": len(times),
        "batches": len(batch_times),
        "batch_p50_ms": round(batch_times[len(batch_times) // 2] * 1000, 1),
        "batch_p99_ms": round(batch_times[int(len(batch_times) * 0.99)] * 1000, 1),
        "seconds": round(wall, 1),
        "checks_per_s": round(len(times) / wall, 1),
        "p50_ms": round(times[len(times) // 2] * 1000, 2),
        "p99_ms": round(times[int(len(times) * 0.99)] * 1000, 2),
        "mean_ms": round(statistics.fmean(times) * 1000, 2),
        "peak_rss_mb": round(peak_rss() / 2**20, 1),
        # The photo-hashing processes (server/validation/hashing.py), this process's only
        # children by now.
        "hashing_processes": len(helpers),
        "hashing_peak_rss_mb": round(sum(child_peak_rss(pid) for pid in helpers) / 2**20, 1),
        "job_states": states,
    }


def rerun(env: dict[str, str]) -> dict[str, float]:
    started = time.monotonic()
    process = subprocess.Popen(
        [str(VERIVALI), "rules", "rerun", "--all"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            tree = [process.pid, *children(process.pid)]
            peak = max(peak, sum(rss(pid) for pid in tree))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"rules rerun failed:\n{out}\n{err}")
    return {
        "seconds": round(time.monotonic() - started, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "summary": out.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--persons", type=int, default=1_210_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--enumerators", type=int, default=500)
    parser.add_argument("--per-enumerator", type=int, default=100)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--reimport", action="store_true", help="Import the registry again.")
    args = parser.parse_args()

    backend = "postgresql" if args.database_url else "sqlite"
    synth_dir = args.work / f"synth-{args.persons}-{args.seed}"
    if not (synth_dir / "dtsen.csv").is_file():
        print(f"synthesising {args.persons:,} persons ...", flush=True)
        subprocess.run(
            [str(VERIVALI), "registry", "synth", "--kabupaten", "3573", "--persons",
             str(args.persons), "--seed", str(args.seed), "--out", str(synth_dir)],
            check=True,
        )  # fmt: skip
    env = registry_instance(
        args.work / f"throughput-{backend}", synth_dir, args.database_url, not args.reimport
    )
    started = time.monotonic()
    round_ = set_up_round(env, args.enumerators, args.per_enumerator)
    print(f"round set up in {time.monotonic() - started:.0f} s: {round_.targets:,} households")
    started = time.monotonic()
    truth = send_round(round_, synth_dir, args.seed)
    received = time.monotonic() - started
    print(f"{len(truth):,} submissions received in {received:.0f} s", flush=True)

    checked = drain(round_.svc)
    checked["submissions_per_s"] = round(len(truth) / checked["seconds"], 1)
    print(
        f"check: {len(truth):,} submissions, {checked['checks']:,} checks in "
        f"{checked['seconds']} s = {checked['submissions_per_s']} submissions/s "
        f"({checked['checks_per_s']} checks/s), p50 {checked['p50_ms']} ms, "
        f"p99 {checked['p99_ms']} ms, peak RSS {checked['peak_rss_mb']} MB (photo hashing: "
        f"{checked['hashing_processes']} processes, {checked['hashing_peak_rss_mb']} MB)",
        flush=True,
    )
    again = rerun(env)
    print(f"rerun: {again['seconds']} s, peak RSS {again['peak_rss_mb']} MB: {again['summary']}")

    record(
        "rules_throughput",
        backend,
        {
            "persons": args.persons,
            "submissions": len(truth),
            "receive_seconds": round(received, 1),
            "check": checked,
            "rerun": again,
        },
    )


if __name__ == "__main__":
    main()
