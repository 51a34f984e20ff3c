"""One trial: config -> spec -> model and data -> planned, audited, tracked schedule -> values.

The same `TrialOutcome` feeds MLflow and the value returned to the sweeper, so the two never
disagree.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf

from freezesweep import runtime
from freezesweep.assemble import build_backbone, build_model, load_data
from freezesweep.audit import write_audit
from freezesweep.freezing import StagePlan, count_params, plan_schedule
from freezesweep.report_text import stage_table
from freezesweep.spec import TrialSpec, trial_spec
from freezesweep.training import ScheduleResult, StageResult, build_optimizer, run_schedule


class EpochLogger(keras.callbacks.Callback):
    """Logs Keras's per-epoch logs with step = cumulative epoch (Keras's own epoch index)."""

    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.run.log_metrics({key: float(value) for key, value in (logs or {}).items()}, step=epoch)


def seed_everything(seed: int) -> None:
    """Fresh Keras state and deterministic ops, so one seed gives one result."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def model_summary(model: keras.Model) -> str:
    """`model.summary()` with the trainable column, as text."""
    buffer = io.StringIO()
    model.summary(
        show_trainable=True,
        expand_nested=True,
        print_fn=lambda line, line_break=True: buffer.write(line + ("\n" if line_break else "")),
    )
    return buffer.getvalue()


def stage_params(plans: list[StagePlan]) -> dict[str, str]:
    """Resolved per-stage settings, prefixed by stage so stages never collide in MLflow."""
    params: dict[str, str] = {}
    for index, plan in enumerate(plans):
        prefix = f"stage{index}.{plan.stage.name}"
        params[f"{prefix}.unfreeze"] = str(plan.stage.unfreeze)
        params[f"{prefix}.units"] = ",".join(plan.units)[:6000] or "-"
        params[f"{prefix}.epochs"] = str(plan.stage.epochs)
        params[f"{prefix}.learning_rate"] = repr(plan.stage.learning_rate)
        params[f"{prefix}.optimizer"] = plan.stage.optimizer
    return params


def _output_dir() -> Path | None:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return None


def run_trial(cfg: DictConfig) -> float | tuple[float, ...]:
    """Run one trial of the configured schedule and return its objective values.

    Args:
        cfg: the composed Hydra job config. No default.

    Returns:
        `val_accuracy`, or a tuple in the order of `cfg.objectives`.
    """

    spec = trial_spec(cfg)
    seed_everything(spec.seed)
    # The policy is read by layers when they are built; restored to float32 after the trial.
    with runtime.precision(spec.trainer.mixed_precision):
        return _run(spec, cfg)


def _run(spec: TrialSpec, cfg: DictConfig) -> float | tuple[float, ...]:
    from freezesweep import tracking

    backbone, preprocess = build_backbone(spec)
    data = load_data(spec, tuple(backbone.input_shape[1:]), preprocess)
    model = build_model(spec, backbone, data.num_classes)
    plans = plan_schedule(model, backbone, spec.schedule)
    for stage in spec.schedule.stages:
        build_optimizer(stage)  # a bad optimizer fails now, not after the first stage trained
    # Known before any training: the most parameters any stage trains.
    trainable_params = max(plan.trainable_params for plan in plans)
    total_params = count_params(model.weights)

    callbacks: list[keras.callbacks.Callback] = []
    pruning_callback = None
    if spec.trial.number is not None and spec.trial.study_name and spec.trial.storage:
        from freezesweep import pruning

        optuna_trial = pruning.attach_trial(
            spec.trial.study_name, spec.trial.storage, spec.trial.number
        )
        pruning.record_trainable_params(optuna_trial, trainable_params)
        pruning_callback = pruning.PruningCallback(optuna_trial)

    in_sweep = spec.trial.number is not None and spec.trial.study_name is not None
    run_name = f"trial-{spec.trial.number:04d}" if in_sweep else "trial"
    run_context: Any = (
        tracking.trial_run(
            spec.tracking,
            run_name=run_name,
            experiment=spec.trial.study_name or spec.tracking.experiment,
            study_name=spec.trial.study_name if in_sweep else None,
            tags={tracking.TRIAL_TAG: str(spec.trial.number)} if in_sweep else None,
        )
        if spec.tracking.enabled
        else nullcontext(None)
    )
    with run_context as run:
        if run is not None:
            run.log_params({**tracking.flatten(spec.resolved), **stage_params(plans)})
            # Where and how this trial computed, next to what it found.
            compute = runtime.describe(spec.trainer.mixed_precision, spec.trainer.jit_compile)
            run.set_tags({f"freezesweep.{key}": value for key, value in compute.items()})
            run.log_text(tracking.redact(OmegaConf.to_yaml(cfg, resolve=True)), "config.yaml")
            run.log_text(model_summary(model), "model_summary.txt")
            callbacks.append(EpochLogger(run))
        if pruning_callback is not None:
            callbacks.append(pruning_callback)

        result_stages: list[StageResult] = []

        def on_stage_end(stage: StageResult, _audit: Any) -> None:
            if run is not None:
                step = len(result_stages)
                run.log_metrics(
                    {
                        "stage_val_accuracy": stage.val_accuracy,
                        "trainable_params": stage.trainable_params,
                    },
                    step=step,
                )
            result_stages.append(stage)

        result = run_schedule(
            model,
            backbone,
            plans,
            data,
            bn=spec.schedule.bn,
            batch_size=spec.trainer.batch_size,
            verbose=spec.trainer.verbose,
            jit_compile=spec.trainer.jit_compile,
            callbacks=callbacks,
            on_stage_end=on_stage_end,
            should_stop=(lambda: pruning_callback.pruned) if pruning_callback else None,
        )
        audits_dir = _output_dir() or Path(tempfile.mkdtemp(prefix="freezesweep-"))
        audits_dir.mkdir(parents=True, exist_ok=True)
        audit_path = audits_dir / "freeze_audit.json"
        write_audit(result.audits, audit_path)
        summary = _summary(spec, result, trainable_params, total_params)
        if run is not None:
            run.log_file(audit_path)
            run.log_metrics(
                {
                    "val_accuracy": result.val_accuracy,
                    "trainable_params": trainable_params,
                    "non_trainable_params": total_params - trainable_params,
                    "trainable_fraction": trainable_params / total_params,
                    "train_seconds": result.seconds,
                },
                step=sum(stage.epochs for stage in result.stages),
            )
            run.log_text(summary, "summary.txt")
            run.log_text(json.dumps([asdict(s) for s in result.stages], indent=2), "stages.json")
        print(summary, flush=True)
        if pruning_callback is not None and pruning_callback.pruned:
            import optuna

            raise optuna.TrialPruned(f"pruned at epoch {pruning_callback.pruned_at_epoch}")
        # Inside the run's context, so a NaN trial's run ends FAILED, as Optuna will record it.
        if not math.isfinite(result.val_accuracy):
            raise FloatingPointError(f"val_accuracy is {result.val_accuracy}")

    values = {"val_accuracy": result.val_accuracy, "trainable_params": float(trainable_params)}
    chosen = tuple(values[name] for name in spec.objectives)
    return chosen[0] if len(chosen) == 1 else chosen


def _summary(
    spec: TrialSpec, result: ScheduleResult, trainable_params: int, total_params: int
) -> str:
    header = (
        f"schedule={spec.schedule.name} unit={spec.schedule.unit} bn={spec.schedule.bn} "
        f"top_k={spec.top_k} lr={spec.finetune_lr:g} seed={spec.seed}"
    )
    footer = (
        f"val_accuracy={result.val_accuracy:.4f} trainable_params={trainable_params:,} "
        f"({trainable_params / total_params:.1%} of {total_params:,}) "
        f"train_seconds={result.seconds:.1f}"
    )
    return "\n".join([header, stage_table(result.stages, total_params), footer])
