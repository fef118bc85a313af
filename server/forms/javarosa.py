"""Checking an XForm with JavaRosa, the engine inside ODK Collect (pyxform's ODK_Validate.jar).

Runs only when Java is installed (CI installs it); the result says whether it ran, so the
publisher can report "not checked" instead of pretending.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pyxform.validators.odk_validate import ODKValidateError, check_xform


@dataclass
class ValidationResult:
    """Outcome of a JavaRosa check."""

    ran: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def java_available() -> bool:
    return shutil.which("java") is not None


def validate_xform(xml: bytes, tmp_dir: Path) -> ValidationResult:
    """Parse `xml` with JavaRosa; errors mean Collect would refuse the form."""
    if not java_available():
        return ValidationResult(ran=False)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="xform-", suffix=".xml") as handle:
        handle.write(xml)
        handle.flush()
        try:
            warnings = check_xform(handle.name)
        except ODKValidateError as exc:
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            errors = [ln for ln in lines if not ln.startswith("ODK Validate Errors")]
            return ValidationResult(ran=True, errors=errors or lines)
    cleaned = [
        line
        for warning in warnings
        for line in warning.splitlines()
        if line.strip() and not line.startswith("ODK Validate Warnings")
    ]
    return ValidationResult(ran=True, warnings=cleaned)
