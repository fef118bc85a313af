"""Submission ingest benchmark: N Collect-like clients against a real `verivali serve`.

Each client process does what Collect does when sending finalised forms: HEAD /submission
(expects 204), then one multipart POST per form over a keep-alive connection, through the
enumerator token URL. Workloads:
  xml     XML-only submissions of the seven-field form
  photos  the same with three 300 KB photos each (unique bytes every time)
  big     one submission carrying a single 100 MB attachment, streamed from disk
  formlist  GET formList back to back (Collect's "match exactly" polling)
Prints accepted submissions/s, p50/p99 latency, errors and the server's peak RSS (gunicorn
master + workers, sampled from /proc) for each run and their median over --runs, and appends
the figures to bench/results/*.json.

    python bench/submissions.py                       # SQLite, all workloads
    python bench/submissions.py --database-url postgresql://user@127.0.0.1:5432/db
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from proctree import children, rss

ROOT = Path(__file__).resolve().parent.parent
FORM = ROOT / "bench" / "forms" / "bench_tujuh.md"
RESULTS = ROOT / "bench" / "results"
BOUNDARY = "verivalibenchboundary"


def instance(photos: bool) -> bytes:
    files = (
        "".join(f"<foto{i}>foto{i}.jpg</foto{i}>" for i in (1, 2, 3))
        if photos
        else ("<foto1/><foto2/><foto3/>")
    )
    return (
        "<?xml version='1.0' encoding='UTF-8' ?><data id=\"bench_tujuh\" version=\"1\">"
        "<desa>3573041003</desa><nama>Siti Aminah</nama><umur>41</umur><jk>p</jk>"
        "<tgl>2026-11-23</tgl><lokasi>-7.98 112.62 450 5</lokasi><catatan>rumah semi permanen"
        f"</catatan>{files}<meta><instanceID>uuid:{uuid.uuid4()}</instanceID></meta></data>"
    ).encode()


def part(name: str, filename: str, content_type: str, data: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
            f"\r\nContent-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )


def body(photos: bool) -> bytes:
    chunks = [part("xml_submission_file", "instance.xml", "text/xml", instance(photos))]
    if photos:
        for i in (1, 2, 3):
            chunks.append(
                part(
                    f"foto{i}.jpg",
                    f"foto{i}.jpg",
                    "image/jpeg",
                    b"\xff\xd8\xff\xe0" + os.urandom(300_000),
                )
            )
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(chunks)


HEADERS = {
    "User-Agent": "org.odk.collect.android/v2024.3.1 Dalvik/2.1.0 (bench)",
    "X-OpenRosa-Version": "1.0",
    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
}


def list_client(url: str, seconds: float, start_at: float, queue: mp.Queue) -> None:
    """One phone in "match exactly" mode: GET formList back to back until time is up."""
    parts = urlsplit(url)
    path = f"{parts.path}/formList?deviceID=collect:{uuid.uuid4().hex[:16]}"
    conn = http.client.HTTPConnection(parts.netloc, timeout=120)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    while time.time() < start_at:
        time.sleep(0.01)
    end = time.time() + seconds
    while time.time() < end:
        began = time.perf_counter()
        conn.request("GET", path, headers=HEADERS)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - began)
        statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()
    errors = sum(n for status, n in statuses.items() if status != 200)
    queue.put({"latencies": latencies, "errors": errors, "statuses": {201: statuses.get(200, 0)}})


def client(url: str, photos: bool, seconds: float, start_at: float, queue: mp.Queue) -> None:
    """One phone: HEAD once, then POST forms back to back until time is up."""
    parts = urlsplit(url)
    device = f"collect:{uuid.uuid4().hex[:16]}"
    path = f"{parts.path}/submission?deviceID={device}"
    conn = http.client.HTTPConnection(parts.netloc, timeout=120)
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    # Bodies are built before the clock starts so the load client measures the server.
    bodies = [body(photos) for _ in range(40 if photos else 400)]
    while time.time() < start_at:
        time.sleep(0.01)
    conn.request("HEAD", path, headers=HEADERS)
    head = conn.getresponse()
    head.read()
    if head.status != 204:
        errors += 1
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        data = bodies[i % len(bodies)]
        if i >= len(bodies):  # a fresh instanceID; photo bytes repeat only past 40 forms
            data = data.replace(
                data[data.index(b"uuid:") : data.index(b"uuid:") + 41],
                f"uuid:{uuid.uuid4()}".encode(),
                1,
            )
        i += 1
        began = time.perf_counter()
        try:
            conn.request("POST", path, body=data, headers=HEADERS)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.netloc, timeout=120)
            continue
        latencies.append(time.perf_counter() - began)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status != 201:
            errors += 1
    conn.close()
    queue.put({"latencies": latencies, "errors": errors, "statuses": statuses})


class RssSampler(threading.Thread):
    """Samples the summed RSS of a process tree every 50 ms."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.peak = 0
        self.last = 0
        self.running = True

    def tree(self) -> list[int]:
        pids = [self.root_pid]
        for pid in list(pids):
            pids.extend(children(pid))
        found = list(pids)
        for pid in pids[1:]:
            found.extend(children(pid))
        return sorted(set(found))

    def sample(self) -> int:
        return sum(rss(pid) for pid in self.tree())

    def run(self) -> None:
        while self.running:
            self.last = self.sample()
            self.peak = max(self.peak, self.last)
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def verivali(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return result.stdout


def setup(env: dict[str, str]) -> str:
    """Initialise an instance with a project, an enumerator and the bench form."""
    verivali(env, "init")
    project = verivali(env, "projects", "add", "Bench").strip()
    verivali(env, "users", "add", "pencacah", "--role", "enumerator", "--project", project)
    verivali(env, "forms", "publish", str(FORM), "--project", project)
    return verivali(env, "users", "token", "pencacah").strip().splitlines()[0]


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("server did not start")


def run_load(url: str, clients: int, seconds: float, workload: str) -> dict[str, object]:
    queue: mp.Queue = mp.Queue()
    start_at = time.time() + 2.0 + clients * 0.3
    procs = [
        mp.Process(target=list_client, args=(url, seconds, start_at, queue))
        if workload == "formlist"
        else mp.Process(target=client, args=(url, workload == "photos", seconds, start_at, queue))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 300) for _ in procs]
    for proc in procs:
        proc.join()
    latencies = sorted(x for r in results for x in r["latencies"])  # type: ignore[union-attr]
    ok = sum(r["statuses"].get(201, 0) for r in results)  # type: ignore[union-attr]
    errors = sum(int(r["errors"]) for r in results)  # type: ignore[arg-type]
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "accepted": ok,
        "errors": errors,
        "per_second": round(ok / seconds, 1),
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
    }


def median_of(runs: list[dict[str, object]]) -> dict[str, object]:
    """Median of each figure over runs (errors: the total), with the runs kept."""
    keys = ("per_second", "p50_ms", "p99_ms", "server_peak_rss_mb")
    result: dict[str, object] = {
        k: statistics.median(float(r[k]) for r in runs)
        for k in keys  # type: ignore[arg-type]
    }
    result["errors"] = sum(int(r["errors"]) for r in runs)  # type: ignore[call-overload]
    result["accepted"] = sum(int(r["accepted"]) for r in runs)  # type: ignore[call-overload]
    result["runs"] = len(runs)
    return result


def big_upload(url: str, size: int, tmp: Path) -> dict[str, object]:
    """One submission with a single `size`-byte attachment, streamed from a file."""
    blob = tmp / "big.jpg"
    with blob.open("wb") as handle:
        chunk = os.urandom(1 << 20)
        written = 0
        while written < size:
            written += handle.write(chunk[: size - written])
    xml = (
        "<?xml version='1.0' encoding='UTF-8' ?><data id=\"bench_tujuh\" version=\"1\">"
        "<foto1>big.jpg</foto1><meta><instanceID>uuid:"
        f"{uuid.uuid4()}</instanceID></meta></data>"
    ).encode()
    head = (
        part("xml_submission_file", "instance.xml", "text/xml", xml)
        + (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="big.jpg"; filename="big.jpg"'
            "\r\nContent-Type: image/jpeg\r\n\r\n"
        ).encode()
    )
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + blob.stat().st_size + len(tail)

    class Body:
        def __init__(self) -> None:
            self.stage = 0
            self.handle = blob.open("rb")

        def read(self, n: int = -1) -> bytes:
            if self.stage == 0:
                self.stage = 1
                return head
            if self.stage == 1:
                data = self.handle.read(1 << 20)
                if data:
                    return data
                self.stage = 2
                self.handle.close()
                return tail
            return b""

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=300)
    headers = dict(HEADERS, **{"Content-Length": str(length)})
    began = time.perf_counter()
    conn.request(
        "POST",
        f"{parts.path}/submission?deviceID=collect:big",
        body=Body(),
        headers=headers,
        encode_chunked=False,
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return {
        "status": response.status,
        "seconds": round(time.perf_counter() - began, 2),
        "bytes": length,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (0 = default)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default SQLite)")
    parser.add_argument("--workloads", default="xml,photos,big,formlist")
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="load runs per workload (median)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="verivali-bench-") as tmpdir:
        tmp = Path(tmpdir)
        env = dict(
            os.environ,
            VERIVALI_DATA_DIR=str(tmp / "data"),
            VERIVALI_JAVA_VALIDATE="false",
            VERIVALI_SECRET_KEY="bench",
        )
        port = free_port()
        env["VERIVALI_BASE_URL"] = f"http://127.0.0.1:{port}"
        if args.database_url:
            env["VERIVALI_DATABASE_URL"] = args.database_url
        url = setup(env)
        from server.serving import default_workers

        workers = args.workers or default_workers()
        server = start_server(env, port, workers)
        sampler = RssSampler(server.pid)
        sampler.start()
        report: dict[str, object] = {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "database": "postgresql" if args.database_url else "sqlite",
            "clients": args.clients,
            "seconds": args.seconds,
            "workers": workers,
            "cpus": os.cpu_count(),
        }
        try:
            time.sleep(1.0)
            for workload in args.workloads.split(","):
                if workload == "big":
                    time.sleep(1.0)
                    before = sampler.sample()
                    sampler.peak = before
                    result = big_upload(url, args.big_mb * 1_000_000, tmp)
                    time.sleep(0.3)
                    result["rss_before_mb"] = round(before / 1e6, 1)
                    result["rss_peak_mb"] = round(sampler.peak / 1e6, 1)
                    result["rss_growth_mb"] = round((sampler.peak - before) / 1e6, 1)
                else:
                    runs = []
                    for _ in range(args.runs):
                        sampler.peak = sampler.sample()
                        one = run_load(url, args.clients, args.seconds, workload)
                        one["server_peak_rss_mb"] = round(sampler.peak / 1e6, 1)
                        print(f"  run    {json.dumps(one)}", flush=True)
                        runs.append(one)
                    result = median_of(runs)
                report[workload] = result
                print(f"{workload:7s} {json.dumps(result)}", flush=True)
        finally:
            sampler.running = False
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"submissions-{report['database']}.json"
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(report)
    out.write_text(json.dumps(history, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
