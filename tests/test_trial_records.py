"""What a trial's run records tells the truth: per-stage model summaries equal the stage's counts,
and every metric lives on one step axis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from freezesweep.trial import run_trial
from freezesweep.trial_records import (
    EPOCH_PREFIX,
    FINAL_METRICS,
    STAGE_NON_TRAINABLE,
    STAGE_TRAINABLE,
    VALUE_TAG,
    summary_file,
)
from tests.helpers.shrink import compose_config


def _only_run(tmp_path: Path) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run.info.run_id


def _count(summary: str, label: str) -> int:
    found = re.search(rf"^\s*{label}: ([\d,]+)", summary, flags=re.MULTILINE)
    assert found is not None, summary
    return int(found.group(1).replace(",", ""))


def _conv_flags(summary: str) -> list[str]:
    """The trainable column (`Y`/`N`) of the summary's Conv2D rows."""
    flags = []
    for line in summary.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if cells and "(Conv2D)" in cells[0]:
            flags.append(cells[-1])
    return flags


@pytest.mark.parametrize(
    "overrides",
    [
        ("finetune.top_k=0",),
        ("finetune.top_k=2",),
        ("finetune.top_k=1", "finetune.offset=1"),
        ("finetune.top_k=2", "finetune.method=lora", "finetune.lora_rank=2"),
        ("finetune.top_k=2", "finetune.method=bitfit"),
        ("finetune.top_k=2", "finetune.method=norm"),
    ],
    ids=["head-only", "unfreeze", "window-offset", "lora", "bitfit", "norm"],
)
def test_each_stage_summary_counts_what_the_stage_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: tuple[str, ...]
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_trial(compose_config(tmp_path, *overrides))
    client, run_id = _only_run(tmp_path)
    trainable = client.get_metric_history(run_id, STAGE_TRAINABLE)
    frozen = {m.step: m.value for m in client.get_metric_history(run_id, STAGE_NON_TRAINABLE)}
    names = ["head", "finetune"]  # the two stages of the default schedule
    assert sorted(m.step for m in trainable) == [0, 1]
    for point in trainable:
        path = client.download_artifacts(
            run_id, summary_file(point.step, names[point.step]), str(tmp_path)
        )
        summary = Path(path).read_text()
        # The summary was written after the stage's freezing: its totals are the stage's counts.
        assert _count(summary, "Trainable params") == point.value
        assert _count(summary, "Non-trainable params") == frozen[point.step]
        # Its trainable column too: no backbone conv layer is marked trainable where the stage
        # trains only the head (and, for the default two-stage schedule, stage 0 is head-only).
        flags = _conv_flags(summary)
        assert flags
        if point.step == 0 or overrides == ("finetune.top_k=0",):
            assert set(flags) == {"N"}, summary
    # The final trainable_params is the most any stage trained, as the summaries say.
    final = client.get_run(run_id).data.metrics["trainable_params"]
    assert final == max(m.value for m in trainable)


def test_every_metric_has_one_step_axis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_trial(compose_config(tmp_path, "finetune.top_k=1"))
    client, run_id = _only_run(tmp_path)
    run = client.get_run(run_id)
    for name in run.data.metrics:
        steps = [m.step for m in client.get_metric_history(run_id, name)]
        if name.startswith(EPOCH_PREFIX):
            # Per epoch: one point per cumulative epoch (2 stages of 1 epoch).
            assert sorted(steps) == [0, 1], name
        elif name.startswith("stage_"):
            # Per stage: one point per stage index.
            assert sorted(steps) == [0, 1], name
        else:
            # A final value: logged once, under its own name.
            assert name in FINAL_METRICS, name
            assert steps == [0], name
    assert set(FINAL_METRICS) <= set(run.data.metrics)
    assert {f"{EPOCH_PREFIX}val_accuracy", f"{EPOCH_PREFIX}loss"} <= set(run.data.metrics)
    # A completed trial's val_accuracy is its final value, and the run says so.
    assert run.data.tags[VALUE_TAG] == "final"
