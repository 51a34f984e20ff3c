"""The tags freezesweep puts on MLflow runs and experiments (filter on them in the UI)."""

from __future__ import annotations

# A trial run's final Optuna state: COMPLETE, PRUNED or FAIL.
STATE_TAG = "freezesweep.state"
# The study a run belongs to (trial runs and the study's parent run).
STUDY_TAG = "freezesweep.study"
# "study" on a study's parent run.
ROLE_TAG = "freezesweep.role"
# A trial run's Optuna trial number.
TRIAL_TAG = "freezesweep.trial"
# "true" on trial runs on the study's accuracy/trainable-params Pareto front.
PARETO_TAG = "freezesweep.pareto"
# On a study's parent run: the best trial's number, its run id and its run page's address.
BEST_TRIAL_TAG = "freezesweep.best_trial"
BEST_RUN_TAG = "freezesweep.best_run_id"
BEST_URL_TAG = "freezesweep.best_run_url"
# On a trial run whose model is logged: the MLflow logged model's id (`models:/<id>`).
MODEL_TAG = "freezesweep.model_id"
# On a trial run: SHA-256 of the backbone's pretrained weights (paths and values), as built.
BACKBONE_TAG = "freezesweep.backbone_digest"

# MLflow 3's UI picks an experiment's landing page from this tag: without it a new experiment
# opens on the GenAI overview (traces, token usage) instead of its runs.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
