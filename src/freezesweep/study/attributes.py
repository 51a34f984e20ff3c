"""The Optuna attributes freezesweep writes on studies and trials, and who writes and reads them.

The sweeper (`hydra/sweeper: freezesweep`) writes most of them; the job (`freezesweep.trial` with
`study.pruning` and `study.constraints`), the reports and the tests read them. As
`tracking/_tags.py` holds the MLflow tag names, this module holds these, so a name is written once.
System attrs are the machinery's (hidden from `trials_dataframe` by default); user attrs are what
a person reads in a trial table. Optuna only stores JSON-serialisable values.
"""

from __future__ import annotations

from freezesweep.objectives import METHOD, TRAINABLE_PARAMS

__all__ = [
    "CONSTRAINTS_ATTR",
    "DEFINITION_ATTR",
    "ENQUEUED_ATTR",
    "FAIL_REASON_ATTR",
    "HEARTBEAT_ATTR",
    "METHOD_ATTR",
    "MODEL_FILE_ATTR",
    "PRUNER_ATTR",
    "PRUNE_REASON_ATTR",
    "REGISTERED_HOST_ATTR",
    "REGISTERED_PID_ATTR",
    "REQUEUED_ATTR",
    "RETRY_OF_ATTR",
    "RUN_ID_ATTR",
    "RUN_URL_ATTR",
    "STAGE_EPOCHS_ATTR",
    "STAGE_SECONDS_ATTR",
    "SURPLUS_ATTR",
    "TRAINABLE_PARAMS_ATTR",
    "WARM_STARTED_ATTR",
    "WARM_START_ATTR",
    "WARM_START_FROM_ATTR",
    "WORKERS_SUFFIX",
    "WORKER_ATTR",
]

# --- Trial system attrs -------------------------------------------------------------------------

# The pruner spec (a `_target_` mapping, or None) the job must prune with; set by the sweeper
# when it asks the trial, read by `study.pruning.attach_trial` in the job.
PRUNER_ATTR = "freezesweep:pruner"
# The sweep's budgets, {metric: limit} (empty or absent: none); set by the sweeper, read by
# `study.constraints.enforce_budgets` in the job.
CONSTRAINTS_ATTR = "freezesweep:constraints"
# The worker (see `hydra.sweeper.worker`) that runs the trial; set by the sweeper when it asks.
WORKER_ATTR = "freezesweep:worker"
# Unix time of the last heartbeat of the worker running the trial; stamped by the sweeper's
# heartbeat thread, read by every worker's stale check.
HEARTBEAT_ATTR = "freezesweep:heartbeat"
# True on a FAIL trial whose parameters were enqueued again: its retry stands in for it, so it
# does not count toward `n_trials`.
REQUEUED_ATTR = "freezesweep:requeued"
# True on a trial asked past the study's total by a worker racing others, put back WAITING: it
# does not count toward `n_trials` until a later invocation runs it.
SURPLUS_ATTR = "freezesweep:surplus"

# On a trial copied in from an earlier study (`hydra.sweeper.warm_start`): that study's name.
# Such a trial is the sampler's history only: `study.own_trials` leaves it out of everything else.
WARM_START_ATTR = "freezesweep:warm_start"

# --- Trial user attrs ---------------------------------------------------------------------------

# Why a trial FAILed (the exception, a NaN, a stale worker), redacted; set by the sweeper.
FAIL_REASON_ATTR = "fail_reason"
# Why the job stopped a trial before training (`over budget`); set by the job.
PRUNE_REASON_ATTR = "prune_reason"
# On a re-queued trial: the number of the trial it retries (a retry is never retried).
RETRY_OF_ATTR = "retry_of"
# The trial's trainable-parameter count, known before training; set by the job.
TRAINABLE_PARAMS_ATTR = TRAINABLE_PARAMS
# The trial's MLflow run id (when the run was made live, not spooled); set by the job.
RUN_ID_ATTR = "mlflow_run_id"
# The address of that run's page in the MLflow UI (optuna-dashboard shows user attrs); set by the
# job with the run id.
RUN_URL_ATTR = "mlflow_run_url"
# The trial's fine-tuned model (`model.keras`, LoRA merged, absolute path) kept for MLflow:
# set by the job when `trainer.log_model` is not `none`, read by `study.promote` after the sweep.
MODEL_FILE_ATTR = "model_file"
# Per stage, in order: the epochs it ran and what training it cost in seconds (a stage restored
# from an earlier trial's prefix is charged that trial's seconds); set by the job after training,
# pruned trials included. A recorded grid (`freezesweep replay`) charges replayed trials these.
STAGE_EPOCHS_ATTR = "stage_epochs"
STAGE_SECONDS_ATTR = "stage_seconds"
# On a warm-start trial: where it came from, `<study>#<number>` (optuna-dashboard shows it).
WARM_START_FROM_ATTR = "warm_start_from"
# The trial's fine-tuning method (`finetune.method`) when it is not searched; set by the job.
METHOD_ATTR = METHOD
# On a ticket of the `<study_name>:workers` registry study: the host and process that took it
# (for diagnosis only; never part of a seed).
REGISTERED_HOST_ATTR = "host"
REGISTERED_PID_ATTR = "pid"

# --- Study names -------------------------------------------------------------------------------

# `<study_name>:workers` numbers the invocations of `<study_name>` (the sweeper's side study);
# `freezesweep dashboard` leaves such studies out of its list.
WORKERS_SUFFIX = ":workers"

# --- Study user attrs ---------------------------------------------------------------------------

# The sweep's definition (search space, directions, objectives, schedule) and its fingerprint,
# recorded by the invocation that created the study; a resumed sweep is checked against it.
DEFINITION_ATTR = "freezesweep:definition"
# The `hydra.sweeper.enqueue` sets already enqueued, as canonical JSON strings (enqueue once).
ENQUEUED_ATTR = "freezesweep:enqueued"
# The `hydra.sweeper.warm_start` studies whose trials were copied in, in order: a list of
# {study, storage (redacted), trials, skipped}; written by the invocation that created the study
# (an empty list without warm start), extended by later invocations that name another study.
WARM_STARTED_ATTR = "freezesweep:warm_started"
