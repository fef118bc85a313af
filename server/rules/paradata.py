"""Rules: when and how the interview was done (V35-V39, V41-V43).

Times are the phone's own timestamps (`start`, `end`, timezone-aware ISO with the phone's
offset) and the server's receipt time; a rule never reads the server's clock. Rates and
quartiles come precomputed in `EnumeratorStats`; rules that need them do nothing without
them. V40 (don't-know/missing rates), V44 (back-check disagreement) and the fieldwork
window of V36 are not checked here: the facts carry no don't-know rates, no back-check
results and no fieldwork dates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

from server.rules.engine import Context, rule
from server.rules.model import Facts, Flag, Severity

INTERVIEWED = frozenset({"ditemukan", "usulan_baru"})
# Outcome rates V39 compares, and the member status whose rate it compares as "meninggal".
RATE_OUTCOMES: tuple[str, ...] = ("tidak_ditemukan", "pindah", "menolak")
DEAD = "meninggal"
_OUTCOME_LABELS = {
    "tidak_ditemukan": ("tidak ditemukan", "not found"),
    "pindah": ("pindah", "moved"),
    "menolak": ("menolak", "refused"),
    DEAD: ("anggota meninggal", "dead members"),
}


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    """Minutes from `start` to `end` (negative when end is earlier); None when either is
    missing or only one of them carries a timezone (they cannot be compared)."""
    if start is None or end is None:
        return None
    try:
        return (end - start).total_seconds() / 60
    except TypeError:
        return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@rule(
    "V35",
    Severity.HIGH,
    "Wawancara terlalu singkat",
    "Interview too short",
    thresholds={"base_minutes": 5, "minutes_per_member": 2, "min_minutes_other": 2},
)
def interview_too_short(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires when the interview (end minus start) took fewer minutes than it can: for an
    interviewed household (consent given, outcome ditemukan or usulan_baru) `base_minutes`
    plus `minutes_per_member` for each person living there now; for any other visit
    (not found, moved, refused, no consent) `min_minutes_other`. Exactly the minimum
    passes. Missing or reversed times are left to V36."""
    visit = facts.visit
    minutes = minutes_between(visit.started, visit.ended)
    if minutes is None or minutes < 0:
        return
    people = len(visit.people())
    interviewed = visit.consent is True and visit.outcome in INTERVIEWED
    if interviewed:
        needed = ctx.threshold("base_minutes") + ctx.threshold("minutes_per_member") * people
    else:
        needed = ctx.threshold("min_minutes_other")
    if minutes >= needed:
        return
    if interviewed:
        why_id = f"minimal {needed:g} menit untuk {people} anggota rumah tangga"
        why_en = f"at least {needed:g} minutes for {people} household members"
    else:
        why_id = f"minimal {needed:g} menit untuk kunjungan tanpa wawancara"
        why_en = f"at least {needed:g} minutes for a visit without interview"
    yield ctx.flag(
        f"Wawancara hanya {minutes:.1f} menit; {why_id}.",
        f"The interview took only {minutes:.1f} minutes; {why_en}.",
        ["started", "ended"],
        minutes=round(minutes, 1),
        min_minutes=needed,
        people=people,
        interviewed=interviewed,
    )


@rule(
    "V36",
    Severity.MED,
    "Kejanggalan waktu",
    "Time anomalies",
    thresholds={"future_tolerance_minutes": 10, "max_days_to_send": 14},
)
def time_anomalies(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """One flag per anomaly: the end before the start; a start or end later than the
    server's receipt by more than `future_tolerance_minutes` (the phone's clock is wrong,
    one flag naming every such timestamp); the submission received more than
    `max_days_to_send` days after the end (exactly at a limit passes). Times that cannot
    be compared (missing, or only one with a timezone) are skipped."""
    visit = facts.visit
    duration = minutes_between(visit.started, visit.ended)
    if duration is not None and duration < 0:
        yield ctx.flag(
            f"Waktu selesai {-duration:.0f} menit sebelum waktu mulai.",
            f"The end time is {-duration:.0f} minutes before the start time.",
            ["started", "ended"],
            reason="end_before_start",
            started=_iso(visit.started),
            ended=_iso(visit.ended),
        )
    tolerance = ctx.threshold("future_tolerance_minutes")
    ahead = {
        name: minutes
        for name, moment in (("started", visit.started), ("ended", visit.ended))
        if (minutes := minutes_between(visit.received, moment)) is not None and minutes > tolerance
    }
    if ahead:
        worst = max(ahead.values())
        yield ctx.flag(
            f"Waktu {' dan '.join(ahead)} {worst:.0f} menit setelah kiriman diterima server: "
            "jam ponsel salah.",
            f"The {' and '.join(ahead)} time is {worst:.0f} minutes after the server received "
            "the submission: the phone's clock is wrong.",
            list(ahead),
            reason="future",
            minutes_ahead=round(worst, 1),
            started=_iso(visit.started),
            ended=_iso(visit.ended),
            received=_iso(visit.received),
            future_tolerance_minutes=tolerance,
        )
    max_days = ctx.threshold("max_days_to_send")
    late = minutes_between(visit.ended, visit.received)
    if late is not None and late > max_days * 24 * 60:
        days = late / (24 * 60)
        yield ctx.flag(
            f"Kiriman diterima {days:.0f} hari setelah wawancara selesai (batas {max_days} hari).",
            f"The submission was received {days:.0f} days after the interview ended (limit "
            f"{max_days} days).",
            ["ended"],
            reason="late_send",
            days=round(days, 1),
            ended=_iso(visit.ended),
            received=_iso(visit.received),
            max_days_to_send=max_days,
        )


@rule(
    "V37",
    Severity.MED,
    "Wawancara malam hari",
    "Night interview",
    thresholds={"earliest_hour": 6, "latest_hour": 21},
)
def night_interview(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires when the interview started before `earliest_hour` or at/after `latest_hour`,
    in the enumerator's local time: the hour of the start timestamp in its own offset
    (06:00 passes, 21:00 fires). No start time, no check."""
    started = facts.visit.started
    if started is None:
        return
    earliest, latest = ctx.threshold("earliest_hour"), ctx.threshold("latest_hour")
    if earliest <= started.hour < latest:
        return
    clock = started.strftime("%H:%M")
    yield ctx.flag(
        f"Wawancara dimulai pukul {clock} waktu setempat, di luar jam {earliest:g}.00-"
        f"{latest:g}.00.",
        f"The interview started at {clock} local time, outside {earliest:g}:00-{latest:g}:00.",
        ["started"],
        started=started.isoformat(),
        local_hour=started.hour,
        earliest_hour=earliest,
        latest_hour=latest,
    )


@rule(
    "V38",
    Severity.MED,
    "Produktivitas harian tidak wajar",
    "Daily productivity outlier",
    thresholds={"max_ratio_to_team": 2.0, "min_visits": 10},
)
def productivity_outlier(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires when the enumerator's visits that day exceed `max_ratio_to_team` times the
    team's median visits per enumerator-day (strictly more) and number at least
    `min_visits`, so a small team median does not flag a normal day. Needs the stats and a
    positive team median. The bridge counts a visit on its interview day (the date of the
    start time in the phone's own offset; without one, the day it was received in the
    server's zone). The team median is over the (member, day) pairs with a visit of the
    enumerator's koordinator team, the enumerator included; an enumerator without a team is
    compared with every submitter of the form. Team figures may lag five minutes behind
    the newest submissions (each worker keeps them that long)."""
    stats = facts.stats
    if stats is None or stats.team_median_visits_per_day is None:
        return
    team = stats.team_median_visits_per_day
    if team <= 0:
        return
    ratio, minimum = ctx.threshold("max_ratio_to_team"), ctx.threshold("min_visits")
    if stats.visits_today < minimum or stats.visits_today <= ratio * team:
        return
    yield ctx.flag(
        f"Pencacah mengirim {stats.visits_today} kunjungan hari ini, lebih dari {ratio:g}x "
        f"median tim ({team:g} per hari).",
        f"The enumerator sent {stats.visits_today} visits today, more than {ratio:g}x the "
        f"team median ({team:g} a day).",
        [],
        visits_today=stats.visits_today,
        team_median_visits_per_day=team,
        ratio_to_team=round(stats.visits_today / team, 2),
        max_ratio_to_team=ratio,
    )


@rule(
    "V39",
    Severity.MED,
    "Tingkat hasil kunjungan pencacah jauh di atas tim",
    "Enumerator's outcome rate far above the team",
    thresholds={"max_excess": 0.20, "min_visits": 20},
)
def outcome_rate_outlier(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """For not found, moved and refused, and for dead members ("meninggal"): fires when the
    enumerator's rate exceeds the team's by more than `max_excess` (strictly), once the
    enumerator has at least `min_visits` visits. The flag lands only on the submissions
    that make the rate: a visit with that outcome (or, for meninggal, with a member
    recorded dead), so a reviewer sampling them checks exactly the suspect answers. A rate
    missing on either side is not compared. Rates are shares of the visits already checked
    and may lag five minutes, as V38's team figures; the team is as in V38 and its rate
    includes the enumerator's own visits."""
    stats = facts.stats
    visit = facts.visit
    if stats is None or stats.visits < ctx.threshold("min_visits"):
        return
    max_excess = ctx.threshold("max_excess")
    relevant = [o for o in RATE_OUTCOMES if visit.outcome == o]
    if any(m.status == DEAD for m in visit.members):
        relevant.append(DEAD)
    for outcome in relevant:
        rate = stats.outcome_rates.get(outcome)
        team = stats.team_outcome_rates.get(outcome)
        # Rounded so that a difference exactly at the limit passes despite binary floats.
        if rate is None or team is None or round(rate - team, 9) <= max_excess:
            continue
        label_id, label_en = _OUTCOME_LABELS[outcome]
        fields = (
            [f"{m.path}/status" for m in visit.members if m.status == DEAD]
            if outcome == DEAD
            else ["outcome"]
        )
        yield ctx.flag(
            f"Tingkat '{label_id}' pencacah {rate:.0%} dari {stats.visits} kunjungan, tim "
            f"{team:.0%}.",
            f"The enumerator's '{label_en}' rate is {rate:.0%} of {stats.visits} visits, the "
            f"team's {team:.0%}.",
            fields,
            outcome=outcome,
            rate=rate,
            team_rate=team,
            visits=stats.visits,
            max_excess=max_excess,
        )


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@rule(
    "V41",
    Severity.MED,
    "Nilai angka pencilan",
    "Numeric outlier",
    thresholds={"iqr_factor": 3.0},
)
def numeric_outliers(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """For every answer path with team quartiles (q1, q3) in the stats, a numeric answer
    at that exact path outside [q1 - k*IQR, q3 + k*IQR], k = `iqr_factor`, fires (the
    bounds themselves pass). Non-numeric or empty answers, and paths whose IQR is zero
    (nearly every answer the same: any difference would fire), are skipped. The bridge
    gives inclusive quartiles for the form's integer and decimal questions outside repeats
    (the first 20), once the team (as in V38) has 20 answers at that path."""
    stats = facts.stats
    if stats is None:
        return
    k = ctx.threshold("iqr_factor")
    for path, (q1, q3) in sorted(stats.numeric_quartiles.items()):
        value = _number(facts.visit.answers.get(path))
        iqr = q3 - q1
        if value is None or iqr <= 0:
            continue
        low, high = q1 - k * iqr, q3 + k * iqr
        if low <= value <= high:
            continue
        yield ctx.flag(
            f"Nilai {path} = {value:g} di luar rentang wajar {low:g} sampai {high:g}.",
            f"The value of {path} = {value:g} is outside the usual range {low:g} to {high:g}.",
            [path],
            path=path,
            value=value,
            q1=q1,
            q3=q3,
            low=low,
            high=high,
            iqr_factor=k,
        )


@rule("V42", Severity.HIGH, "Versi formulir usang", "Outdated form version")
def outdated_form_version(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires when the submission's form version differs from the form's current version
    (both known): the enumerator's phone did not take the update, so questions or
    choices may be missing or stale."""
    visit = facts.visit
    if not visit.form_version or not visit.current_form_version:
        return
    if visit.form_version == visit.current_form_version:
        return
    yield ctx.flag(
        f"Kiriman memakai formulir versi {visit.form_version}, versi terbaru "
        f"{visit.current_form_version}.",
        f"The submission used form version {visit.form_version}; the current version is "
        f"{visit.current_form_version}.",
        ["form_version"],
        form_version=visit.form_version,
        current_form_version=visit.current_form_version,
    )


@rule("V43", Severity.BLOCK, "Tanpa persetujuan tetapi data terisi", "No consent yet data")
def no_consent_with_data(facts: Facts, ctx: Context) -> Iterator[Flag]:
    """Fires once when consent was refused (explicitly "tidak") yet the submission carries
    interview data: a member status answered, a new member, a verdict or assets. The form
    hides the interview without consent, so such data was invented or the form was
    bypassed. The flag lists what was filled. Unknown consent is not judged."""
    visit = facts.visit
    if visit.consent is not False:
        return
    filled = [f"{m.path}/status" for m in visit.members if m.status and not m.new]
    filled += [m.path for m in visit.members if m.new]
    if visit.verdict:
        filled.append("verdict")
    if visit.assets:
        filled.append("assets")
    if not filled:
        return
    yield ctx.flag(
        f"Responden tidak memberi persetujuan, tetapi data wawancara terisi: {', '.join(filled)}.",
        f"The respondent did not consent, yet interview data was filled in: {', '.join(filled)}.",
        ["consent", *filled],
        filled=filled,
    )
