"""The reading half of a large registry import, run as its own process.

`importer.do_import` starts `python -m server.registry.import_reader FD` for large
extracts, writes the import plan (pickled) to its stdin, and reads pickled batches back
from the pipe FD. It imports only reading.py and what that needs (no Flask, no SQLAlchemy).
"""

from __future__ import annotations

import os
import pickle
import sys

from server.registry.reading import read_into


def main() -> None:
    plan = pickle.load(sys.stdin.buffer)  # noqa: S301 - the parent process wrote it
    with os.fdopen(int(sys.argv[1]), "wb", buffering=1 << 20) as out:
        read_into(plan, out)


if __name__ == "__main__":
    main()
