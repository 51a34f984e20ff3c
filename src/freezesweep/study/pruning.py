"""The job side of pruning: re-attach to the sweeper's Optuna trial, report every epoch, stop early.

The `freezesweep` sweeper creates each trial, passes `trial.number`, `trial.study_name` and
`trial.storage` to the job, and writes the pruner's `_target_` spec on the trial (system attr
`PRUNER_ATTR`), because pruning decisions are taken here, in the job's process, by the pruner of
the study object the job holds. The sweeper alone tells Optuna the final state: a job that should
stop raises `optuna.TrialPruned` and the sweeper records PRUNED.

Optuna only: no Hydra, no MLflow. Keras is imported the first time `PruningCallback` is used,
because importing it starts TensorFlow (seconds) and callers that only attach do not need it.

Example:

    trial = attach_trial(cfg.trial.study_name, cfg.trial.storage, cfg.trial.number)
    record_trainable_params(trial, count)
    callback = PruningCallback(trial)
    model.fit(x, y, validation_data=(xv, yv), callbacks=[callback], ...)
    if callback.pruned:
        raise optuna.TrialPruned(f"pruned at epoch {callback.pruned_at_epoch}")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from freezesweep import compat, targets
from freezesweep.redaction import redact
from freezesweep.study._reports import LaterReports
from freezesweep.study.attributes import (
    METHOD_ATTR,
    MODEL_FILE_ATTR,
    PRUNER_ATTR,
    RUN_ID_ATTR,
    RUN_URL_ATTR,
    STAGE_EPOCHS_ATTR,
    STAGE_SECONDS_ATTR,
    TRAINABLE_PARAMS_ATTR,
)
from freezesweep.study.own_trials import own_trials, own_trials_study
from freezesweep.study.storage import open_storage

__all__ = [
    "PruningCallback",
    "attach_trial",
    "pruner_from_spec",
    "record_run_id",
    "record_trainable_params",
]


def pruner_from_spec(spec: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    """Builds the pruner a `_target_` mapping describes.

    Args:
        spec: e.g. `{"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5}`; a nested
            mapping with its own `_target_` (PatientPruner's `wrapped_pruner`) is built first.
            `None` gives `optuna.pruners.NopPruner()`.

    Raises:
        ValueError: the spec has no `_target_`, the target is not in `optuna.pruners`, or its
            arguments are wrong.
    """
    if spec is None:
        return optuna.pruners.NopPruner()
    # Every nested `_target_` (in lists too) is checked before any pruner is built.
    targets.check_tree(spec, key="", allowed=targets.OPTUNA_PRUNERS)
    pruner = _build(spec)
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ValueError(f"{spec['_target_']} is not an optuna.pruners.BasePruner.")
    return pruner


def attach_trial(study_name: str, storage: str, number: int) -> optuna.Trial:
    """Re-attach to a trial the sweeper created (in-process or in a launcher subprocess).

    Args:
        study_name: the study's name (`trial.study_name` in the job config).
        storage: the study's storage URL (`trial.storage`: a database URL or `journal:PATH`),
            absolute so it works from any directory.
        number: the trial's number in the study (`trial.number`).

    Returns:
        A live `optuna.Trial`: `report` and `should_prune` use the sweeper's pruner, and
        `trial.params` holds the values the job was launched with.

    Raises:
        KeyError: no such study or trial in the storage.
        RuntimeError: the trial is not RUNNING (it was already told, or never started).
    """
    try:
        backend, trial_id = _find(storage, study_name, number)
    except KeyError:
        # The process's storage may predate the study (a database replaced at the same path).
        _STORAGES.pop(storage, None)
        try:
            backend, trial_id = _find(storage, study_name, number)
        except KeyError as error:
            raise KeyError(
                f"no trial {number} of study '{study_name}' in {redact(storage)}."
            ) from error
    frozen = backend.get_trial(trial_id)
    if frozen.state != TrialState.RUNNING:
        raise RuntimeError(
            f"trial {number} of study '{study_name}' is {frozen.state.name}, not RUNNING; "
            "only the sweeper that created it can launch a job for it."
        )
    pruner = pruner_from_spec(frozen.system_attrs.get(PRUNER_ATTR))
    study = optuna.load_study(study_name=study_name, storage=backend, pruner=pruner)
    # The pruner compares the trial with the study's own trials, never with an earlier study's
    # warm-start trials (which would also count toward its n_startup_trials).
    return optuna.Trial(own_trials_study(study), trial_id)


# One storage per URL for the process: in-process jobs (Hydra's basic launcher) attach once per
# trial, and a new RDB storage makes an engine and checks the schema each time (~50 ms). It is
# kept as the caching storage `optuna.load_study` would wrap it in, so its cache of finished
# trials lives as long as the process: a fresh one reads every trial of the study again on the
# pruner's first question (7 s a trial at 5,000 trials on a loaded 2-core machine: bench P9).
_STORAGES: dict[str, optuna.storages.BaseStorage] = {}


def _find(storage: str, study_name: str, number: int) -> tuple[optuna.storages.BaseStorage, int]:
    """The process's storage at `storage` and the trial's id in it (`KeyError`: none)."""
    if storage not in _STORAGES:
        _STORAGES[storage] = optuna.storages.get_storage(open_storage(storage))
    backend = _STORAGES[storage]
    study_id = backend.get_study_id_from_name(study_name)
    return backend, backend.get_trial_id_from_study_id_trial_number(study_id, number)


def record_trainable_params(trial: optuna.Trial, count: int, method: str | None = None) -> None:
    """Set user attrs `trainable_params` (and `method`, `finetune.method`) before training, so
    progress lines and reports have them."""
    trial.set_user_attr(TRAINABLE_PARAMS_ATTR, int(count))
    if method is not None:
        trial.set_user_attr(METHOD_ATTR, method)


def record_costs(trial: optuna.Trial, epochs: Sequence[int], seconds: Sequence[float]) -> None:
    """Set user attrs `stage_epochs` and `stage_seconds`: per stage trained (or restored), its
    epochs and what it cost, so a finished study can be replayed as a recorded grid."""
    trial.set_user_attr(STAGE_EPOCHS_ATTR, [int(n) for n in epochs])
    trial.set_user_attr(STAGE_SECONDS_ATTR, [round(float(s), 4) for s in seconds])


def record_run_id(trial: optuna.Trial, run_id: str | None, address: str | None = None) -> None:
    """Set user attrs `mlflow_run_id` and `mlflow_run_url`, so reports and optuna-dashboard
    link a trial to its run (not for a spooled run: its id is made when it is replayed)."""
    if run_id:
        trial.set_user_attr(RUN_ID_ATTR, run_id)
    if run_id and address:
        trial.set_user_attr(RUN_URL_ATTR, address)


def record_model_file(trial: optuna.Trial, path: Path) -> None:
    """Set user attr `model_file`: where the trial's model waits to be logged to MLflow."""
    trial.set_user_attr(MODEL_FILE_ATTR, str(path.resolve()))


def dominated(trial: optuna.Trial, accuracy: float, trainable_params: int) -> bool:
    """Whether a completed trial of the study already beats this one on the accuracy/trainable-
    params front (at least as good on both, better on one). Being dominated is final: such a
    trial can never be on the front, the champion or the knee, so it keeps no model to log."""
    for other in own_trials(trial.study, (TrialState.COMPLETE,)):
        params = other.user_attrs.get(TRAINABLE_PARAMS_ATTR)
        if other.number == trial.number or not other.values or params is None:
            continue
        value = other.values[0]
        at_least = value >= accuracy and params <= trainable_params
        if at_least and (value > accuracy or params < trainable_params):
            return True
    return False


class _PruningLogic:
    """Everything `PruningCallback` does, free of Keras so the module imports fast.

    Reports `monitor` (default `"val_accuracy"`) every epoch with step = the epoch index Keras
    passes (cumulative across stages when `fit` gets `initial_epoch`), and stops training at once
    when the trial should be pruned: `model.stop_training = True` ends `fit` after this epoch,
    `pruned_at_epoch` remembers when, and the caller raises `optuna.TrialPruned` after `fit`
    returns. A later `fit` with the same callback raises `optuna.TrialPruned` before its first
    epoch, so a pruned trial never trains another stage.

    On a multi-objective study the callback does nothing (Optuna prunes single objectives only).

    Args:
        trial: the live trial, from `attach_trial`.
        monitor: the epoch-log key to report. Defaults to `"val_accuracy"`.
    """

    model: Any  # Set by Keras through `Callback.set_model`.

    def __init__(self, trial: optuna.Trial, monitor: str = "val_accuracy") -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.pruned_at_epoch: int | None = None
        self._single_objective = len(trial.study.directions) == 1
        # Asking before the pruner's warm-up ends reads every trial of the study for a certain no;
        # the warm-up's values are written in the background meanwhile (`LaterReports`).
        self._first_prunable = compat.pruner_warmup_steps(trial.study.pruner)
        self._later = LaterReports(trial)

    @property
    def pruned(self) -> bool:
        """True once the pruner said stop."""
        return self.pruned_at_epoch is not None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Refuses to train a pruned trial further (a stage after the one that was pruned)."""
        if self.pruned:
            raise optuna.TrialPruned(f"trial was pruned at epoch {self.pruned_at_epoch}.")

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Every value of the stage is in the study when its `fit` returns."""
        self.flush()

    def flush(self) -> None:
        """Wait until every reported value is in the study (call before the trial is told)."""
        self._later.flush()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Reports `logs[monitor]` at step `epoch`; asks the pruner; stops training if told to."""
        if not self._single_objective or self.pruned:
            return
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"PruningCallback: '{self.monitor}' is not in the epoch logs "
                f"(available: {', '.join(sorted(logs)) or 'none'}); pass validation_data to "
                "fit or choose another monitor."
            )
        value = float(logs[self.monitor])
        if epoch < self._first_prunable:
            self._later.report(value, epoch)
            return
        self.flush()
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            self.pruned_at_epoch = epoch
            self.model.stop_training = True


if TYPE_CHECKING:
    import keras

    class PruningCallback(_PruningLogic, keras.callbacks.Callback):
        """Keras callback that reports to and is stopped by the trial's pruner (`_PruningLogic`)."""

else:

    def __getattr__(name: str) -> Any:
        # PEP 562: the Keras subclass is built on first use, then cached as a module attribute
        # (so pickling and `isinstance` see one class).
        if name != "PruningCallback":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import keras

        class PruningCallback(_PruningLogic, keras.callbacks.Callback):
            __doc__ = _PruningLogic.__doc__

        PruningCallback.__module__ = __name__
        globals()[name] = PruningCallback
        return PruningCallback


def _build(spec: Mapping[str, Any]) -> Any:
    if "_target_" not in spec:
        raise ValueError(
            f"a pruner spec needs a _target_ (e.g. optuna.pruners.MedianPruner); got "
            f"{dict(spec)!r}."
        )
    kwargs = {
        key: _build(value) if isinstance(value, Mapping) and "_target_" in value else value
        for key, value in spec.items()
        if key != "_target_"
    }
    # The spec travels through the study storage into every job; only Optuna's pruners may run.
    target = targets.resolve(spec["_target_"], key="_target_", allowed=targets.OPTUNA_PRUNERS)
    if not (isinstance(target, type) and issubclass(target, optuna.pruners.BasePruner)):
        raise ValueError(f"{spec['_target_']} is not an optuna.pruners.BasePruner.")
    try:
        return target(**kwargs)
    except TypeError as error:  # Unknown or missing keyword: name the target it belongs to.
        raise ValueError(f"{spec['_target_']}: {error}") from error
