"""The real thing: `verivali init/demo/serve` as processes, and a Collect client over TCP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collect import CollectClient, HttpTransport, instance_xml, photo
from conftest import ROOT

from server import demo

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """`verivali init`, `demo` and `serve` (gunicorn, 2 workers) on a free loopback port."""
    port = _free_port()
    env = dict(
        os.environ,
        VERIVALI_DATA_DIR=str(tmp_path / "data"),
        VERIVALI_DATABASE_URL=database_url,
        VERIVALI_JAVA_VALIDATE="false",
        VERIVALI_BASE_URL=f"http://127.0.0.1:{port}",
        VERIVALI_MAX_SUBMISSION_BYTES="60000",
        VERIVALI_REGIONS_WITHIN="3573",
    )
    run = [sys.executable, "-m", "server"]
    subprocess.run([*run, "init"], env=env, cwd=ROOT, check=True, capture_output=True)
    demo = subprocess.run(
        [*run, "demo"], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [*run, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        server.kill()
        raise AssertionError((tmp_path / "serve.log").read_text())
    yield port, demo.stdout
    server.terminate()
    server.wait(timeout=30)
    log.close()
    served_log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in served_log, served_log


def _demo_line(output: str, prefix: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.strip().startswith(prefix))


def test_demo_server_serves_collect_over_tcp(served) -> None:  # type: ignore[no-untyped-def]
    """The demo prints working Collect settings; a phone downloads and sends a split upload."""
    port, output = served
    token_url = _demo_line(output, "pencacah1:")
    assert token_url.startswith(f"http://127.0.0.1:{port}/v1/key/")
    transport = HttpTransport()
    try:
        phone = CollectClient(transport, token_url)
        forms = {form.form_id: form for form in phone.download_all()}
        assert phone.updates() == {"kunjungan_rumah": "up to date", "verval_ruta": "up to date"}
        # The demo's fieldwork: this enumerator's own households of the synthetic registry,
        # but for those the demo's submissions visited already.
        households = forms["verval_ruta"].media_bytes["sasaran.csv"].decode().splitlines()
        left = demo.HOUSEHOLDS_EACH - demo.VISITED_EACH
        assert households[0].startswith("name,label,__version,") and len(households) == left + 1
        photos = {n: photo(25_000) for n in ("depan.jpg", "samping.jpg", "belakang.jpg")}
        upload = phone.submit(instance_xml(), photos)
        assert upload.status == 201
        assert len(upload.answers) >= 2  # split by X-OpenRosa-Accept-Content-Length
        password = _demo_line(output, "pencacah2 ")
        central = CollectClient(
            transport,
            f"http://127.0.0.1:{port}/v1/projects/1",
            username="pencacah2",
            password=password,
        )
        assert central.submit(instance_xml(), photos).status == 201
        assert central.challenges == 1
    finally:
        transport.close()
