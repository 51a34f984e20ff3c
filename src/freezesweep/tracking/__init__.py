"""MLflow, and the only package that imports it: the store, a trial's run, a study's runs.

- `_store`: a client on the configured URI, experiments, the tracking server's health check;
- `_trial_run`: one trial's run, ended exactly once (FINISHED, FAILED or KILLED);
- `_study_runs`: the study's parent run, its report, and the runs of dead workers' trials;
- `_study_progress`: the parent run's study-level metrics per finished trial, its description;
- `_study_summary`: the parent run as the study's summary (best trial, search space) and the
  addresses of the study's pages in the MLflow UI (`StudyPages.comparison`: the one to print);
- `_spool`, `_replay`: a run's records kept on disk while the server is down, and sent later;
- `_spool_check`: a spool entry read as untrusted input (its records, paths and owner tag);
- `_params`: the resolved config flattened into params, secrets masked;
- `_models`, `_datasets`: trial models as MLflow models and the study's registered model with its
  aliases; a trial's data as a dataset input.
"""

from freezesweep.redaction import redact
from freezesweep.tracking._models import (
    MODEL_NAME,
    log_keras_model,
    logged_model_id,
    register_aliases,
)
from freezesweep.tracking._params import flatten, stage_params
from freezesweep.tracking._replay import Replayed, replay_spool
from freezesweep.tracking._spool import (
    SPOOL_FOLDER,
    is_connection_error,
    spool_study_end,
    spool_study_metrics,
)
from freezesweep.tracking._spool_check import SPOOL_TAG
from freezesweep.tracking._store import (
    check_reachable,
    check_store,
    client_for,
    experiment_id,
)
from freezesweep.tracking._study_progress import (
    claim_study_run,
    log_study_progress,
    open_study_run,
)
from freezesweep.tracking._study_runs import (
    attach_study_files,
    end_orphan_runs,
    end_study_run,
    publish_study_report,
    study_parent_run,
    study_run_id,
    trial_run_ids,
    trial_run_statuses,
)
from freezesweep.tracking._study_summary import (
    COMPARISON_FILE,
    StudyPages,
    run_address,
    study_pages,
    summarize_study_run,
    ui_base,
)
from freezesweep.tracking._tags import (
    BACKBONE_TAG,
    BEST_RUN_TAG,
    BEST_TRIAL_TAG,
    BEST_URL_TAG,
    MODEL_TAG,
    PARETO_TAG,
    ROLE_TAG,
    STATE_TAG,
    STUDY_TAG,
    TRIAL_TAG,
)
from freezesweep.tracking._trial_run import TrialRun, trial_run

__all__ = [
    "BACKBONE_TAG",
    "BEST_RUN_TAG",
    "BEST_TRIAL_TAG",
    "BEST_URL_TAG",
    "COMPARISON_FILE",
    "MODEL_NAME",
    "MODEL_TAG",
    "PARETO_TAG",
    "ROLE_TAG",
    "SPOOL_FOLDER",
    "SPOOL_TAG",
    "STATE_TAG",
    "STUDY_TAG",
    "TRIAL_TAG",
    "Replayed",
    "StudyPages",
    "TrialRun",
    "attach_study_files",
    "check_reachable",
    "check_store",
    "claim_study_run",
    "client_for",
    "end_orphan_runs",
    "end_study_run",
    "experiment_id",
    "flatten",
    "is_connection_error",
    "log_keras_model",
    "log_study_progress",
    "logged_model_id",
    "open_study_run",
    "publish_study_report",
    "redact",
    "register_aliases",
    "replay_spool",
    "run_address",
    "spool_study_end",
    "spool_study_metrics",
    "stage_params",
    "study_pages",
    "study_parent_run",
    "study_run_id",
    "summarize_study_run",
    "trial_run",
    "trial_run_ids",
    "trial_run_statuses",
    "ui_base",
]
