"""The dashboard page: a project's progress, flags and enumerator scorecards for those who
review it, within their reach (a koordinator sees their teams' enumerators, their submissions
and the targets they hold). Thin: access decides reach, queries count, metrics shape."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, render_template, request
from flask_babel import lazy_gettext as _l

from server import i18n
from server.assignments import queries as assignment_queries
from server.dashboard import metrics, queries
from server.i18n import language
from server.reviews import queries as review_queries
from server.reviews.access import access_review
from server.rules.catalog import RULES
from server.services import session as db_session
from server.web.session import login_required, no_store, page_blueprint, require_viewer

bp = page_blueprint("dashboard", __name__)

# The parts of a progress bar and the visit outcomes (hasil) as the page names them.
SEGMENT_NAMES = {
    "approved": _l("Disetujui"),
    "waiting": _l("Menunggu pemeriksaan"),
    "issues": _l("Bermasalah"),
    "rejected": _l("Ditolak"),
    "revisit": _l("Kunjungan ulang"),
    "open": _l("Belum dikunjungi"),
}
OUTCOME_NAMES = {
    "ditemukan": _l("Ditemukan"),
    "usulan_baru": _l("Usulan baru"),
    "pindah": _l("Pindah"),
    "bagian_ruta_lain": _l("Bagian dari rumah tangga lain"),
    "ganda": _l("Ganda (data dobel)"),
    "tidak_ditemukan": _l("Tidak ditemukan"),
    "menolak": _l("Menolak"),
}


def _labels(level: str, keys: set[metrics.Key], people: dict[int, str]) -> dict[Any, str]:
    """What each row of a progress level is called: region names, team names, people."""
    if level in ("kecamatan", "village"):
        codes = {str(k) for k in keys if k}
        names = assignment_queries.region_names(db_session(), codes)
        return {code: names.get(code, code) for code in codes}
    if level == "team":
        return {k: str(k) for k in keys if k}
    return {k: people.get(k, str(k)) for k in keys if isinstance(k, int)}


def _titles() -> dict[str, str]:
    """Each rule's title in the page's language."""
    english = language() == "en"
    return {rule: spec.title_en if english else spec.title_id for rule, spec in RULES.items()}


def _names(lazy: dict[str, Any]) -> dict[str, str]:
    """Labels translated once for the page (a template asks for them thousands of times)."""
    return {key: str(text) for key, text in lazy.items()}


@bp.get("/projects/<int:project_id>/dashboard")
@login_required
def dashboard_page(project_id: int) -> Response:
    session = db_session()
    scope = access_review(session, require_viewer(), project_id)
    view = metrics.parse(request.args)
    zone = i18n.zone()
    start = review_queries.day_start(view.received_from, zone) if view.received_from else None
    end = (
        review_queries.day_start(view.received_to + timedelta(days=1), zone)
        if view.received_to
        else None
    )
    reach = scope.submitters

    teams = assignment_queries.team_names_by_user(session, project_id)
    rows = assignment_queries.progress_rows(session, project_id, reach)
    total, by_key = metrics.progress(rows, view.level, teams, reach)
    tallies = queries.submitter_tallies(session, project_id, reach, start, end, zone)
    headline = metrics.headline(total, tallies)

    members = dict(review_queries.enumerators(session, project_id, reach))
    senders = {t.submitter_id for t in tallies if t.submitter_id is not None}
    holders = {k for k in by_key if isinstance(k, int)} if view.level == "enumerator" else set()
    people = members | queries.people(session, sorted((senders | holders) - set(members)))
    labels = _labels(view.level, set(by_key), people)
    bars = metrics.ordered(by_key.values(), labels)

    times = queries.interview_minutes(session, project_id, reach, start, end, metrics.SAMPLE)
    carded = {uid: name for uid, name in people.items() if uid in members or uid in senders}
    cards = metrics.rank(
        metrics.scorecards(carded, teams, tallies, rows, metrics.median_minutes(times)),
        view.sort,
    )

    first, last = metrics.chart_days(view, datetime.now(ZoneInfo(zone)).date())
    days = (
        review_queries.day_start(first, zone),
        review_queries.day_start(last + timedelta(days=1), zone),
    )
    daily = queries.daily_counts(session, project_id, reach, *days, zone)
    columns, top = metrics.day_columns(daily, first, last)
    rules = queries.rule_counts(session, project_id, reach, start, end)

    page = render_template(
        "dashboard/dashboard.html",
        scope=scope,
        view=view,
        levels=metrics.LEVELS,
        headline=headline,
        total=total,
        bars=bars[: metrics.MAX_ROWS],
        more_bars=max(0, len(bars) - metrics.MAX_ROWS),
        labels=labels,
        rules=metrics.rule_bars(rules, headline.submissions),
        titles=_titles(),
        columns=columns,
        top=top,
        first=first,
        last=last,
        zone_name=i18n.ZONE_NAMES.get(zone, zone),
        cards=cards[: metrics.MAX_ROWS],
        more_cards=max(0, len(cards) - metrics.MAX_ROWS),
        segments=metrics.SEGMENTS,
        segment_names=_names(SEGMENT_NAMES),
        outcomes=metrics.OUTCOMES,
        outcome_names=_names(OUTCOME_NAMES),
        sample=metrics.SAMPLE,
        num=partial(metrics.number, lang=language()),
    )
    return no_store(Response(page, mimetype="text/html"))
