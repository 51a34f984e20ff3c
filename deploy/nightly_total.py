"""Tonight's study total for deploy/cron_nightly.sh: PER_NIGHT trials per night since the study's
own first night.

The first night is the date of the study's first trial (a new or empty study: tonight), recorded
in the study as the user attr `nightly:first_night` the first time it is known, so it never moves.
Nothing is written to a study that does not exist yet: the sweep creates it tonight, and tomorrow
its first trial says when tonight was.

    python deploy/nightly_total.py STORAGE STUDY_NAME PER_NIGHT   # prints: NIGHT TOTAL FIRST_NIGHT

`TODAY=YYYY-MM-DD` in the environment stands in for the local date (tests simulate nights).
Dates are local: cron runs on local time, and Optuna stamps trials with local naive times.
"""

from __future__ import annotations

import os
import sys
from datetime import date

import optuna

from freezesweep.study.storage import normalize_storage_url, open_storage

FIRST_NIGHT_ATTR = "nightly:first_night"


def first_night(study: optuna.Study | None, today: date) -> tuple[date, bool]:
    """The study's first night, and whether it is already recorded in the study.

    Args:
        study: the study, or None when the storage has none of that name yet.
        today: tonight's date.

    Returns:
        (first night, recorded).
    """
    if study is None:
        return today, False
    recorded = study.user_attrs.get(FIRST_NIGHT_ATTR)
    if recorded is not None:
        return date.fromisoformat(str(recorded)), True
    starts = [t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start]
    return (min(starts).date() if starts else today), False


def main(argv: list[str]) -> int:
    """Prints `NIGHT TOTAL FIRST_NIGHT`; records the first night in an existing study."""
    if len(argv) != 3 or not argv[2].isdigit() or int(argv[2]) < 1:
        print("usage: nightly_total.py STORAGE STUDY_NAME PER_NIGHT (>= 1)", file=sys.stderr)
        return 2
    url, study_name, per_night = normalize_storage_url(argv[0]), argv[1], int(argv[2])
    today = date.fromisoformat(os.environ["TODAY"]) if os.environ.get("TODAY") else date.today()
    storage = open_storage(url)
    try:
        study: optuna.Study | None = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # Optuna's "no such study"
        study = None
    first, recorded = first_night(study, today)
    if study is not None and not recorded:
        study.set_user_attr(FIRST_NIGHT_ATTR, first.isoformat())
    night = max((today - first).days + 1, 1)
    print(night, night * per_night, first.isoformat())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
