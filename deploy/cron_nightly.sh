#!/usr/bin/env bash
# Continue the same study every night: each night raises the study's total by PER_NIGHT
# trials (hydra.sweeper.n_trials is the study total, not "this many more"), so a night that
# was skipped is caught up by the next one, and a night whose trials are done runs nothing.
# Nights count from the study's own first night (the date of its first trial, recorded in the
# study by deploy/nightly_total.py), so a new study starts at PER_NIGHT whatever today's date.
#
# crontab -e, then (logs/ is part of the checkout; mkdir -p keeps the line safe without it):
#   30 1 * * *  cd /path/to/freezesweep && mkdir -p logs && deploy/cron_nightly.sh >> logs/cron.log 2>&1
#
# On a SLURM cluster, let cron submit it instead:
#   30 1 * * *  cd /path/to/freezesweep && mkdir -p logs && sbatch --array=0-3 \
#                 deploy/slurm_array.sh hydra.sweeper.n_trials=$(deploy/cron_nightly.sh --total)
#
# The environment file (FREEZESWEEP_ENV_FILE, default ~/.freezesweep.env) gives the storage and
# the tracking URI; cron's PATH must find the project's python (activate the virtualenv in that
# file, or put its bin/ first on PATH in the crontab).
set -euo pipefail

PER_NIGHT=${PER_NIGHT:-16}
STUDY_NAME=${STUDY_NAME:-nightly}

# shellcheck disable=SC1091
source "${FREEZESWEEP_ENV_FILE:-$HOME/.freezesweep.env}"
export FREEZESWEEP_STORAGE MLFLOW_TRACKING_URI

tonight=$(python "$(dirname "$0")/nightly_total.py" "$FREEZESWEEP_STORAGE" "$STUDY_NAME" "$PER_NIGHT")
read -r night total first <<<"$tonight"
if [ "${1:-}" = "--total" ]; then
  echo "$total"
  exit 0
fi

mkdir -p logs
echo "$(date -u +%FT%TZ) night ${night} since ${first}: study total ${total}"
exec python sweep.py -m \
  'hydra.sweeper.storage=${oc.env:FREEZESWEEP_STORAGE}' \
  "hydra.sweeper.study_name=${STUDY_NAME}" \
  "hydra.sweeper.n_trials=${total}" \
  hydra.sweeper.seed=0 \
  "$@"
