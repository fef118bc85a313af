"""Refused forms as a designer reads them: pyxform's explained messages split into sheet, row
and text, JavaRosa's output without the Java noise, and a problem turned into a report."""

from __future__ import annotations

from server import problems
from server.forms.report import Line, javarosa_lines, report, xlsform_line
from server.forms.xlsform import explain
from server.problems import ProblemError


def test_explained_pyxform_message_gives_sheet_row_and_text() -> None:
    """'[row : 3] Unknown question type' becomes survey, 3 and the hint with the original."""
    line = xlsform_line(explain("[row : 3] Unknown question type 'tex'."))
    assert line.sheet == "survey" and line.row == 3
    assert line.text.startswith("Tipe pertanyaan tidak dikenal")
    assert "Unknown question type 'tex'." in line.text


def test_message_without_hint_keeps_its_original_text() -> None:
    """A located message with no hint shows the original, without the parentheses."""
    line = xlsform_line(explain("[row : 5] On the 'choices' sheet, something odd"))
    assert line == Line("Something odd", "choices", 5)


def test_message_without_place_is_kept_whole() -> None:
    """A message that names no sheet stays as it is."""
    assert xlsform_line("Berkas .xlsx rusak atau bukan .xlsx (x)") == Line(
        "Berkas .xlsx rusak atau bukan .xlsx (x)"
    )


def test_javarosa_output_loses_the_java_noise() -> None:
    """Parser banners, 'Caused by' class names, stack frames and the result line are dropped."""
    output = [
        ">> Something broke the parser.",
        "Error evaluating field 'c' (${c}[1]): The problem was located in ${c}",
        "XPath evaluation: cannot handle function 'f'",
        "Caused by: org.javarosa.xpath.XPathUnhandledException: The problem was located in ${c}",
        "XPath evaluation: cannot handle function 'f'",
        "\tat org.javarosa.core.Foo(Foo.java:12)",
        "\t... 10 more",
        "The following files failed validation:",
        "${xform-4ry5smyn}.xml",
        "Result: Invalid",
    ]
    assert [line.text for line in javarosa_lines(output)] == [
        "Error evaluating field 'c' (${c}[1]): The problem was located in ${c}",
        "XPath evaluation: cannot handle function 'f'",
        "The problem was located in ${c}",
    ]


def test_report_of_a_conversion_error_has_a_headline_and_lines() -> None:
    """XLSFORM_INVALID becomes the problem's first line and one line per message."""
    details = "\n".join([explain("[row : 4] Unknown question type 'x'."), "Lain"])
    made = report(ProblemError(problems.XLSFORM_INVALID, details=details), "en")
    assert made.headline == "The form could not be converted"
    assert made.source == "pyxform" and made.status == 422 and made.code == "422.1"
    assert [(line.sheet, line.row) for line in made.lines] == [("survey", 4), (None, None)]


def test_report_of_another_problem_is_its_message() -> None:
    """A problem without a list of messages is reported by its message alone."""
    made = report(ProblemError(problems.EMPTY_FILE, name="a.xlsx"), "id")
    assert made.headline == "Berkas a.xlsx kosong." and made.lines == [] and made.source is None
