"""`fitting_offset`: the custom search space that keeps every sampled window inside the backbone."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import IntDistribution

from freezesweep.study.windows import fitting_offset, unit_count
from tests.helpers.shrink import compose_config


def test_offset_range_ends_where_the_window_reaches_the_lowest_unit(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path)
    # The embedded backbone has 4 blocks.
    assert unit_count(cfg) == 4
    study = optuna.create_study(direction="maximize")
    for top_k in (1, 3, 4):
        study.enqueue_trial({"finetune.top_k": top_k})
        trial = study.ask({"finetune.top_k": IntDistribution(1, 4)})
        fitting_offset(cfg, trial)
        # top_k units fit below at most 4 - top_k frozen ones: offset in 0..4 - top_k.
        assert trial.distributions["finetune.offset"] == IntDistribution(0, 4 - top_k)
        assert 0 <= trial.params["finetune.offset"] <= 4 - top_k
        study.tell(trial, 0.5)
