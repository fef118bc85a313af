"""Accuracy of the rules: recall and precision per error class, over a synthetic field round
made from the registry generator's ground truth.

A synthetic Kota Malang registry (DTKS and DTSEN, with more injected dead and well-off
recipients than the generator's defaults so each class has enough cases) is imported,
every DTKS household is given to a team of enumerators, and each household's submission
is received with three photos (server/validation/synth.py says what the field sees and
which errors it makes). Then every validation job runs, peer re-checks included, and each
submission's flags are compared with its truth:

  class               caught by     what the submission carries
  dead_recipient      V18           a dead recipient listed as a living member
  well_off_recipient  V46           a recipient household of desil >= 7 with well-off signs
  mistyped_nik        V16           a NIK one typo from the registry (either side's typo)
  duplicate           V21, V22      the household submitted twice (both submissions)
  wrong_village       V32           a location in a village of another kecamatan, >= 4 km
  gps_cluster         V34           3-5 visits of one enumerator-day from one spot
  too_short           V35           an interview shorter than the household size allows

Recall = caught / carrying; precision = carrying / flagged by the class's rules. Targets:
recall >= 0.95 and precision >= 0.90 for every class.

    python bench/rules_accuracy.py                       # SQLite
    python bench/rules_accuracy.py --database-url postgresql://user@127.0.0.1:5432/db

Results are appended to bench/results/rules_accuracy-<backend>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from fieldwork import ROOT, record, registry_instance, send_round, set_up_round

from server.registry.synth import ErrorRates, write_synthetic
from server.validation.synth import CLASSES, DETECTED_BY

RATES = ErrorRates(dead_recipient=0.06, well_off_recipient=0.12)


def flags_by_submission(svc) -> dict[int, set[str]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from server.validation.models import StoredFlag

    found: dict[int, set[str]] = defaultdict(set)
    with svc.db.transaction() as session:
        for submission_id, rule in session.execute(
            select(StoredFlag.submission_id, StoredFlag.rule)
        ):
            found[submission_id].add(rule)
    return found


def score(truth: dict[int, set[str]], flags: dict[int, set[str]]) -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    for name in CLASSES:
        rules = DETECTED_BY[name]
        carrying = {s for s, t in truth.items() if name in t}
        flagged = {s for s in truth if flags.get(s, set()) & rules}
        caught = carrying & flagged
        report[name] = {
            "rules": sorted(rules),
            "carrying": len(carrying),
            "flagged": len(flagged),
            "caught": len(caught),
            "recall": round(len(caught) / len(carrying), 4) if carrying else None,
            "precision": round(len(caught) / len(flagged), 4) if flagged else None,
            "missed_examples": sorted(carrying - flagged)[:10],
            "false_examples": sorted(flagged - carrying)[:10],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--persons", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-enumerator", type=int, default=100)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    args = parser.parse_args()

    backend = "postgresql" if args.database_url else "sqlite"
    synth_dir = args.work / f"accuracy-synth-{args.persons}-{args.seed}"
    if not (synth_dir / "truth.csv").is_file():
        print(f"synthesising {args.persons:,} persons ...", flush=True)
        write_synthetic("3573", args.persons, args.seed, synth_dir, RATES)
    data_dir = args.work / f"accuracy-{backend}"
    env = registry_instance(data_dir, synth_dir, args.database_url, reuse=False)
    households = sum(1 for _ in (synth_dir / "dtks.csv").open(encoding="utf-8")) // 3
    enumerators = max(1, households // args.per_enumerator + 1)
    round_ = set_up_round(env, enumerators, args.per_enumerator)
    print(f"{round_.targets:,} households for {enumerators} enumerators", flush=True)

    started = time.monotonic()
    truth = send_round(round_, synth_dir, args.seed)
    received = time.monotonic() - started
    print(f"{len(truth):,} submissions received in {received:.0f} s", flush=True)

    from server.validation import jobs

    started = time.monotonic()
    ran = jobs.drain(round_.svc)
    checked = time.monotonic() - started
    print(f"{ran:,} checks (with peer re-checks) in {checked:.0f} s", flush=True)

    flags = flags_by_submission(round_.svc)
    report = score(truth, flags)
    fired = Counter(rule for rules in flags.values() for rule in rules)
    print()
    print("| class | rules | carrying | flagged | caught | recall | precision |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for name, row in report.items():
        recall, precision = row["recall"], row["precision"]
        ok &= recall is not None and recall >= 0.95  # type: ignore[operator]
        ok &= precision is not None and precision >= 0.90  # type: ignore[operator]
        print(
            f"| {name} | {', '.join(row['rules'])} | {row['carrying']} | "  # type: ignore[arg-type]
            f"{row['flagged']} | {row['caught']} | {recall} | {precision} |"
        )
    print()
    print("submissions flagged per rule:", dict(sorted(fired.items())))
    for name, row in report.items():
        if row["missed_examples"] or row["false_examples"]:
            print(f"{name}: missed {row['missed_examples']} false {row['false_examples']}")
    record(
        "rules_accuracy",
        backend,
        {
            "persons": args.persons,
            "seed": args.seed,
            "submissions": len(truth),
            "checks": ran,
            "receive_seconds": round(received, 1),
            "check_seconds": round(checked, 1),
            "classes": report,
            "submissions_per_rule": dict(sorted(fired.items())),
            "targets_met": ok,
        },
    )
    print("targets met" if ok else "targets NOT met")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
