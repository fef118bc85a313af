"""The review pages: the projects one may review, the queue, a submission's detail page and
the decisions posted from them. Thin: access decides reach, queries read, actions write."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Sequence

from flask import (
    Response,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from server import audit, i18n, problems
from server.accounts import access as account_access
from server.accounts import queries as account_queries
from server.assignments import queries as assignment_queries
from server.i18n import language
from server.models import REVIEW_STATES, utcnow
from server.problems import ProblemError
from server.reviews import actions, detail, queries, queue
from server.reviews import export as exports
from server.reviews import export_formats as formats
from server.reviews.access import Scope, access_review, access_submission, may_review
from server.reviews.masking import mask, shown
from server.services import services
from server.services import session as db_session
from server.validation import jobs as validation_jobs
from server.web.session import login_required, no_store, page_blueprint, require_viewer

bp = page_blueprint("reviews", __name__)
bp.add_app_template_filter(mask, "masked")


def _scope(project_id: int) -> Scope:
    return access_review(db_session(), require_viewer(), project_id)


def _page(template: str, status: int = 200, **context: object) -> Response:
    return no_store(Response(render_template(template, **context), status, mimetype="text/html"))


@bp.get("/projects")
@login_required
def home() -> Response:
    viewer = require_viewer()
    session = db_session()
    ids = account_access.visible_project_ids(session, viewer.user_id, viewer.role)
    projects = [p for p in account_queries.all_projects(session) if ids is None or p.id in set(ids)]
    if may_review(viewer.role) and len(projects) == 1:
        return redirect(url_for("reviews.queue_page", project_id=projects[0].id))  # type: ignore[return-value]
    return _page("reviews/home.html", projects=projects, reviews=may_review(viewer.role))


@bp.get("/projects/<int:project_id>/reviews")
@login_required
def queue_page(project_id: int) -> Response:
    scope = _scope(project_id)
    session = db_session()
    view = queue.parse(request.args)
    zone = i18n.zone()
    rows = queries.queue_page(
        session, project_id, scope.submitters, view, zone, queue.PAGE_SIZE + 1
    )
    more = len(rows) > queue.PAGE_SIZE
    rows = rows[: queue.PAGE_SIZE]
    next_view = None
    if more:
        last = rows[-1]
        rank = last.flag_rank if view.sort == "severity" else None
        next_view = view.args(after=queue.Cursor(last.id, rank))
    villages = queries.project_villages(session, project_id)
    names = assignment_queries.region_names(
        session,
        [*villages, *(v[:6] for v in villages), *(r.village_code for r in rows if r.village_code)],
    )
    return _page(
        "reviews/queue.html",
        scope=scope,
        view=view,
        rows=rows,
        rules=queries.rules_of(session, [r.id for r in rows]),
        counts=queries.state_counts(session, project_id, scope.submitters, view, zone),
        states=REVIEW_STATES,
        severities=list(queue.SEVERITY_RANK),
        next_args=next_view,
        enumerators=queries.enumerators(session, project_id, scope.submitters),
        villages=villages,
        kecamatan=sorted({v[:6] for v in villages}),
        names=names,
        flagged_rules=queries.flagged_rules(session, project_id),
        rank_names={rank: name for name, rank in queue.SEVERITY_RANK.items()},
    )


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) < 10][:500]


@bp.post("/projects/<int:project_id>/reviews/approve")
@login_required
def bulk_approve(project_id: int) -> Response:
    scope = _scope(project_id)
    wanted = _ids(request.form.getlist("submission"))
    approved = actions.do_bulk_approve(db_session(), scope, wanted)
    done = (
        _("%(n)d kiriman diteruskan ke admin untuk persetujuan; %(m)d lainnya dibiarkan.")
        if scope.awaits_admin
        else _("%(n)d kiriman disetujui; %(m)d lainnya dibiarkan.")
    )
    flash(done % {"n": len(approved), "m": len(wanted) - len(approved)})
    back = request.form.get("back", "")
    target = url_for("reviews.queue_page", project_id=project_id)
    return redirect(target + (back if back.startswith("?") else ""))  # type: ignore[return-value]


def _detail(project_id: int, submission_id: int, revealed: bool = False) -> Response:
    scope = _scope(project_id)
    session = db_session()
    head = access_submission(session, scope, submission_id)
    page = detail.gather(session, head, language())
    return _page(
        "reviews/detail.html",
        scope=scope,
        page=page,
        revealed=revealed,
        show=lambda text: shown(text, revealed),
        evidence_items=detail.evidence_items,
        rank_names={rank: name for name, rank in queue.SEVERITY_RANK.items()},
        kobo=actions.KOBO_STATUS,
        tile_url=services().settings.tile_url,
        tile_attribution=services().settings.tile_attribution,
    )


@bp.get("/projects/<int:project_id>/submissions/<int:submission_id>")
@login_required
def detail_page(project_id: int, submission_id: int) -> Response:
    return _detail(project_id, submission_id)


@bp.post("/projects/<int:project_id>/submissions/<int:submission_id>/reveal")
@login_required
def reveal(project_id: int, submission_id: int) -> Response:
    scope = _scope(project_id)
    if not scope.may_reveal:
        raise ProblemError(problems.READ_ONLY, role=scope.viewer.role)
    head = access_submission(db_session(), scope, submission_id)
    audit.record(db_session(), scope.viewer.user_id, "submission.reveal", "submission", head.id)
    return _detail(project_id, submission_id, revealed=True)


_DONE = {
    "approve": _l("Kiriman disetujui."),
    "approve_first": _l("Disetujui koordinator; menunggu persetujuan admin."),
    "reject": _l("Kiriman ditolak."),
    "revisit": _l("Rumah tangga dikembalikan ke daftar pencacah untuk kunjungan ulang."),
    "escalate": _l("Kiriman diteruskan ke admin."),
    "comment": _l("Komentar disimpan."),
}


_ACTIONS = "<any(approve, reject, revisit, escalate, comment):action>"


@bp.post(f"/projects/<int:project_id>/submissions/<int:submission_id>/{_ACTIONS}")
@login_required
def decide(project_id: int, submission_id: int, action: str) -> Response:
    scope = _scope(project_id)
    session = db_session()
    head = access_submission(session, scope, submission_id)
    seen = request.form.get("seen") or None
    note = request.form.get("note", "")
    if action == "approve":
        validation_jobs.notify(session, services(), actions.do_approve(session, scope, head, seen))
    elif action == "reject":
        actions.do_reject(session, scope, head, note, seen)
    elif action == "revisit":
        actions.do_return(session, scope, head, note, seen)
    elif action == "escalate":
        actions.do_escalate(session, scope, head, note)
    else:
        actions.do_comment(session, scope, head, note)
    done = _DONE["approve_first"] if action == "approve" and scope.awaits_admin else _DONE[action]
    flash(str(done))
    return redirect(url_for("reviews.detail_page", project_id=project_id, submission_id=head.id))  # type: ignore[return-value]


@bp.post("/projects/<int:project_id>/submissions/<int:submission_id>/correct")
@login_required
def correct(project_id: int, submission_id: int) -> Response:
    scope = _scope(project_id)
    session = db_session()
    head = access_submission(session, scope, submission_id)
    form = request.form
    job = actions.do_correct(
        session,
        scope,
        head,
        form.get("field", ""),
        form.get("value", ""),
        form.get("note", ""),
        form.get("seen") or None,
    )
    validation_jobs.notify(session, services(), job)
    flash(_("Nilai diperbaiki; versi baru disimpan."))
    return redirect(url_for("reviews.detail_page", project_id=project_id, submission_id=head.id))  # type: ignore[return-value]


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_EXPORTS = "<any(approved, submissions):kind>.<any(csv, xlsx):fmt>"


@bp.post(f"/projects/<int:project_id>/exports/{_EXPORTS}")
@login_required
def export(project_id: int, kind: str, fmt: str) -> Response:
    """Approved results (one row per person) or raw submissions, streamed; audited. The
    numbers are whole in an export, so only those who may reveal them may export."""
    scope = _scope(project_id)
    if not scope.may_reveal:
        raise ProblemError(problems.READ_ONLY, role=scope.viewer.role)
    svc = services()
    session = db_session()
    layout = None
    if kind == "submissions":
        forms = queries.submitted_forms(session, project_id)
        form_id = request.form.get("form") or (forms[0] if forms else "")
        layout = exports.raw_layout(session, project_id, form_id)
        if layout is None:
            raise ProblemError(problems.FORM_NOT_FOUND, form_id=form_id)
    audit.record(
        session, scope.viewer.user_id, "export", "project", project_id, kind=kind, format=fmt
    )
    name = f"verivali-{project_id}-{kind}-{utcnow():%Y%m%d-%H%M}.{fmt}"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    submitters = scope.submitters
    if fmt == "xlsx":
        if layout is None:
            sheets: Sequence[formats.Sheet] = [
                formats.Sheet("approved", tuple(exports.APPROVED_COLUMNS))
            ]
            rows: Iterator[tuple[str, dict[str, str]]] = (
                ("approved", row) for row in exports.approved_rows(session, project_id, submitters)
            )
        else:
            sheets, rows = layout.sheets, exports.raw_rows(session, layout, submitters)
        path = formats.xlsx_file(sheets, rows, svc.settings.tmp_dir)
        return Response(formats.file_stream(path), mimetype=_XLSX, headers=headers)

    def body() -> Iterator[bytes]:
        # A streamed body outlives the request's session: it reads through its own.
        with svc.db.sessions() as reader:
            if layout is None:
                rows = exports.approved_rows(reader, project_id, submitters)
                yield from formats.csv_stream(exports.APPROVED_COLUMNS, rows)
            else:
                raw = exports.raw_rows(reader, layout, submitters, repeats=False)
                yield from formats.csv_stream(layout.main.header, (row for _sheet, row in raw))

    return Response(
        stream_with_context(body()), mimetype="text/csv; charset=utf-8", headers=headers
    )


@bp.get("/projects/<int:project_id>/submissions/<int:submission_id>/files/<path:name>")
@login_required
def attachment(project_id: int, submission_id: int, name: str) -> Response:
    scope = _scope(project_id)
    session = db_session()
    head = access_submission(session, scope, submission_id)
    found = (
        queries.attachment(session, head.current_version_id, name)
        if head.current_version_id
        else None
    )
    if found is None or found.blob_sha256 is None:
        raise ProblemError(problems.ATTACHMENT_NOT_FOUND, name=name)
    kind = found.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    inline = kind in ("image/jpeg", "image/png", "image/webp", "image/gif")
    response = send_file(
        services().store.path(found.blob_sha256),
        mimetype=kind if inline else "application/octet-stream",
        as_attachment=not inline,
        download_name=name.rsplit("/", 1)[-1],
        conditional=True,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
