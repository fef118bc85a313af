"""What a designer reads when a form is refused or published with warnings: pyxform's and
JavaRosa's messages as lines with the sheet and row where they were given. Pure: strings in,
lines out.

pyxform's messages reach here already explained by xlsform.explain ("Lembar 'survey', baris
3: hint (original)"); JavaRosa's (ODK Validate) come as Java output, stack-trace noise
included, which is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from server import problems
from server.problems import ProblemError

# xlsform.explain's prefix: "Lembar 'survey', baris 3: hint (original)" or, without a hint,
# "Lembar 'survey', baris 3 (original)".
_WHERE = re.compile(r"^Lembar '(?P<sheet>[^']+)'(?:, baris (?P<row>\d+))?(?::\s*|\s+(?=\())")
# ODK Validate's lines that say nothing to a designer.
_JAVA_NOISE = re.compile(
    r"^(>> Something broke the parser\.?|\s*\.\.\. \d+ more|\s*at [\w.$]+\(.*\)|"
    r"The following files failed validation:|\$\{[^}]*\}\.xml|Result: Invalid|"
    r"ODK Validate (Errors|Warnings):?)\s*$"
)
_CAUSED_BY = re.compile(r"^Caused by: [\w.$]+(Exception|Error): ")
# Problems whose details are a list of messages, one a line, and where they come from.
_SOURCES = {
    problems.XLSFORM_INVALID.code: "pyxform",
    problems.XFORM_INVALID.code: "javarosa",
    problems.RULE_SETTINGS_INVALID.code: "rules",
}


@dataclass(frozen=True)
class Line:
    """One message, with the sheet and row of the XLSForm when the converter gave them."""

    text: str
    sheet: str | None = None
    row: int | None = None


@dataclass(frozen=True)
class Report:
    """A refusal as the upload page shows it: a headline and the converter's lines."""

    headline: str
    code: str
    status: int
    source: str | None = None  # "pyxform", "javarosa", "rules" or None
    lines: list[Line] = field(default_factory=list)


def xlsform_line(message: str) -> Line:
    """An explained pyxform message split into its sheet, row and text."""
    text = message.strip()
    found = _WHERE.match(text)
    if found is None:
        return Line(text)
    rest = text[found.end() :].strip()
    if rest.startswith("(") and rest.endswith(")") and ": " not in text[: found.end()]:
        rest = rest[1:-1]
    row = found.group("row")
    return Line(rest, found.group("sheet"), int(row) if row else None)


def xlsform_lines(messages: list[str]) -> list[Line]:
    return [xlsform_line(m) for m in messages if m.strip()]


def javarosa_lines(messages: list[str]) -> list[Line]:
    """ODK Validate's output without the Java noise, each message once."""
    seen: set[str] = set()
    lines = []
    for message in messages:
        text = _CAUSED_BY.sub("", message.strip())
        if not text or _JAVA_NOISE.match(message) or _JAVA_NOISE.match(text) or text in seen:
            continue
        seen.add(text)
        lines.append(Line(text))
    return lines


def report(error: ProblemError, language: str) -> Report:
    """A refused upload as a headline (the problem's message) and its detail lines."""
    source = _SOURCES.get(error.problem.code)
    message = error.message(language)
    if source is None:
        return Report(message, error.problem.code, error.status)
    headline = message.split("\n", 1)[0].rstrip(":")
    details = str(error.details.get("details", "")).splitlines()
    lines = javarosa_lines(details) if source == "javarosa" else xlsform_lines(details)
    return Report(headline, error.problem.code, error.status, source, lines)
