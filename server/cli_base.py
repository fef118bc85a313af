"""What every `verivali` command shares: settings, a unit of work, one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from server import build_services
from server.config import Settings, load_settings
from server.services import Services


class CliError(Exception):
    """A one-line error for the user of the command line."""


def load_cli_settings() -> Settings:
    return load_settings()


@contextmanager
def services(need_schema: bool = True) -> Iterator[Services]:
    """The services of one command, for commands that run several units of work."""
    svc = build_services(load_cli_settings())
    try:
        if need_schema and not svc.db.has_schema():
            raise CliError(
                f"no database at {svc.settings.database_url.split('@')[-1]}; "
                "run 'verivali init' first"
            )
        yield svc
    finally:
        svc.db.dispose()


@contextmanager
def unit_of_work(
    need_schema: bool = True, bulk: bool = False
) -> Iterator[tuple[Services, Session]]:
    with services(need_schema) as svc, svc.db.transaction(bulk=bulk) as session:
        yield svc, session
