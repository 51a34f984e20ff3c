#!/usr/bin/env bash
# A throw-away single-node SLURM cluster for the `slurm` test tier, run as root:
#
#   .ci/slurm_cluster.sh start DIR   # its own munged, slurmctld and slurmd; config, state,
#                                    # spool, logs and sockets all under DIR
#   export SLURM_CONF=DIR/slurm.conf # sbatch, squeue, scontrol... then talk to it
#   .ci/slurm_cluster.sh stop DIR    # stops the three daemons (by their pid files)
#
# Nothing outside DIR is written or read (Debian's /etc/slurm and /etc/munge stay untouched), and
# the ports are free ones picked at start, so it cannot collide with a cluster already running.
# Installs slurmctld, slurmd, slurm-client and munge from Debian's packages when they are absent.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$(realpath -m "$2")

stop() {
  # slurmd first (it reports to slurmctld), munged last (both daemons authenticate through it).
  local name pid
  for name in slurmd slurmctld munged; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/$name.pid"
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
      || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge
  fi
  mkdir -p "$dir/state" "$dir/spool"
  chmod 700 "$dir"

  # munged refuses a key or socket folder that others can write to: both live in DIR (0700).
  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge.key"
  munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"

  local host cpus memory
  host=$(hostname -s)
  cpus=$(nproc)
  # Memory is a consumable (CR_Core_Memory): --mem is checked against this, not the machine's.
  memory=4000
  cat >"$dir/slurm.conf" <<EOF
ClusterName=freezesweepci
SlurmctldHost=$host
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to scontrol for 5 minutes (the tests read Restarts); a fast
# scheduling loop.
MinJobAge=300
SchedulerParameters=sched_interval=2
KillWait=10
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -i
  slurmd
  # The node is idle once slurmd has registered with slurmctld.
  for _ in $(seq 60); do
    if [ "$(sinfo -h -N -o %t 2>/dev/null)" = "idle" ]; then
      echo "SLURM up: SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.5
  done
  echo "SLURM did not come up; logs in $dir" >&2
  sinfo >&2 || true
  stop
  return 1
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
