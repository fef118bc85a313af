"""The submission decision `decide()` as a table (new, same, edit, and each refusal), and
the pure helpers around it: the receipt Collect is shown and the file-name checks.
No app, no database.
"""

from __future__ import annotations

import pytest

from server import problems
from server.openrosa.envelope import parse_envelope
from server.openrosa.service import (
    Known,
    Outcome,
    Receipt,
    check_attachment_names,
    clean_text,
    decide,
    plain_part_name,
)
from server.problems import ProblemError

SHA = "a" * 64
OTHER = "b" * 64


def envelope(deprecated_id: str | None = None):  # type: ignore[no-untyped-def]
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    return parse_envelope(
        f'<data id="f" version="1"><meta><instanceID>uuid:new</instanceID>{deprecated}'
        "</meta></data>".encode()
    )


def known(sha: str = SHA, deleted: bool = False, current: bool = True) -> Known:
    return Known(xml_sha256=sha, deleted=deleted, is_current=current)


# (case, deprecatedID in the envelope, what the instanceID names, what the deprecatedID
#  names, expected decision or problem)
TABLE = [
    ("new instance", None, None, None, "create"),
    ("byte-identical resend", None, known(), None, "same"),
    ("identical resend of an older version", None, known(current=False), None, "same"),
    ("same instanceID, other XML", None, known(OTHER), None, problems.INSTANCE_CONFLICT),
    ("deleted, identical XML", None, known(deleted=True), None, problems.SUBMISSION_DELETED),
    ("deleted, other XML", None, known(OTHER, deleted=True), None, problems.SUBMISSION_DELETED),
    ("edit of the current version", "uuid:old", None, known(OTHER), "edit"),
    ("edit of an unknown submission", "uuid:old", None, None, problems.DEPRECATED_NOT_FOUND),
    (
        "edit of an older version",
        "uuid:old",
        None,
        known(OTHER, current=False),
        problems.DEPRECATED_STALE,
    ),
    (
        "edit of a deleted submission",
        "uuid:old",
        None,
        known(OTHER, deleted=True),
        problems.SUBMISSION_DELETED,
    ),
    (
        "deleted and stale: deleted wins",
        "uuid:old",
        None,
        known(OTHER, deleted=True, current=False),
        problems.SUBMISSION_DELETED,
    ),
    ("edit resent identically", "uuid:old", known(), known(OTHER), "same"),
    ("edit resent with other XML", "uuid:old", known(OTHER), known(), problems.INSTANCE_CONFLICT),
    (
        "edit's instanceID deleted",
        "uuid:old",
        known(deleted=True),
        known(),
        problems.SUBMISSION_DELETED,
    ),
    ("deprecated facts without a deprecatedID", None, None, known(current=False), "create"),
]


@pytest.mark.parametrize(
    ("deprecated_id", "same_id", "deprecated", "expected"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_decide(deprecated_id, same_id, deprecated, expected) -> None:
    """decide() returns the decision, or raises the declared problem, for each situation."""
    if isinstance(expected, str):
        assert decide(SHA, envelope(deprecated_id), same_id, deprecated) == expected
        return
    with pytest.raises(ProblemError) as caught:
        decide(SHA, envelope(deprecated_id), same_id, deprecated)
    assert caught.value.problem is expected


@pytest.mark.parametrize(
    ("deprecated_id", "same_id", "deprecated", "needle"),
    [
        (None, known(OTHER), None, "uuid:new"),
        ("uuid:old", None, None, "uuid:old"),
        ("uuid:old", None, known(current=False), "uuid:old"),
    ],
)
def test_refusals_name_the_instance(deprecated_id, same_id, deprecated, needle) -> None:
    """The Indonesian message of a refusal names the instanceID concerned."""
    with pytest.raises(ProblemError) as caught:
        decide(SHA, envelope(deprecated_id), same_id, deprecated)
    assert needle in caught.value.message("id")


# ---- the receipt ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outcome", "status", "message"),
    [
        (Outcome.CREATED, 201, "Data berhasil diterima."),
        (Outcome.PART_ADDED, 201, "Data berhasil diterima."),
        (Outcome.EDITED, 201, "Perbaikan kiriman berhasil diterima."),
        (Outcome.DUPLICATE, 202, "Kiriman ini sudah diterima sebelumnya. Terima kasih."),
    ],
)
def test_receipt_status_and_message(outcome, status, message) -> None:
    """Each outcome answers 201 or 202 (never 200 or 204) with its Indonesian message."""
    receipt = Receipt(outcome, 1, 1)
    assert (receipt.status, receipt.message()) == (status, message)


def test_receipt_lists_at_most_five_waiting_files() -> None:
    """Missing files are counted and the first five named."""
    receipt = Receipt(Outcome.CREATED, 1, 1, [f"{i}.jpg" for i in range(7)])
    assert receipt.message() == (
        "Data berhasil diterima. Masih menunggu 7 berkas: 0.jpg, 1.jpg, 2.jpg, 3.jpg, 4.jpg."
    )


# ---- names and text -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("depan.jpg", "depan.jpg"),
        ("foto rumah é.jpg", "foto rumah é.jpg"),
        ("..foo.jpg", "..foo.jpg"),
        ("../../evil.jpg", None),
        ("..\\evil.jpg", None),
        ("/etc/passwd", None),
        ("a\x00.jpg", None),
        ("a\nb.jpg", None),
        (".", None),
        ("..", None),
        ("", None),
        (None, None),
        ("x" * 256, None),
    ],
)
def test_plain_part_name(name, plain) -> None:
    """Only a plain file name (no path, no control characters, 1-255 chars) is usable."""
    assert plain_part_name(name) == plain


def test_overlong_attachment_name_is_refused() -> None:
    """A name longer than 255 characters is a 400 BAD_FILE_NAME; 255 is fine."""
    assert check_attachment_names(["a" * 255]) == ["a" * 255]
    with pytest.raises(ProblemError) as caught:
        check_attachment_names(["ok.jpg", "a" * 256])
    assert caught.value.problem is problems.BAD_FILE_NAME


@pytest.mark.parametrize(
    ("value", "limit", "cleaned"),
    [
        ("collect:ABC", 255, "collect:ABC"),
        ("collect:\x00A\x01B\x7f", 255, "collect:AB"),
        ("x" * 300, 255, "x" * 255),
        ("\x00\x01", 255, None),
        ("", 255, None),
        (None, 255, None),
    ],
)
def test_clean_text(value, limit, cleaned) -> None:
    """Header and query text loses control characters and is cut to the column's size."""
    assert clean_text(value, limit) == cleaned
