"""Fill XForms with JavaRosa, the form engine of ODK Collect, from Python tests.

This is the Python side of ``FormFiller.java`` (same directory). It compiles
the Java tool once against the JavaRosa classes bundled in pyxform's
``ODK_Validate.jar`` (located through
``pyxform.validators.odk_validate.ODK_VALIDATE_PATH``), then runs it to fill a
form with given answers and returns the instance XML exactly as JavaRosa
serialises it for submission -- so server tests can submit genuinely
Collect-shaped instances instead of hand-written XML.

Answer keys are question paths without the root element and without
positional indexes (``nama``, ``grp/umur``, ``anggota/nama_anggota``);
``anggota@count`` sets a repeat's number of instances and
``anggota/nama_anggota#2`` answers one instance; ``@property.deviceid`` (and
``username``, ``email``, ``phonenumber``) feed Collect's "property" preloads.
See ``FormFiller.java`` / ``README.md`` for value formats and exit codes.

Form media (``media={"desa.csv": csv_bytes}``) are written to a per-call
media directory that jr://file-csv/, jr://file/, jr://images/ ... URIs
resolve to, as in ODK Collect: CSV/XML external secondary instances
(select_one_from_file, csv-external, xml-external) get their data, and
pulldata() reads the CSV files.

Usage::

    from filler import fill_form, java_available
    xml = fill_form(form_xml, {"nama": "Budi", "anggota@count": "2"}, tmp_path)
    xml = fill_form(form_xml, {"desa": "3573011001"}, tmp_path,
                    media={"desa.csv": pathlib.Path("desa.csv").read_bytes()})
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping

__all__ = ["FormFillerError", "fill_form", "java_available", "jar_path"]

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE / "FormFiller.java"
TIMEOUT_SECONDS = 120

# Exit codes of FormFiller.java.
EXIT_REJECTED = 2  # constraint / required / invalid value, as Collect would refuse
EXIT_UNUSED_KEYS = 3  # answer keys that matched no reached question

# Name of the per-call media directory (Collect: forms/<form name>-media/).
MEDIA_DIR_NAME = "form-media"

_compiled: dict[pathlib.Path, pathlib.Path] = {}


class FormFillerError(RuntimeError):
    """FormFiller failed; ``returncode`` and ``stderr`` tell why."""

    def __init__(self, message: str, returncode: int | None, stderr: str):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


def jar_path() -> pathlib.Path:
    """Path of pyxform's ODK_Validate.jar (a fat jar containing JavaRosa)."""
    from pyxform.validators.odk_validate import ODK_VALIDATE_PATH

    return pathlib.Path(ODK_VALIDATE_PATH)


def java_available() -> bool:
    """True if java, javac and pyxform's ODK_Validate.jar are all usable."""
    if shutil.which("java") is None or shutil.which("javac") is None:
        return False
    try:
        return jar_path().is_file()
    except ImportError:
        return False


def _source_hash(jar: pathlib.Path) -> str:
    digest = hashlib.sha256(SOURCE.read_bytes())
    stat = jar.stat()
    digest.update(f"\0{jar}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _compile(workdir: pathlib.Path) -> pathlib.Path:
    """Compile FormFiller.java once per source/jar version; return classes dir."""
    jar = jar_path()
    build = workdir / ".formfiller-build" / _source_hash(jar)
    if build in _compiled or (build / "FormFiller.class").is_file():
        _compiled[build] = build
        return build
    build.parent.mkdir(parents=True, exist_ok=True)
    # Compile into a scratch dir and rename, so concurrent runs never see a
    # half-written build.
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="compile-", dir=build.parent))
    try:
        proc = subprocess.run(
            ["javac", "-encoding", "UTF-8", "-cp", str(jar), "-d", str(scratch), str(SOURCE)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
        if proc.returncode != 0:
            raise FormFillerError(
                f"javac failed on {SOURCE} (exit {proc.returncode}):\n{proc.stderr}",
                proc.returncode,
                proc.stderr,
            )
        try:
            os.rename(scratch, build)
        except OSError:
            if not (build / "FormFiller.class").is_file():  # lost a race? fine
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _compiled[build] = build
    return build


def _escape_properties(text: str) -> str:
    """Escape a key or value for java.util.Properties.load(Reader)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\f":
            out.append("\\f")
        elif ch in " =:#!":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _media_path(media_dir: pathlib.Path, name: str) -> pathlib.Path:
    """Where media file ``name`` goes; refuses names escaping ``media_dir``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"media file name must be a non-empty str, got {name!r}")
    parts = pathlib.PurePosixPath(name).parts
    if (
        "\\" in name
        or "\0" in name
        or name.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ValueError(f"media file name must be a plain relative path, got {name!r}")
    return media_dir.joinpath(*parts)


def _write_media(media_dir: pathlib.Path, media: Mapping[str, bytes]) -> None:
    media_dir.mkdir()
    for name, content in media.items():
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"media file {name!r}: content must be bytes, got {type(content).__name__}"
            )
        path = _media_path(media_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(content))


def fill_form(
    form_xml: bytes,
    answers: dict[str, str],
    workdir: pathlib.Path,
    *,
    media: Mapping[str, bytes] | None = None,
    timezone: str | None = None,
) -> bytes:
    """Fill ``form_xml`` with ``answers`` via JavaRosa; return instance XML bytes.

    ``workdir`` holds the compiled classes (``.formfiller-build/<hash>``) and a
    scratch directory per call (removed on success, kept on failure).
    ``media`` maps form media file names (as the form refers to them, e.g.
    ``"desa.csv"`` for ``jr://file-csv/desa.csv``; ``"sub/x.png"`` for a
    subdirectory) to their bytes; they are written to a media directory in the
    scratch directory that jr://file-csv/, jr://file/, jr://images/,
    jr://audio/, jr://video/ URIs resolve to, as in Collect, so external
    secondary instances (select_one_from_file, csv-external, xml-external) and
    pulldata() see them. Without ``media`` no media directory is passed and
    external instances stay empty (FormFiller warns on stderr). ``timezone``
    (e.g. ``"Asia/Jakarta"``) sets the JVM time zone used for start/end/today
    and dateTime answers; by default the JVM's own default applies. Raises
    ``FormFillerError`` (a RuntimeError) carrying FormFiller's stderr and exit
    code on failure: exit 2 means Collect would reject an answer (constraint,
    required, bad value, unknown choice), exit 3 means some answer keys matched
    no question. Bad media names (absolute, ``..``) raise ``ValueError``.
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    classes = _compile(workdir)
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="fill-", dir=workdir))
    form_path = run_dir / "form.xml"
    answers_path = run_dir / "answers.properties"
    form_path.write_bytes(form_xml)
    lines = [
        f"{_escape_properties(str(k))}={_escape_properties(str(v))}" for k, v in answers.items()
    ]
    answers_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    media_dir = None
    if media is not None:
        media_dir = run_dir / MEDIA_DIR_NAME
        try:
            _write_media(media_dir, media)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise

    # file.encoding=UTF-8: JavaRosa reads CSV external instances with the
    # platform charset, which is UTF-8 on Android (and not on every JVM).
    cmd = ["java", "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8"]
    if timezone:
        cmd.append(f"-Duser.timezone={timezone}")
    cmd += [
        "-cp",
        os.pathsep.join([str(jar_path()), str(classes)]),
        "FormFiller",
        str(form_path),
        str(answers_path),
    ]
    if media_dir is not None:
        cmd.append(str(media_dir))
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as e:
        stderr = (e.stderr or b"").decode("utf-8", "replace")
        raise FormFillerError(
            f"FormFiller timed out after {TIMEOUT_SECONDS}s:\n{stderr}", None, stderr
        ) from e
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise FormFillerError(
            f"FormFiller failed (exit {proc.returncode}) for {form_path}:\n{stderr.strip()}",
            proc.returncode,
            stderr,
        )
    shutil.rmtree(run_dir, ignore_errors=True)  # kept on failure, for debugging
    return proc.stdout
