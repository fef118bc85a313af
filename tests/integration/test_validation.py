"""Submissions checked end to end: JavaRosa fills the questionnaire from the phone's own
list, Collect sends it with photos, and the bridge loads the facts, runs the rules, stores
the flags with their evidence and moves the review state."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from collect import CollectClient, LocalForm, WsgiTransport
from conftest import IN_CI, ROOT, Seed, publish
from PIL import Image
from test_assignments import give, make_list, phone, rows, set_up_field
from test_field_loop import found_answers

from server.models import Submission
from server.validation import queries as validation_queries
from server.validation.models import PhotoHash
from server.validation.photos import dhash
from server.validation.service import do_evaluate

sys.path.insert(0, str(ROOT / "tests" / "javarosa"))
from filler import fill_form, java_available  # noqa: E402

pytestmark = pytest.mark.java
if not java_available() and not IN_CI:
    pytest.skip("java/javac not installed (CI installs them)", allow_module_level=True)

PHOTOS = ("depan.jpg", "samping.jpg", "belakang.jpg")


def jpeg(seed: int) -> bytes:
    """A small real JPEG whose picture depends on the seed (so hashes differ)."""
    image = Image.new("L", (64, 48))
    image.putdata(
        [((x * (seed + 3) + y * (seed * 7 + 1)) * 37) % 256 for y in range(48) for x in range(64)]
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def field(svc, seed: Seed, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The fieldwork of test_assignments, the questionnaire with its rule settings, and
    3 households each for pencacah1 and pencacah2."""
    ready = set_up_field(svc, seed, tmp_path)
    publish(svc, seed.project_id, ROOT / "forms" / "verval_ruta.xlsx")
    make_list(ready, seed, kecamatan=("357304",))
    give(ready, seed, "pencacah1", 3)
    give(ready, seed, "pencacah2", 3)
    return ready


def questionnaire(client: CollectClient) -> LocalForm:
    return next(f for f in client.download_all() if f.form_id == "verval_ruta")


def submit(
    client: CollectClient,
    form: LocalForm,
    answers: dict[str, str],
    work: Path,
    photos: dict[str, bytes],
) -> None:
    """Fill with JavaRosa and send with the photos, as the phone does."""
    answers = {**answers, "@property.deviceid": client.device_id}
    xml = fill_form(form.xml, answers, work, media=form.media_bytes, timezone="Asia/Jakarta")
    upload = client.submit(xml, photos)
    assert upload.status == 201, upload.message()


def evaluate_all(svc):  # type: ignore[no-untyped-def]
    """Run the bridge over every submission, oldest first; flags by submission."""
    from sqlalchemy import select

    with svc.db.transaction() as session:
        ids = list(session.scalars(select(Submission.id).order_by(Submission.id)))
        found = {}
        for submission_id in ids:
            result = do_evaluate(session, svc.store, submission_id)
            assert result is not None
            found[submission_id] = result
    return found


def test_duplicates_and_reused_photos_are_flagged_on_both_sides(
    field, transport: WsgiTransport, seed: Seed, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    """Reused photos and a NIK reported by two enumerators are flagged, on both submissions."""
    work = tmp_path_factory.getbasetemp() / "javarosa"
    one = phone(transport, field, seed, "pencacah1")
    two = phone(transport, field, seed, "pencacah2")
    first, second = questionnaire(one), questionnaire(two)
    target_one = sorted(r["name"] for r in rows(first.media_bytes["sasaran.csv"]))[0]
    target_two = sorted(r["name"] for r in rows(second.media_bytes["sasaran.csv"]))[0]

    distinct = {name: jpeg(i) for i, name in enumerate(PHOTOS)}
    submit(one, first, found_answers(first, target_one), work, distinct)
    # The second enumerator reports the first household's baby in their own household
    # (the same new NIK), and sends one photo three times.
    same = {name: jpeg(9) for name in PHOTOS}
    submit(two, second, found_answers(second, target_two), work, same)

    results = evaluate_all(field)
    with field.db.sessions() as session:  # the house photos only: 3 distinct, 1 sent thrice
        assert session.query(PhotoHash).count() == 4
    (first_id, first_run), (second_id, second_run) = sorted(results.items())
    rules_two = {f.rule for f in second_run.flags}
    assert "V26" in rules_two  # front, side and back are the same picture
    assert "V21" in rules_two  # the baby's NIK is in the other submission
    assert second_run.review_state == "hasIssues"
    assert first_id in second_run.peers

    # Symmetric: the earlier submission gets the duplicate flag when it is checked again.
    with field.db.transaction() as session:
        again = do_evaluate(session, field.store, first_id)
        assert again is not None
        assert "V21" in {f.rule for f in again.flags}
        assert "V13" not in {f.rule for f in again.flags}  # its target was on its own list
        stored = validation_queries.flags_of(session, first_id)
        assert sorted(f.rule for f in stored) == sorted(f.rule for f in again.flags)
        duplicate = next(f for f in stored if f.rule == "V21")
        assert duplicate.evidence["other_submission_id"] == second_id
        assert (
            "3573" in duplicate.evidence["nik_masked"] and "*" in duplicate.evidence["nik_masked"]
        )
        # Idempotent: a second run replaces, never doubles.
        do_evaluate(session, field.store, first_id)
        assert len(validation_queries.flags_of(session, first_id)) == len(stored)
        assert session.get(Submission, first_id).review_state == "hasIssues"  # type: ignore[union-attr]


def test_photo_hash_is_stable_for_a_resaved_picture(tmp_path: Path) -> None:
    """The same picture saved twice at other qualities hashes within a few bits."""
    image = Image.open(io.BytesIO(jpeg(4)))
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    image.save(a, "JPEG", quality=95)
    image.resize((128, 96)).save(b, "JPEG", quality=60)
    first, second = dhash(a), dhash(b)
    assert first is not None and second is not None
    assert bin(first ^ second).count("1") <= 6
    other = tmp_path / "c.jpg"
    Image.open(io.BytesIO(jpeg(11))).save(other, "JPEG")
    assert bin(first ^ (dhash(other) or 0)).count("1") > 6
    (tmp_path / "x.jpg").write_bytes(b"not a picture")
    assert dhash(tmp_path / "x.jpg") is None


def test_rules_rerun_and_run_from_the_command_line(
    field, transport: WsgiTransport, seed: Seed, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    """`verivali rules rerun --form` checks every submission again; `rules run` one."""
    from test_field_loop import verivali

    work = tmp_path_factory.getbasetemp() / "javarosa"
    one = phone(transport, field, seed, "pencacah1")
    form = questionnaire(one)
    target = sorted(r["name"] for r in rows(form.media_bytes["sasaran.csv"]))[0]
    submit(one, form, found_answers(form, target), work, {n: jpeg(i) for i, n in enumerate(PHOTOS)})
    out = verivali(field, "rules", "rerun", "--form", "verval_ruta")
    # Filled by a machine in a second, the interview is too short (V35); the baby has
    # neither a KTP nor a KK photo (V14, V27).
    assert out == "checked 1 submissions (1 checks)  hasIssues: 1\n"
    (line,) = verivali(field, "rules", "run", "1").splitlines()
    submission, state, fired = line.split("\t")
    # V37 (night interview) fires or not with the hour the test runs at.
    assert (submission, state) == ("1", "hasIssues")
    assert set(fired.split(",")) - {"V37"} == {"V14", "V27", "V35"}
    assert "no such submission" in verivali(field, "rules", "run", "99")
    # The check kept the interview's minutes (well under one) for the dashboard.
    with field.db.sessions() as session:
        minutes = session.get(Submission, 1).interview_minutes
    assert minutes is not None and 0 <= minutes < 1


def test_a_listed_household_receives_what_its_members_receive(field, seed: Seed) -> None:  # type: ignore[no-untyped-def]
    """From a DTKS extract (one row per person) the target's programmes are its members'."""
    from sqlalchemy import select

    from server.assignments.models import Target
    from server.registry.models import Person

    with field.db.transaction() as session:
        found = []
        for target in session.scalars(select(Target).where(Target.project_id == seed.project_id)):
            members = session.scalars(
                select(Person.programmes).where(Person.household_id == target.household_id)
            ).all()
            expected = {n for p in members for n, on in p.items() if on}
            key = (target.project_id, target.id)
            facts = validation_queries.targets(session, [key]).get(key)
            assert facts is not None
            assert {n for n, on in facts.programmes.items() if on} == expected
            found.append(expected)
        assert any(found)  # some listed household receives a programme
