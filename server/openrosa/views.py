"""OpenRosa endpoints in the URL layouts ODK Central and KoBoCAT users already know.

Thin views: authenticate, check access, call the service, answer with protocol bodies.
- Central:   /v1/projects/<id>/{formList, submission, forms/<id>.xml, .../manifest,
             .../attachments/<name>}, and the same under /v1/key/<token>/ for enumerators.
- KoBoCAT:   /formList, /submission (all forms the caller may fill) and
             /<username>/formList, /<username>/submission.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, request, send_file

from server import problems
from server.accounts import access
from server.accounts import queries as account_queries
from server.assignments.lists import LIST_FILES, ListFile, enumerator_lists
from server.forms import queries as form_queries
from server.forms.queries import SubmissionForm
from server.models import Form
from server.openrosa import auth
from server.openrosa.envelope import parse_envelope
from server.openrosa.protocol import (
    FormListEntry,
    MediaEntry,
    form_list_body,
    manifest_body,
    message_body,
    openrosa_headers,
    url_segment,
    xml_response,
)
from server.openrosa.service import Incoming, UploadedPart, do_receive_submission, plain_part_name
from server.problems import ProblemError
from server.services import read_session, services, session
from server.validation import jobs as validation_jobs

bp = Blueprint("openrosa", __name__)
# Room for multipart framing around files that fill X-OpenRosa-Accept-Content-Length.
MULTIPART_SLACK = 1_000_000


@dataclass(frozen=True)
class Scope:
    """Which URL layout the request came through."""

    project_id: int | None = None
    token: str | None = None
    owner: str | None = None

    def project_base(self, project_id: int) -> str:
        root = services().settings.base_url or request.host_url.rstrip("/")
        if self.token:
            return f"{root}/v1/key/{self.token}/projects/{project_id}"
        return f"{root}/v1/projects/{project_id}"

    def submission_url(self) -> str:
        root = services().settings.base_url or request.host_url.rstrip("/")
        if self.project_id is not None:
            return f"{self.project_base(self.project_id)}/submission"
        return f"{root}/{self.owner}/submission" if self.owner else f"{root}/submission"


@bp.before_request
def _check_openrosa_version() -> None:
    version = request.headers.get("X-OpenRosa-Version")
    if version is not None and version.strip() != "1.0":
        raise ProblemError(problems.BAD_OPENROSA_VERSION, version=version[:20])


@bp.before_request
def _refuse_nul_in_path() -> None:
    # A %00 in a form ID, file name, username or token can name nothing we store (and
    # PostgreSQL refuses NUL in text), so answer 404 before any look-up.
    if any(isinstance(v, str) and "\x00" in v for v in (request.view_args or {}).values()):
        raise ProblemError(problems.NOT_FOUND)


@bp.after_request
def _add_headers(response: Response) -> Response:
    for key, value in openrosa_headers(services().settings.max_submission_bytes).items():
        response.headers.setdefault(key, value)
    return response


def _authenticate(scope: Scope) -> auth.Actor:
    svc = services()
    if scope.token is not None:
        return auth.by_token(read_session(), scope.token, scope.project_id)
    return auth.by_header(read_session(), request, svc.digest, svc.basic_cache, scope.project_id)


def _fillable_projects(actor: auth.Actor, scope: Scope) -> list[int] | None:
    """Project IDs whose forms the caller may list and fill through this layout."""
    db = read_session()
    if scope.project_id is not None:
        return [access.access_project_for_filling(actor.credentials, scope.project_id)]
    mine = access.visible_project_ids(db, actor.user_id, actor.role)
    if scope.owner is None:
        return mine
    owner = account_queries.user_by_username(db, scope.owner)
    if owner is None:
        raise ProblemError(problems.USER_NOT_FOUND, username=scope.owner)
    theirs = access.visible_project_ids(db, owner.id, owner.role)
    if mine is None:
        return theirs
    if theirs is None:
        return mine
    return [p for p in theirs if p in set(mine)]


def _form_for_download(scope: Scope, xml_form_id: str) -> tuple[Form, auth.Actor]:
    actor = _authenticate(scope)
    _fillable_projects(actor, scope)
    form = form_queries.form_by_xml_id(read_session(), scope.project_id or 0, xml_form_id)
    if form is None or form.current_version_id is None:
        raise ProblemError(problems.FORM_NOT_FOUND, form_id=xml_form_id)
    return form, actor


def _list_names(version_id: int) -> list[str]:
    """The assignment lists the form version reads (served per caller, never published)."""
    version = form_queries.version_by_id(read_session(), version_id)
    return [name for name in version.media_names if name in LIST_FILES] if version else []


def _own_lists(form: Form, actor: auth.Actor) -> dict[str, ListFile]:
    # The request's own session: one snapshot (and, on PostgreSQL, a server-side cursor,
    # which needs a transaction) for the version and the rows of the list.
    return enumerator_lists(session(), services().settings.data_dir, form.project_id, actor.user_id)


def form_list(scope: Scope) -> Response:
    actor = _authenticate(scope)
    project_ids = _fillable_projects(actor, scope)
    wanted = request.args.get("formID")
    entries = []
    for form in form_queries.listed_forms(read_session(), project_ids, states=("open",)):
        if wanted is not None and form.xml_form_id != wanted:
            continue
        base = f"{scope.project_base(form.project_id)}/forms/{url_segment(form.xml_form_id)}"
        entries.append(
            FormListEntry(
                form_id=form.xml_form_id,
                name=form.title,
                version=form.version,
                md5=form.md5,
                download_url=f"{base}.xml",
                manifest_url=f"{base}/manifest" if has_media(form) else None,
            )
        )
    response = xml_response(form_list_body(entries))
    # Collect keeps an HTTP cache; the list must always be revalidated.
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def has_media(form: form_queries.ListedForm) -> bool:
    return form.has_media or any(name in LIST_FILES for name in form.media_names)


def form_xml(scope: Scope, xml_form_id: str) -> Response:
    form, _actor = _form_for_download(scope, xml_form_id)
    version = form_queries.version_by_id(read_session(), form.current_version_id or 0)
    assert version is not None  # current_version_id is a foreign key
    response = xml_response(version.xml.decode("utf-8"))
    response.set_etag(version.md5)
    response.headers["Cache-Control"] = "no-cache, private"
    response.make_conditional(request)  # turns itself into a 304 when the ETag matches
    return response


def manifest(scope: Scope, xml_form_id: str) -> Response:
    form, actor = _form_for_download(scope, xml_form_id)
    base = f"{scope.project_base(form.project_id)}/forms/{url_segment(xml_form_id)}/attachments"
    media = form_queries.media_of_version(read_session(), form.current_version_id or 0)
    store = services().store
    lists = _list_names(form.current_version_id or 0)
    entries = [
        MediaEntry(m.name, m.md5, f"{base}/{url_segment(m.name)}")
        for m in media
        if m.name not in lists and store.path(m.blob_sha256).exists()  # only files we serve
    ]
    if lists:
        own = _own_lists(form, actor)
        entries.extend(
            MediaEntry(name, own[name].md5, f"{base}/{url_segment(name)}", entity_list=True)
            for name in lists
        )
    response = xml_response(manifest_body(entries))
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def attachment(scope: Scope, xml_form_id: str, name: str) -> Response:
    form, actor = _form_for_download(scope, xml_form_id)
    if name in _list_names(form.current_version_id or 0):
        own = _own_lists(form, actor)[name]
        return _no_cache(
            send_file(
                own.path,
                mimetype="text/csv",
                etag=own.md5,
                conditional=True,
                download_name=name,
                max_age=0,
            )
        )
    media = form_queries.media_by_name(read_session(), form.current_version_id or 0, name)
    path = services().store.path(media.blob_sha256) if media else None
    if media is None or path is None or not path.exists():
        raise ProblemError(problems.ATTACHMENT_NOT_FOUND, name=name)
    response = send_file(
        path,
        mimetype=media.content_type,
        etag=media.md5,
        conditional=True,
        download_name=name,
        max_age=0,
    )
    return _no_cache(response)


def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def _read_incoming() -> Incoming:
    settings = services().settings
    if request.mimetype != "multipart/form-data":
        raise ProblemError(problems.NOT_MULTIPART)
    request.max_content_length = settings.max_submission_bytes + MULTIPART_SLACK
    # Werkzeug applies this to plain (non-file) fields, reading 64 KiB at a time; the
    # instance's own limit is checked below whichever way it was sent.
    request.max_form_memory_size = max(settings.max_instance_xml_bytes, 1_000_000)
    try:
        files, fields = request.files, request.form
    except ValueError as exc:  # broken multipart framing (a 413 passes through as is)
        raise ProblemError(problems.MALFORMED_REQUEST, reason=str(exc)[:200]) from None
    xml_part = files.get("xml_submission_file")
    if xml_part is not None:
        xml_part.stream.seek(0)
        xml = xml_part.stream.read(settings.max_instance_xml_bytes + 1)
    elif "xml_submission_file" in fields:  # sent as a plain field by some clients
        xml = fields["xml_submission_file"].encode("utf-8")
    else:
        raise ProblemError(problems.MISSING_XML_PART)
    if len(xml) > settings.max_instance_xml_bytes:
        raise ProblemError(
            problems.TOO_LARGE, limit_mb=problems.megabytes(settings.max_instance_xml_bytes)
        )
    envelope = parse_envelope(xml)
    parts: dict[str, UploadedPart] = {}
    for key, storage in files.items(multi=True):
        if key == "xml_submission_file":
            continue
        name = plain_part_name(storage.filename) or plain_part_name(key)
        if name is not None and name not in parts:
            parts[name] = UploadedPart(
                name,
                storage.stream,  # type: ignore[arg-type]
                storage.mimetype or "application/octet-stream",
            )
    return Incoming(
        xml=xml,
        envelope=envelope,
        parts=parts,
        incomplete=fields.get("*isIncomplete*", "").strip().lower() == "yes",
        device_id=request.args.get("deviceID"),
        user_agent=request.headers.get("User-Agent"),
    )


def _form_for_submission(
    project_ids: list[int] | None, xml_form_id: str, version: str
) -> SubmissionForm:
    candidates = form_queries.submission_forms(read_session(), xml_form_id, version, project_ids)
    if len(candidates) > 1:
        # The same form ID in several projects: the version attribute usually tells.
        candidates = [f for f in candidates if f.version_id is not None] or candidates
    if not candidates:
        raise ProblemError(problems.FORM_NOT_FOUND, form_id=xml_form_id)
    if len(candidates) > 1:
        raise ProblemError(problems.FORM_ID_AMBIGUOUS, form_id=xml_form_id)
    return candidates[0]


def submission(scope: Scope) -> Response:
    actor = _authenticate(scope)
    access.check_may_submit(actor.role)
    if request.method == "HEAD":
        _fillable_projects(actor, scope)
        # Collect reads X-OpenRosa-Accept-Content-Length only from a 204.
        response = Response(status=204)
        response.headers["Location"] = scope.submission_url()
        return response
    project_ids = _fillable_projects(actor, scope)
    incoming = _read_incoming()
    envelope = incoming.envelope
    form = _form_for_submission(project_ids, envelope.form_id, envelope.version)
    receipt = do_receive_submission(session(), services().store, form, actor.user_id, incoming)
    validation_jobs.notify(session(), services(), receipt.job_id)
    return xml_response(message_body(receipt.message(), nature="submit_success"), receipt.status)


# URL rules: one view function each, registered for every layout.
_CENTRAL = "/v1/projects/<int:project_id>"
_TOKEN = "/v1/key/<token>/projects/<int:project_id>"  # noqa: S105 (a URL rule, not a secret)


def _central(view):  # type: ignore[no-untyped-def]
    def endpoint(project_id: int, token: str | None = None, **kwargs: str) -> Response:
        return view(Scope(project_id=project_id, token=token), **kwargs)

    return endpoint


# XLSForm allows "/" in form_id; url_segment encodes it as %2F, which WSGI servers decode
# before routing, so form IDs take the `path` converter.
for prefix, label in ((_CENTRAL, "central"), (_TOKEN, "token")):
    bp.add_url_rule(f"{prefix}/formList", f"{label}_form_list", _central(form_list))
    bp.add_url_rule(
        f"{prefix}/submission",
        f"{label}_submission",
        _central(submission),
        methods=["HEAD", "POST"],
    )
    bp.add_url_rule(
        f"{prefix}/forms/<path:xml_form_id>.xml", f"{label}_form_xml", _central(form_xml)
    )
    bp.add_url_rule(
        f"{prefix}/forms/<path:xml_form_id>/manifest", f"{label}_manifest", _central(manifest)
    )
    bp.add_url_rule(
        f"{prefix}/forms/<path:xml_form_id>/attachments/<name>",
        f"{label}_attachment",
        _central(attachment),
    )


@bp.route("/formList")
def kobo_form_list() -> Response:
    return form_list(Scope())


@bp.route("/submission", methods=["HEAD", "POST"])
def kobo_submission() -> Response:
    return submission(Scope())


@bp.route("/<username>/formList")
def kobo_owner_form_list(username: str) -> Response:
    return form_list(Scope(owner=username))


@bp.route("/<username>/submission", methods=["HEAD", "POST"])
def kobo_owner_submission(username: str) -> Response:
    return submission(Scope(owner=username))
