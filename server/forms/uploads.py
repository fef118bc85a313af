"""Files uploaded to publish a form, laid out on disk the way the publisher reads them.

The request has already streamed each part into a temporary file in the data directory
(server/http.py). Here each one is copied, size-limited, into a private directory under the
data directory's tmp, named by its checked client name: the publisher takes the form ID from
the XLSForm's file name when the settings sheet names none, and media by their file names.
A name is a plain file name or the upload is refused: a client name never becomes a path.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

from server import problems
from server.forms.service import check_media_name
from server.problems import ProblemError

CHUNK = 1 << 20


def plain_name(name: str) -> str:
    """The client's file name if it is a plain file name; else a 400 naming it."""
    try:
        return check_media_name(name)
    except ProblemError:
        raise ProblemError(problems.BAD_FILE_NAME, name=name[:100]) from None


class UploadDir:
    """A private directory for one upload's files, removed when the upload is done."""

    def __init__(self, tmp_dir: Path, limit: int) -> None:
        self.limit = limit
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="upload-", dir=tmp_dir))

    def place(self, kind: str, name: str, stream: IO[bytes]) -> Path:
        """Copy `stream` to <kind>/<name>; refuse a bad name, an empty or too large file."""
        checked = plain_name(name)
        folder = self.root / kind
        folder.mkdir(exist_ok=True)
        target = folder / checked
        if target.exists():
            raise ProblemError(
                problems.INVALID_INPUT, field=kind, reason=f"duplicate file name {checked!r}"
            )
        size = 0
        with target.open("wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > self.limit:
                    raise ProblemError(
                        problems.FORM_FILE_TOO_LARGE,
                        name=checked,
                        limit_mb=problems.megabytes(self.limit),
                    )
                out.write(chunk)
        if size == 0:
            raise ProblemError(problems.EMPTY_FILE, name=checked)
        return target

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> UploadDir:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
