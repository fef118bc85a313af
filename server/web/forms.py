"""The form designer's pages: a project's forms, a form's versions, publishing an XLSForm
(with media and rule settings) and changing a form's state, and downloading what was
published. Thin: forms/access decides reach, forms/queries read, forms/service writes and
audits, forms/report turns pyxform's and JavaRosa's refusals into lines to read.

They live here, not in server/forms/, because forms stays free of Flask (the CLI publishes
with the same service). An upload streams into the data directory's tmp (server/http.py),
at most the larger of VERIVALI_MAX_SUBMISSION_BYTES and VERIVALI_MAX_FORM_UPLOAD_BYTES in
all and VERIVALI_MAX_FORM_UPLOAD_BYTES per file; a refused upload is shown on the page it
came from, with the converter's messages, and publishes nothing.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from flask import Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from server import problems
from server.forms import access, queries, service
from server.forms.report import Report, report, xlsform_lines
from server.forms.uploads import UploadDir
from server.http import render_problem
from server.i18n import language, use_zone
from server.models import FORM_STATES, Form, Project
from server.problems import ProblemError
from server.services import services
from server.services import session as db_session
from server.validation import jobs as validation_jobs
from server.web.session import Viewer, login_required, no_store, page_blueprint, require_viewer

bp = page_blueprint("form_pages", __name__)
# Room for the multipart framing and the small fields around the files.
MULTIPART_SLACK = 1_000_000
FIELD_BYTES = 100_000
MAX_PARTS = 500
MISSING_SHOWN = 20


@dataclass(frozen=True)
class FormScope:
    """The project whose forms one person manages (the page header reads project and ID)."""

    project: Project
    viewer: Viewer

    @property
    def project_id(self) -> int:
        return self.project.id


def _upload_limit() -> int:
    settings = services().settings
    return max(settings.max_submission_bytes, settings.max_form_upload_bytes)


def _limit_body() -> None:
    """Bound the body before anything reads it (the CSRF check reads the form first)."""
    if request.method != "POST":
        return
    uploading = request.endpoint == "form_pages.upload"
    request.max_content_length = _upload_limit() + MULTIPART_SLACK if uploading else FIELD_BYTES
    request.max_form_memory_size = FIELD_BYTES
    request.max_form_parts = MAX_PARTS


bp.before_request_funcs.setdefault(None, []).insert(0, _limit_body)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> Response:
    """The whole upload is over the limit: say so with this page's limit, not Collect's."""
    limit_mb = problems.megabytes(_upload_limit())
    return render_problem(ProblemError(problems.FORM_UPLOAD_TOO_LARGE, limit_mb=limit_mb))


def _scope(project_id: int) -> FormScope:
    viewer = require_viewer()
    project = access.access_forms(db_session(), viewer.user_id, viewer.role, project_id)
    use_zone(project.timezone)
    return FormScope(project, viewer)


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = Response(render_template(template, **context), status, mimetype="text/html")
    refused = context.get("refused")
    if isinstance(refused, Report):
        response.headers["X-Verivali-Problem"] = refused.code
    return no_store(response)


def _list(scope: FormScope, refused: Report | None = None, status: int = 200) -> Response:
    rows = queries.form_summaries(db_session(), scope.project_id)
    return _page("forms/list.html", status, scope=scope, rows=rows, refused=refused)


def _detail(
    scope: FormScope, form: Form, refused: Report | None = None, status: int = 200
) -> Response:
    session = db_session()
    versions = queries.versions_of_form(session, form.id)
    current = next((v for v in versions if v.id == form.current_version_id), None)
    media = queries.media_of_version(session, current.id) if current else []
    return _page(
        "forms/detail.html",
        status,
        scope=scope,
        form=form,
        versions=versions,
        current=current,
        warnings=xlsform_lines(current.warnings) if current else [],
        media=media,
        states=FORM_STATES,
        refused=refused,
    )


@bp.get("/projects/<int:project_id>/forms")
@login_required
def forms_page(project_id: int) -> Response:
    return _list(_scope(project_id))


@bp.get("/projects/<int:project_id>/forms/<xml_form_id>")
@login_required
def form_page(project_id: int, xml_form_id: str) -> Response:
    scope = _scope(project_id)
    return _detail(scope, access.access_form(db_session(), scope.project, xml_form_id))


def _chosen(name: str) -> list[FileStorage]:
    """The files sent under a field name; a file input left empty sends a nameless part."""
    return [f for f in request.files.getlist(name) if f.filename]


@bp.post("/projects/<int:project_id>/forms")
@login_required
def upload(project_id: int) -> Response:
    scope = _scope(project_id)
    session = db_session()
    svc = services()
    expected = request.form.get("form_id", "").strip() or None
    form = access.access_form(session, scope.project, expected) if expected else None
    try:
        sources = _chosen("xlsform")
        if not sources:
            raise ProblemError(problems.FORM_FILE_MISSING)
        with UploadDir(svc.settings.tmp_dir, svc.settings.max_form_upload_bytes) as place:
            source = place.place("form", sources[0].filename or "", sources[0].stream)
            rules = next(
                (place.place("rules", f.filename or "", f.stream) for f in _chosen("rules")), None
            )
            media = [place.place("media", f.filename or "", f.stream) for f in _chosen("media")]
            result = service.do_publish_form(
                session,
                svc.settings,
                svc.store,
                project_id,
                source,
                media,
                actor_id=scope.viewer.user_id,
                rules_path=rules,
                expected_form_id=expected,
                keep_rules=True,
            )
    except ProblemError as error:
        refused = report(error, language())
        if form is not None:
            return _detail(scope, form, refused, error.status)
        return _list(scope, refused, error.status)
    validation_jobs.notify_all(session, svc, result.rechecks)
    _tell(result)
    target = url_for(
        "form_pages.form_page", project_id=project_id, xml_form_id=result.form.xml_form_id
    )
    return redirect(target)  # type: ignore[return-value]


def _tell(result: service.PublishResult) -> None:
    """What the publish did, as notices on the form's page."""
    version = result.version.version
    if result.created:
        flash(_("Versi %(version)s diterbitkan.", version=version))
    elif result.media_updated:
        flash(_("Media versi %(version)s diganti; versinya tetap.", version=version))
    elif result.rules_updated:
        flash(_("Pengaturan aturan versi %(version)s diganti.", version=version))
    else:
        flash(_("Tidak ada yang berubah: isi sama dengan versi %(version)s.", version=version))
    if result.javarosa is not None:
        if result.javarosa.ran:
            flash(_("Diperiksa JavaRosa (mesin ODK Collect): tidak ada kesalahan."))
        else:
            flash(_("JavaRosa tidak dijalankan (Java tidak terpasang di server)."))
    if result.missing_media:
        names = ", ".join(result.missing_media[:MISSING_SHOWN])
        flash(_("Formulir memakai berkas yang tidak diunggah: %(names)s", names=names))
    if result.rechecks:
        flash(_("%(n)d kiriman akan diperiksa ulang dengan pengaturan baru.", n=result.rechecks))


@bp.post("/projects/<int:project_id>/forms/<xml_form_id>/state")
@login_required
def set_state(project_id: int, xml_form_id: str) -> Response:
    scope = _scope(project_id)
    session = db_session()
    form = access.access_form(session, scope.project, xml_form_id)
    state = request.form.get("state", "")
    service.do_set_form_state(session, form, state, actor_id=scope.viewer.user_id)
    flash(_("Status formulir disimpan."))
    target = url_for("form_pages.form_page", project_id=project_id, xml_form_id=xml_form_id)
    return redirect(target)  # type: ignore[return-value]


@bp.get("/projects/<int:project_id>/forms/<xml_form_id>/versions/<int:version_id>/form.xml")
@login_required
def version_xml(project_id: int, xml_form_id: str, version_id: int) -> Response:
    scope = _scope(project_id)
    session = db_session()
    version = access.access_version(
        session, access.access_form(session, scope.project, xml_form_id), version_id
    )
    response = Response(version.xml, mimetype="application/xml")
    name = f"{xml_form_id}-{version.version}.xml"
    response.headers.set("Content-Disposition", "attachment", filename=name)
    return _download(response)


@bp.get("/projects/<int:project_id>/forms/<xml_form_id>/versions/<int:version_id>/source")
@login_required
def version_source(project_id: int, xml_form_id: str, version_id: int) -> Response:
    scope = _scope(project_id)
    session = db_session()
    version = access.access_version(
        session, access.access_form(session, scope.project, xml_form_id), version_id
    )
    path = services().store.path(version.source_sha256)
    if not path.is_file():
        raise ProblemError(problems.ATTACHMENT_NOT_FOUND, name=version.source_name)
    kind = mimetypes.guess_type(version.source_name)[0] or "application/octet-stream"
    response = send_file(
        path,
        mimetype=kind,
        as_attachment=True,
        download_name=version.source_name,
        conditional=True,
        max_age=0,
    )
    return _download(response)


def _download(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
