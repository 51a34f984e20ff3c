#!/usr/bin/env bash
# A SLURM array of freezesweep workers on one study: every task runs `python sweep.py -m`, asks
# the shared storage for the next trial, trains it on its GPU, and stops when the study has its
# n_trials. Submit from the repository root:
#
#   sbatch deploy/slurm_array.sh                     # 8 workers, study "nightly"
#   sbatch --array=0-3 deploy/slurm_array.sh sweep=pareto hydra.sweeper.study_name=pareto
#   sbatch --array=0-3 --gpus-per-task=0 --cpus-per-task=4 --mem=8G deploy/slurm_array.sh  # CPU
#
# sbatch options on the command line override the #SBATCH lines below. The jobs inherit the
# submitting shell's environment: activate the project's virtualenv first. logs/ is part of the
# checkout because SLURM opens --output before this script runs.
# Extra arguments are Hydra overrides for every worker. Credentials come from the environment
# file below (chmod 600), never from the command line (visible in `ps` and in SLURM's records).
#
#SBATCH --job-name=freezesweep
#SBATCH --array=0-7
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
# Preemption or the time limit: SIGTERM to this script 120 s before the end (B: the batch
# shell), which forwards it to the worker; the worker fails and re-queues its current trial
# and exits 75, and this script puts the task back in the queue.
#SBATCH --signal=B:TERM@120
#SBATCH --requeue

set -euo pipefail
mkdir -p logs  # logs/ is in the checkout; SLURM opened --output there already

# FREEZESWEEP_STORAGE=postgresql+psycopg://USER:PASSWORD@DBHOST:5432/optuna
# MLFLOW_TRACKING_URI=http://MLFLOW_HOST:5000
# shellcheck disable=SC1091
source "${FREEZESWEEP_ENV_FILE:-$HOME/.freezesweep.env}"
export FREEZESWEEP_STORAGE MLFLOW_TRACKING_URI

# Resolved inside the worker: saved configs keep the ${oc.env:...} reference, not the URL.
# The sweeper seeds each array task differently (SLURM_ARRAY_TASK_ID), so no two tasks replay
# the same suggestions.
python sweep.py -m \
  'hydra.sweeper.storage=${oc.env:FREEZESWEEP_STORAGE}' \
  hydra.sweeper.study_name=nightly \
  hydra.sweeper.n_trials=64 \
  hydra.sweeper.seed=0 \
  tracking.artifact_root=null \
  "$@" &
worker=$!

# Forward the scheduler's SIGTERM to the worker, then wait for it to end its trial cleanly.
trap 'kill -TERM "$worker" 2>/dev/null' TERM
set +e
wait "$worker"
status=$?
if [ "$status" -gt 128 ]; then
  wait "$worker"  # `wait` returned because of the trap; collect the worker's own exit code
  status=$?
fi
set -e

# 75: interrupted with trials left to run; go back to the queue (same array task, same study).
if [ "$status" -eq 75 ]; then
  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
exit "$status"
