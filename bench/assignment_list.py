"""Assignment list benchmark: an enumerator holding 100,000 households downloads their list.

What a phone does on a form update check, timed against a real server (`verivali serve`,
gunicorn) over loopback HTTP with the enumerator's token URL:

  manifest    GET .../forms/<form>/manifest   (announces the lists' md5)
  households  GET .../attachments/sasaran.csv
  members     GET .../attachments/sasaran_anggota.csv

"cold" is the first request after the enumerator's list changed (the server builds both
CSVs, then serves them); "warm" repeats without a change (Collect's periodic checks).
"phones" then has --phones clients download at once, cold (right after a change) and warm,
as ODK Central's reference figure does for a 100,000-entity list.
The registry is a synthetic DTKS (`verivali registry synth`) imported with
`verivali registry import`; every household goes on one list, 100,000 are given to one
enumerator.

    python bench/assignment_list.py                        # SQLite
    python bench/assignment_list.py --database-url postgresql://user@127.0.0.1:5432/db

The synthetic files and the instance are kept under --work (bench/.work by default), so a
second run skips the synth and the import. Results are appended to
bench/results/assignment_list-<backend>.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from proctree import children, rss

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VERIVALI = ROOT / ".venv" / "bin" / "verivali"
FORM = ROOT / "forms" / "verval_ruta.xlsx"
PASSWORD = "bench-password-1"


def run(cmd: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(args: argparse.Namespace, env: dict[str, str]) -> str:
    """An instance with the registry, a project, one enumerator holding the households;
    returns the enumerator's token URL (cached in the work directory)."""
    marker = Path(env["VERIVALI_DATA_DIR"]) / "bench-token-url.txt"
    if marker.exists():
        return marker.read_text().strip()
    synth = args.work / f"synth-3573-p{args.persons}-s7"
    if not (synth / "dtks.csv").exists():
        print(f"synthesising {args.persons:,} persons …", flush=True)
        cmd = [str(VERIVALI), "registry", "synth", "--kabupaten", "3573"]
        run([*cmd, "--persons", str(args.persons), "--seed", "7", "--out", str(synth)], env)
    run([str(VERIVALI), "init"], env)
    print("importing …", flush=True)
    run([str(VERIVALI), "registry", "import", str(synth / "dtks.csv"), "--source", "dtks"], env)
    project = run([str(VERIVALI), "projects", "add", "Bench"], env).strip()
    add = [str(VERIVALI), "users", "add", "pencacah", "--role", "enumerator"]
    run([*add, "--project", project, "--password-stdin"], env, stdin=PASSWORD)
    url = run([str(VERIVALI), "users", "token", "pencacah"], env).strip().splitlines()[0]
    run([str(VERIVALI), "forms", "publish", str(FORM), "--project", project], env)
    began = time.perf_counter()
    made = run([str(VERIVALI), "assign", "make-list", "Semua", "--source", "dtks"], env)
    listed = time.perf_counter()
    given = run([str(VERIVALI), "assign", "give", "Semua", "pencacah", "--count", "100000"], env)
    setup = {
        "make_list_s": round(listed - began, 1),
        "give_s": round(time.perf_counter() - listed, 1),
        "list": made.strip(),
    }
    print(made.strip(), "/", given.strip(), flush=True)
    (marker.parent / "bench-setup.json").write_text(json.dumps(setup))
    marker.write_text(url)
    return url


class Client:
    """One keep-alive HTTP connection, as OkHttp keeps one to the server."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path + "?deviceID=collect:bench000000000", headers={
            "X-OpenRosa-Version": "1.0", "Accept-Encoding": "gzip"
        })  # fmt: skip
        answer = self.conn.getresponse()
        return answer.status, answer.read()


def touch_list(env: dict[str, str]) -> None:
    """Count a change to the enumerator's list, as an assignment or a visit would."""
    sql = "UPDATE enumerator_lists SET version = version + 1"
    url = env["VERIVALI_DATABASE_URL"]
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.split("///", 1)[1]) as db:
            db.execute(sql)
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
            db.execute(sql)


def fetch(client: Client, base: str) -> dict[str, float | int]:
    form = f"{base}/forms/verval_ruta"
    began = time.perf_counter()
    status, body = client.get(f"{form}/manifest")
    manifest = time.perf_counter()
    assert status == 200, body[:200]
    status, households = client.get(f"{form}/attachments/sasaran.csv")
    got_households = time.perf_counter()
    assert status == 200, households[:200]
    status, members = client.get(f"{form}/attachments/sasaran_anggota.csv")
    done = time.perf_counter()
    assert status == 200, members[:200]
    md5s = re.findall(rb"<hash>md5:([0-9a-f]+)</hash>", body)
    assert len(md5s) == 2
    return {
        "manifest_ms": 1000 * (manifest - began),
        "manifest_households_ms": 1000 * (got_households - began),
        "all_ms": 1000 * (done - began),
        "households": households.count(b"\n") - 1,
        "households_bytes": len(households),
        "members": members.count(b"\n") - 1,
        "members_bytes": len(members),
    }


def at_once(root: str, base: str, phones: int) -> list[dict[str, float | int]]:
    """Each of `phones` clients fetches the manifest and both lists at the same moment."""
    results: list[dict[str, float | int]] = []
    start = threading.Barrier(phones)

    def one() -> None:
        client = Client(root)
        start.wait()
        results.append(fetch(client, base))

    threads = [threading.Thread(target=one) for _ in range(phones)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(rows: list[dict[str, float | int]]) -> dict[str, float]:
    out = {}
    for key in ("manifest_ms", "manifest_households_ms", "all_ms"):
        values = [float(r[key]) for r in rows]
        out[f"{key}_p50"] = round(statistics.median(values), 1)
        out[f"{key}_p99"] = round(pct(values, 0.99), 1)
        out[f"{key}_max"] = round(max(values), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=450_000, help="people to synthesise")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in --work)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--cold", type=int, default=20, help="runs after a list change")
    parser.add_argument("--warm", type=int, default=50, help="runs without a change")
    parser.add_argument("--phones", type=int, default=8, help="phones downloading at once")
    args = parser.parse_args()
    backend = "postgres" if args.database_url else "sqlite"
    data_dir = args.work / f"assign-{backend}-p{args.persons}"
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{data_dir / 'verivali.sqlite3'}"
    env = dict(
        os.environ,
        VERIVALI_DATA_DIR=str(data_dir),
        VERIVALI_DATABASE_URL=database_url,
        VERIVALI_REGIONS_WITHIN="3573",
        VERIVALI_JAVA_VALIDATE="false",
    )
    token_url = prepare(args, env)
    port = free_port()
    env["VERIVALI_BASE_URL"] = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(VERIVALI), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            tree = [server.pid, *children(server.pid)]
            tree += [c for p in tree[1:] for c in children(p)]
            peak[0] = max(peak[0], sum(rss(p) for p in tree))
            time.sleep(0.05)

    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        threading.Thread(target=sample, daemon=True).start()
        base = urlsplit(token_url).path
        client = Client(f"http://127.0.0.1:{port}")
        cold, warm = [], []
        for _ in range(args.cold):
            touch_list(env)
            cold.append(fetch(client, base))
        for _ in range(args.warm):
            warm.append(fetch(client, base))
        together = {}
        for phase in ("cold", "warm"):
            if phase == "cold":
                touch_list(env)
            together[phase] = at_once(f"http://127.0.0.1:{port}", base, args.phones)
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    first = cold[0]
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "backend": backend,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "households": first["households"],
        "members": first["members"],
        "households_mb": round(int(first["households_bytes"]) / 1e6, 2),
        "members_mb": round(int(first["members_bytes"]) / 1e6, 2),
        "cold": summary(cold),
        "warm": summary(warm),
        "phones_at_once": args.phones,
        "phones_cold": summary(together["cold"]),
        "phones_warm": summary(together["warm"]),
        "server_tree_peak_rss_mb": round(peak[0] / 1e6),
        "setup": json.loads((data_dir / "bench-setup.json").read_text()),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"assignment_list-{backend}.json"
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(result)
    out.write_text(json.dumps(history, indent=2) + "\n")


if __name__ == "__main__":
    main()
