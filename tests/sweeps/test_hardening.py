"""Bad inputs to `python sweep.py`: one line, the documented exit code, nothing created.

Each row is a command, the one line it must print, and its exit code: 2 for a single run (the
app's own one-line error), 1 for a sweep (the sweeper stops before the study, its folder or any
MLflow run exists). Rows run in a fresh working directory that must stay empty. They run the real
app in this process (`tests.helpers.app_inprocess`); two rows and Hydra's own errors also run as
their own `python sweep.py` process. Keep the rows that pass today too, so they stay passing.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from tests.helpers.app_inprocess import Finished, run_app
from tests.helpers.processes import Completed, run_script

pytestmark = pytest.mark.slow

SECRET = "S3cr3t-pw"
# A module whose import leaves a mark: a refused `_target_` must not even import it.
EVIL_MODULE = 'from pathlib import Path\nPath("IMPORTED").write_text("x")\nrun = print\n'
EVIL_AUGMENTATION = "[{_target_: evil_module.run, command: touch pwned}]"
# Noise that is not ours: TensorFlow's start-up lines and Hydra's pointer to HYDRA_FULL_ERROR.
_NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} |Set the environment)")


def _files(extra: Path) -> None:
    """A sweep file and an experiment file that name a `_target_` outside the allow-list."""
    (extra / "sweep").mkdir(parents=True)
    (extra / "experiment").mkdir()
    (extra / "python").mkdir()
    (extra / "python" / "evil_module.py").write_text(EVIL_MODULE)
    (extra / "sweep" / "evil.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /data: image_folder\n"
        "data:\n  directory: /nonexistent\n"
        f"hydra:\n  sweeper:\n    params:\n      data.augmentation: '{EVIL_AUGMENTATION}'\n"
    )
    (extra / "sweep" / "typo.yaml").write_text(
        "# @package _global_\n"
        "hydra:\n  sweeper:\n    params:\n      finetune.top_k: range(0, 5)\n"
        "      schedule.bn: froze\n"
    )
    (extra / "experiment" / "evil.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /data: image_folder\n"
        f"data:\n  directory: /nonexistent\n  augmentation: {EVIL_AUGMENTATION}\n"
    )
    # A shared sweep file that reaches Hydra's own instantiation points.
    (extra / "sweep" / "evil_callback.yaml").write_text(
        "# @package _global_\n"
        "hydra:\n  callbacks:\n    evil:\n      _target_: evil_module.run\n"
        "      command: touch pwned\n"
    )
    (extra / "notes.npz").write_text("x_train,y_train\n1,2\n")
    for name, (y_train, y_val) in BAD_LABELS.items():
        np.savez(
            extra / name,
            x_train=np.zeros((len(y_train), 28, 28), "float32"),
            y_train=np.array(y_train),
            x_val=np.zeros((len(y_val), 28, 28), "float32"),
            y_val=np.array(y_val),
        )


# Labels that are not the class ids 0..C-1, as .npz files a sweep names in data.path: a label 10
# in a 10-class set (only validation has it; or training lacks 9), a negative label.
BAD_LABELS = {
    "label_10_val.npz": (list(range(10)), [0, 10]),
    "label_10_train.npz": ([*range(9), 10], [0, 1]),
    "negative.npz": ([0, 1, -1], [0, 1]),
}


USER_FOLDERS = [("mine", "notes.txt"), ("logs", "sweep.log")]


def run(
    tmp_path: Path,
    *arguments: str,
    real: bool = False,
    users: bool = False,
    link: tuple[str, Path] | None = None,
) -> tuple[Completed | Finished, Path]:
    """`python sweep.py *arguments` in a fresh working directory: in this process (the real app,
    Hydra and sweeper, seconds faster), or as its own process when `real`; with the users'
    folders of `USER_FOLDERS` in it when `users`, and `extra/linked/<name>` a link when `link`."""
    extra = tmp_path / "extra"
    _files(extra)
    if link is not None:
        (extra / "linked" / link[0]).parent.mkdir(parents=True)
        (extra / "linked" / link[0]).symlink_to(link[1])
    work = tmp_path / "work"
    work.mkdir()
    for folder, name in USER_FOLDERS if users else []:
        (work / folder).mkdir()
        (work / folder / name).write_text("the user's")
    expanded = [argument.replace("{extra}", str(extra)) for argument in arguments]
    command = [
        *[argument for argument in expanded if argument == "-m"],
        f"hydra.searchpath=[file://{extra}]",
        *[argument for argument in expanded if argument != "-m"],
    ]
    if not real:
        with pytest.MonkeyPatch.context() as patch:
            patch.syspath_prepend(str(extra / "python"))
            patch.delenv("MLFLOW_TRACKING_URI", raising=False)
            return run_app(work, *command), work
    python_path = [str(extra / "python"), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    process = run_script(work, *command, env={"PYTHONPATH": os.pathsep.join(python_path)})
    return process, work


def our_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not _NOISE.match(line)]


_DENIED = (
    "it loads or runs code or graphs from outside the config (never allowed: "
    "keras.layers.FlaxLayer, keras.layers.JaxLayer, keras.layers.Lambda, keras.layers.TFSMLayer, "
    "keras.layers.TorchModuleWrapper)."
)

SWEEP_ROWS = [
    # Fixed overrides, searched ranges and enqueued sets of a sweep, checked before the study.
    (["schedule.unit=foo"], "schedule.unit must be one of layer, block; got 'foo'."),
    (
        ["trainer.log_model=champion"],
        "trainer.log_model must be one of pareto, best, all, none; got 'champion'.",
    ),
    (
        ["finetune.top_k=range(0,7)"],
        "finetune.top_k must be between 0 and 4 (the backbone has 4 block units); got 6.",
    ),
    (
        # A keras.applications backbone is built for the check with random weights: no download.
        ["backbone=keras_app", "finetune.top_k=range(0,40)"],
        "finetune.top_k must be between 0 and 13 (the backbone has 13 block units); got 39.",
    ),
    (
        ["hydra.sweeper.enqueue=[{finetune.top_k: 9, finetune.lr: 0.001}]"],
        "hydra.sweeper.enqueue[0].finetune.top_k: 9 is outside IntDistribution(high=4, "
        "log=False, low=0, step=1).",
    ),
    (
        # A fixed value in a sweep file's params, not on the command line.
        ["sweep=typo"],
        "schedule.bn must be one of frozen, train; got 'froze'.",
    ),
    (
        ["+schedule.stages.1.optimizer.betaa_1=0.9"],
        "stage 'finetune': optimizer keras.optimizers.Adam: Argument(s) not recognized: "
        "{'betaa_1': 0.9}",
    ),
    (
        ["+schedule.stages.1.early_stopping={patiense: 2}"],
        "schedule.stages.1.early_stopping takes only monitor, patience, restore_best_weights; "
        "got unknown key(s) patiense.",
    ),
    # Warm-start studies are read before anything exists, never created.
    (
        ["hydra.sweeper.warm_start=[{study: old, storage: 'sqlite:///{extra}/nowhere.db'}]"],
        "hydra.sweeper.warm_start: study 'old': sqlite:///{extra}/nowhere.db does not exist.",
    ),
    (
        [
            "hydra.sweeper.warm_start=[{study: old, storage: "
            f"'postgresql+psycopg://fs:{SECRET}@127.0.0.1:1/optuna'}}]"
        ],
        "hydra.sweeper.warm_start: study 'old' in postgresql+psycopg://fs:***@127.0.0.1:1/optuna "
        "cannot be read: ...",
    ),
    # Stores: one line naming the setting, before anything exists.
    (
        ["hydra.sweeper.storage=sqlite:////dev/null/optuna.db"],
        "hydra.sweeper.storage: cannot create /dev/null/optuna.db: /dev/null is not a folder.",
    ),
    (
        [f"hydra.sweeper.storage=postgresql+psycopg://fs:{SECRET}@127.0.0.1:1/optuna"],
        "hydra.sweeper.storage: cannot connect to postgresql+psycopg://fs:***@127.0.0.1:1/optuna "
        "(OperationalError: ...",
    ),
    (
        [f"tracking.uri=http://fs:{SECRET}@127.0.0.1:9"],
        "tracking.uri: no MLflow tracking server answers at http://fs:***@127.0.0.1:9 (URLError: "
        "[Errno 111] Connection refused); start it (mlflow server ...) or fix tracking.uri / "
        "MLFLOW_TRACKING_URI.",
    ),
    # A study name is a folder name: a path in it would put the sweep outside sweeps/.
    (
        ["hydra.sweeper.study_name=../../outside"],
        "hydra.sweeper.study_name names the study's folder: a plain name, without '/' or '\\', "
        "and not '.' or '..'; got '../../outside'.",
    ),
    (
        ["hydra.sweeper.study_name={extra}/absolute"],
        "hydra.sweeper.study_name names the study's folder: a plain name, without '/' or '\\', "
        "and not '.' or '..'; got '{extra}/absolute'.",
    ),
    (
        ["hydra.sweeper.study_name=.."],
        "hydra.sweeper.study_name names the study's folder: a plain name, without '/' or '\\', "
        "and not '.' or '..'; got '..'.",
    ),
    # `_target_`s outside the allow-list: command line, sweep file, experiment file.
    (
        [
            "data=image_folder",
            "data.directory=/nonexistent",
            "data.augmentation=[{_target_: os.system, command: touch pwned}]",
        ],
        "data.augmentation.0._target_ must name one of keras.layers.*; got 'os.system'.",
    ),
    (
        ["+schedule.stages.1.optimizer._target_=evil_module.run"],
        "schedule.stages.1.optimizer._target_ must name one of keras.optimizers.*; "
        "got 'evil_module.run'.",
    ),
    (
        ["sweep=evil"],
        "data.augmentation.0._target_ must name one of keras.layers.*; got 'evil_module.run'.",
    ),
    (
        ["experiment=evil"],
        "data.augmentation.0._target_ must name one of keras.layers.*; got 'evil_module.run'.",
    ),
    (
        # The sweeper's hooks are code paths too: only freezesweep's, allowed_targets' or the app's.
        ["hydra.sweeper.on_sweep_start=os.system"],
        "hydra.sweeper.on_sweep_start must name a function of freezesweep, of a module in "
        "allowed_targets or of a module beside the app; got 'os.system'.",
    ),
    (
        ["allowed_targets=[os]"],
        "allowed_targets.0 must be a module of your own, not the standard library's; got 'os'.",
    ),
    # A `_target_` two levels down in a sampler's positional arguments, built by Hydra.
    (
        ["++hydra.sweeper.sampler._args_=[[{_target_: evil_module.run, command: touch pwned}]]"],
        "hydra.sweeper.sampler._args_.0.0._target_ must name one of optuna.samplers.*; "
        "got 'evil_module.run'.",
    ),
    # Data that cannot train: the file is read and checked once, before the study, not by every
    # trial (each would fail the same way, and the sweep would stop on its failure budget).
    (
        ["data=npz", "data.path={extra}/label_10_val.npz"],
        "data.path: y_val has label(s) 10 that y_train lacks in {extra}/label_10_val.npz; every "
        "validation class must be trained on.",
    ),
    (
        ["data=npz", "data.path={extra}/label_10_train.npz"],
        "data.path: y_train must hold the class ids 0..9 (its 10 classes), each at least once; "
        "got label 10 above 9 and no label 9 in {extra}/label_10_train.npz. Map them to 0..9 "
        "first.",
    ),
    (
        ["data=npz", "data.path={extra}/negative.npz"],
        "data.path: y_train must be a 1-D array of integer class ids >= 0 in {extra}/negative.npz.",
    ),
    (
        ["data=npz", "data.path={extra}/notes.npz"],
        "data.path: {extra}/notes.npz is not a .npz file (a NumPy zip archive).",
    ),
    # A layer that loads a SavedModel and runs its graph on every batch.
    (
        [
            "data=image_folder",
            "data.directory=/nonexistent",
            "data.augmentation=[{_target_: keras.layers.TFSMLayer, filepath: /tmp/saved}]",
        ],
        f"data.augmentation.0._target_ must not name 'keras.layers.TFSMLayer': {_DENIED}",
    ),
]

RUN_ROWS = [
    (["schedule.unit=foo"], "schedule.unit must be one of layer, block; got 'foo'."),
    (
        ["trainer.log_model=champion"],
        "trainer.log_model must be one of pareto, best, all, none; got 'champion'.",
    ),
    (
        ["finetune.top_k=9"],
        "finetune.top_k must be between 0 and 4 (the backbone has 4 block units); got 9.",
    ),
    (
        [f"tracking.uri=http://fs:{SECRET}@127.0.0.1:9"],
        "tracking.uri: no MLflow tracking server answers at http://fs:***@127.0.0.1:9 (URLError: "
        "[Errno 111] Connection refused); start it (mlflow server ...) or fix tracking.uri / "
        "MLFLOW_TRACKING_URI.",
    ),
    (
        ["tracking.default_uri=sqlite:////dev/null/mlflow.db"],
        "tracking.uri: cannot create /dev/null/mlflow.db: /dev/null is not a folder.",
    ),
    (
        ["data=npz", "data.path={extra}/notes.npz"],
        "data.path: {extra}/notes.npz is not a .npz file (a NumPy zip archive).",
    ),
    (
        ["experiment=evil"],
        "data.augmentation.0._target_ must name one of keras.layers.*; got 'evil_module.run'.",
    ),
    (
        [
            "data=image_folder",
            "data.directory=/nonexistent",
            "data.augmentation=[{_target_: keras.layers.Lambda, function: print}]",
        ],
        f"data.augmentation.0._target_ must not name 'keras.layers.Lambda': {_DENIED}",
    ),
]

_CALLBACKS = (
    "must name one of freezesweep.hydra_files.RunDirClaim, "
    "hydra.experimental.callbacks.LogJobReturnCallback"
)
# What Hydra builds itself, from an override or a sweep file: refused as Hydra loads the config,
# in Hydra's one line (exit status 1, single run or sweep), before logging, callbacks or folders.
HYDRA_ROWS = [
    (
        ["+hydra.callbacks.evil={_target_: evil_module.run, command: touch pwned}"],
        f"hydra.callbacks.evil._target_ {_CALLBACKS}; got 'evil_module.run'.",
    ),
    (
        ["sweep=evil_callback"],
        f"hydra.callbacks.evil._target_ {_CALLBACKS}; got 'evil_module.run'.",
    ),
    (
        ["hydra.job_logging.handlers.file.filename=evil_module.py"],
        "hydra.job_logging.handlers.file.filename must end in .log (a handler writing a .py file "
        "would make the next run import it); got 'evil_module.py'.",
    ),
    (
        ["hydra.job_logging.handlers.console.class=evil_module.run"],
        "hydra.job_logging.handlers.console.class must name one of logging.*, "
        "logging.handlers.*, colorlog.*; got 'evil_module.run'.",
    ),
    (
        ["+hydra.job.env_set.LD_PRELOAD=/tmp/evil.so"],
        "hydra.job.env_set.LD_PRELOAD is refused: it decides what code a job loads (LD_*, "
        "DYLD_*, PYTHON*, BASH_ENV, ENV); set it in the environment the sweep starts from.",
    ),
]


@pytest.mark.parametrize("mode", [[], ["-m"]], ids=["run", "sweep"])
@pytest.mark.parametrize(("arguments", "expected"), HYDRA_ROWS)
def test_hydra_s_own_instantiation_points_refuse_in_one_line(
    tmp_path: Path, mode: list[str], arguments: list[str], expected: str
) -> None:
    process, work = run(tmp_path, *mode, *arguments)
    assert process.returncode == 1, process.stderr[-3000:]
    _check(process, expected, tmp_path / "extra")
    assert sorted(path.name for path in work.iterdir()) == []


def _check(process: Completed | Finished, expected: str, extra: Path) -> None:
    lines = our_lines(process.stderr)
    expected = expected.replace("{extra}", str(extra))
    # One line, exactly the message (a row ending in "..." pins the part that is ours).
    assert len(lines) == 1, process.stderr[-3000:]
    if expected.endswith("..."):
        assert lines[0].startswith(expected.removesuffix("...")), lines[0]
    else:
        assert lines[0] == expected
    assert SECRET not in process.stdout + process.stderr
    assert "Traceback" not in process.stderr
    # A refused target was neither called nor imported.
    assert not any(extra.parent.rglob("pwned")) and not any(extra.parent.rglob("IMPORTED"))
    assert "evil_module" not in sys.modules


@pytest.mark.parametrize(("arguments", "expected"), SWEEP_ROWS)
def test_a_bad_sweep_is_one_line_exit_1_and_creates_nothing(
    tmp_path: Path, arguments: list[str], expected: str
) -> None:
    process, work = run(tmp_path, "-m", *arguments)
    assert process.returncode == 1, process.stderr[-3000:]
    _check(process, expected, tmp_path / "extra")
    # No study storage, sweep folder or MLflow store, here or above (a `../` study name).
    assert sorted(path.name for path in work.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["extra", "work"]
    assert sorted(path.name for path in (tmp_path / "extra").iterdir()) == sorted(
        ["experiment", *BAD_LABELS, "notes.npz", "python", "sweep"]
    )


@pytest.mark.parametrize(("arguments", "expected"), RUN_ROWS)
def test_a_bad_single_run_is_one_line_exit_2_and_creates_no_store(
    tmp_path: Path, arguments: list[str], expected: str
) -> None:
    process, work = run(tmp_path, *arguments)
    assert process.returncode == 2, process.stderr[-3000:]
    _check(process, "error: " + expected, tmp_path / "extra")
    # Not even Hydra's run folder (it held only Hydra's files), no MLflow store.
    assert sorted(path.name for path in work.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "expected", "code"),
    [
        (["-m", *SWEEP_ROWS[0][0]], SWEEP_ROWS[0][1], 1),
        # A bad .npz stops the real sweep before its study, folder or runs, as the table's row.
        *[
            (["-m", *row[0]], row[1], 1)
            for row in SWEEP_ROWS
            if "{extra}/label_10_val.npz" in row[0][-1]
        ],
        (RUN_ROWS[2][0], "error: " + RUN_ROWS[2][1], 2),
        (HYDRA_ROWS[0][0], HYDRA_ROWS[0][1], 1),
    ],
)
def test_the_real_process_prints_the_same_line_and_exit_code(
    tmp_path: Path, arguments: list[str], expected: str, code: int
) -> None:
    # The tables above run the app in this process; some rows again as `python sweep.py` itself:
    # the exit status the OS sees and a console without TensorFlow's or Hydra's noise.
    process, work = run(tmp_path, *arguments, real=True)
    assert process.returncode == code, process.stderr[-3000:]
    _check(process, expected, tmp_path / "extra")
    assert sorted(path.name for path in work.iterdir()) == []


def test_hydra_s_own_errors_hide_secrets(tmp_path: Path) -> None:
    # A stray quote: Hydra's grammar error quotes the override whole, before our code runs
    # (only the real process wraps its console; see `freezesweep.console.redact_console`).
    process, work = run(tmp_path, f"tracking.uri=http://fs:{SECRET}@127.0.0.1:9'", real=True)
    assert process.returncode == 1
    assert "tracking.uri=http://fs:***@127.0.0.1:9'" in process.stderr
    assert SECRET not in process.stdout + process.stderr
    assert sorted(path.name for path in work.iterdir()) == []


@pytest.mark.parametrize(("folder", "name"), USER_FOLDERS)
def test_a_bad_single_run_keeps_a_users_run_folder_whole(
    tmp_path: Path, folder: str, name: str
) -> None:
    # The folder existed before the run: never removed, even when it holds only a `.log`.
    process, work = run(tmp_path, f"hydra.run.dir={folder}", "schedule.unit=foo", users=True)
    assert process.returncode == 2, process.stderr[-3000:]
    assert (work / folder / name).read_text() == "the user's"


@pytest.mark.parametrize(
    ("name", "what"), [("model.keras", "the model"), ("freeze_audit.json", "the freeze audit")]
)
def test_a_link_among_the_outputs_is_refused_before_training(
    tmp_path: Path, name: str, what: str
) -> None:
    # A link named like an output in the run folder: one line, its target outside untouched.
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's")
    run_dir = tmp_path / "extra" / "linked"
    process, _ = run(tmp_path, f"hydra.run.dir={run_dir}", link=(name, outside))
    assert process.returncode == 2, process.stderr[-3000:]
    _check(
        process,
        f"error: {run_dir / name} ({what}) is a symbolic link; freezesweep never "
        "writes through a link: remove it, or set hydra.run.dir to a folder of its own.",
        tmp_path / "extra",
    )
    assert outside.read_text() == "the user's" and (run_dir / name).is_symlink()


def test_a_link_among_a_sweep_jobs_outputs_fails_its_trial_naming_the_sweep_folder(
    tmp_path: Path,
) -> None:
    # A link inside a trial's folder left from before: that trial FAILs before training, its
    # reason naming the setting that chose the folder (hydra.sweep.dir), the target untouched.
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's")
    sweep_dir = tmp_path / "extra" / "linked"
    process, work = run(
        tmp_path, "-m", f"hydra.sweep.dir={sweep_dir}", "hydra.sweeper.n_trials=1",
        "hydra.sweeper.max_failure_rate=1.0", link=("trial-0000/freeze_audit.json", outside),
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    study = optuna.load_study(study_name="top_k_lr", storage=f"sqlite:///{work}/sweeps/optuna.db")
    (trial,) = [t for t in study.trials if t.state.is_finished()]  # the baselines still wait
    assert trial.number == 0 and trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["fail_reason"].endswith(
        "freezesweep never writes through a link: remove it, or set hydra.sweep.dir to a folder "
        "of its own."
    )
    assert outside.read_text() == "the user's"


@pytest.mark.parametrize("name", ["multirun.yaml", "optimization_results.yaml"])
def test_a_link_in_the_sweep_folder_is_refused_before_the_study(tmp_path: Path, name: str) -> None:
    # The sweep's own files: the same rule, before the study or any run exists.
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's")
    sweep_dir = tmp_path / "extra" / "linked"
    process, _ = run(tmp_path, "-m", f"hydra.sweep.dir={sweep_dir}", link=(name, outside))
    assert process.returncode == 1, process.stderr[-3000:]
    expected = (
        f"{sweep_dir / name} (the sweep's {name}) is a symbolic link; freezesweep never writes "
        "through a link: remove it, or set hydra.sweep.dir to a folder of its own."
    )
    _check(process, expected, tmp_path / "extra")
    assert outside.read_text() == "the user's" and (sweep_dir / name).is_symlink()
    assert sorted(path.name for path in sweep_dir.iterdir()) == [name]
