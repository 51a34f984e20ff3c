#!/usr/bin/env bash
# Continue the same study every night: each night raises the study's total by PER_NIGHT
# trials (hydra.sweeper.n_trials is the study total, not "this many more"), so a night that
# was skipped is caught up by the next one, and a night whose trials are done runs nothing.
#
# crontab -e, then:
#   30 1 * * *  cd /path/to/freezesweep && deploy/cron_nightly.sh >> logs/cron.log 2>&1
#
# On a SLURM cluster, let cron submit it instead:
#   30 1 * * *  cd /path/to/freezesweep && sbatch --array=0-3 deploy/slurm_array.sh \
#                 hydra.sweeper.n_trials=$(deploy/cron_nightly.sh --total)
set -euo pipefail

FIRST_NIGHT=${FIRST_NIGHT:-2026-11-23}  # the study's first night
PER_NIGHT=${PER_NIGHT:-16}
nights=$(( ($(date -u +%s) - $(date -u -d "$FIRST_NIGHT" +%s)) / 86400 + 1 ))
total=$(( nights * PER_NIGHT ))
if [ "${1:-}" = "--total" ]; then
  echo "$total"
  exit 0
fi

# shellcheck disable=SC1091
source "${FREEZESWEEP_ENV_FILE:-$HOME/.freezesweep.env}"
export FREEZESWEEP_STORAGE MLFLOW_TRACKING_URI
mkdir -p logs
echo "$(date -u +%FT%TZ) night ${nights}: study total ${total}"
exec python sweep.py -m \
  'hydra.sweeper.storage=${oc.env:FREEZESWEEP_STORAGE}' \
  hydra.sweeper.study_name=nightly \
  "hydra.sweeper.n_trials=${total}" \
  hydra.sweeper.seed=0 \
  "$@"
