"""Settings: every VERIVALI_* environment variable, its default, and its parsing.

No Flask import here, so the CLI, jobs and tests read settings the same way.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

MB = 1_000_000


class SettingsError(ValueError):
    """A VERIVALI_* variable holds a value we cannot use."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one Verivali instance."""

    data_dir: Path
    database_url: str
    redis_url: str | None = None
    secret_key: str = ""
    # Public base URL used in formList download links and printed Collect settings;
    # when empty, links are built from the request's host.
    base_url: str = ""
    realm: str = "Verivali"
    # Largest accepted submission body (bytes); Collect splits uploads to fit it.
    max_submission_bytes: int = 100 * MB
    # Largest instance XML part; real instances are a few KB.
    max_instance_xml_bytes: int = 10 * MB
    # Largest form definition upload (XLSForm workbook or media file).
    max_form_upload_bytes: int = 50 * MB
    digest_nonce_ttl: int = 300
    trust_proxy: bool = False
    java_validate: bool = True
    host: str = "0.0.0.0"  # noqa: S104 (phones on the LAN must reach the server)
    port: int = 8000
    workers: int = 0  # 0 = derive from the CPU count
    threads: int = 4
    timezone: str = "Asia/Jakarta"
    # Map tiles for the review pages ({z}/{x}/{y} template, e.g. an OSM mirror on the
    # network) and their attribution; empty: maps draw points on a grid, without tiles.
    tile_url: str = ""
    tile_attribution: str = ""
    # Load only this part of the region table (an undotted code such as "35"); "" = all.
    regions_within: str = ""
    # Without Redis, each server process checks queued submissions in a thread of its own.
    inprocess_worker: bool = True
    # The rq queue's name: instances sharing one Redis each need their own.
    rq_queue: str = "verivali"
    # SQLite page cache of each connection the rules' checks use, in MB.
    worker_cache_mb: int = 256

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _region_prefix(raw: str) -> str:
    code = raw.replace(".", "").strip()
    if code and (not code.isdigit() or len(code) not in (2, 4, 6)):
        raise SettingsError(
            f"VERIVALI_REGIONS_WITHIN must be a province, kabupaten or kecamatan code, got {raw!r}"
        )
    return code


def _secret_key(env: dict[str, str], data_dir: Path) -> str:
    """Use VERIVALI_SECRET_KEY, else a key kept in the data directory (made once)."""
    key = env.get("VERIVALI_SECRET_KEY", "")
    if key:
        return key
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment (or the given mapping)."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("VERIVALI_DATA_DIR") or "instance").resolve()
    database_url = env.get("VERIVALI_DATABASE_URL") or f"sqlite:///{data_dir / 'verivali.sqlite3'}"
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=env.get("VERIVALI_REDIS_URL") or None,
        secret_key=_secret_key(env, data_dir),
        base_url=(env.get("VERIVALI_BASE_URL") or "").rstrip("/"),
        realm=env.get("VERIVALI_REALM") or "Verivali",
        max_submission_bytes=_int(env, "VERIVALI_MAX_SUBMISSION_BYTES", 100 * MB, minimum=1024),
        max_instance_xml_bytes=_int(env, "VERIVALI_MAX_INSTANCE_XML_BYTES", 10 * MB, 1024),
        max_form_upload_bytes=_int(env, "VERIVALI_MAX_FORM_UPLOAD_BYTES", 50 * MB, 1024),
        digest_nonce_ttl=_int(env, "VERIVALI_DIGEST_NONCE_TTL", 300, minimum=1),
        trust_proxy=_bool(env, "VERIVALI_TRUST_PROXY", False),
        java_validate=_bool(env, "VERIVALI_JAVA_VALIDATE", True),
        host=env.get("VERIVALI_HOST") or "0.0.0.0",  # noqa: S104 (see Settings.host)
        port=_int(env, "VERIVALI_PORT", 8000, minimum=1),
        workers=_int(env, "VERIVALI_WORKERS", 0),
        threads=_int(env, "VERIVALI_THREADS", 4, minimum=1),
        timezone=env.get("VERIVALI_TIMEZONE") or "Asia/Jakarta",
        tile_url=(env.get("VERIVALI_TILE_URL") or "").strip(),
        tile_attribution=(env.get("VERIVALI_TILE_ATTRIBUTION") or "").strip(),
        regions_within=_region_prefix(env.get("VERIVALI_REGIONS_WITHIN") or ""),
        inprocess_worker=_bool(env, "VERIVALI_INPROCESS_WORKER", True),
        rq_queue=env.get("VERIVALI_RQ_QUEUE") or "verivali",
        worker_cache_mb=_int(env, "VERIVALI_WORKER_CACHE_MB", 256, minimum=2),
    )
