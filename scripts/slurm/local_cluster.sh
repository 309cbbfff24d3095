#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for CI and for trying the sbatch scripts:
#   scripts/slurm/local_cluster.sh start STATE_DIR   munged, slurmctld and slurmd, all state in STATE_DIR
#   scripts/slurm/local_cluster.sh stop STATE_DIR    stops the three daemons it started
# After start, `export SLURM_CONF=STATE_DIR/slurm.conf` points sbatch, squeue and srun at it.
# Nothing outside STATE_DIR is written: the munge key, the sockets, the logs and the spool live
# there, and the daemons listen on the loopback address only (one node: this host).
set -euo pipefail
cmd=${1:?usage: local_cluster.sh start|stop STATE_DIR}
state=$(realpath -m "${2:?usage: local_cluster.sh start|stop STATE_DIR}")

stop_pid() { # NAME PIDFILE: TERM, then wait up to 10 s for it to go
  local name=$1 file=$2 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { echo "local_cluster: $name ($pid) did not stop; killing" >&2; kill -9 "$pid"; }
  fi
  rm -f "$file"
}

if [ "$cmd" = stop ]; then
  stop_pid slurmd "$state/slurmd.pid"
  stop_pid slurmctld "$state/slurmctld.pid"
  stop_pid munged "$state/munged.pid"
  exit 0
fi
[ "$cmd" = start ] || { echo "local_cluster: unknown command '$cmd'" >&2; exit 2; }

for p in munged slurmctld slurmd sbatch; do
  command -v "$p" >/dev/null || { echo "local_cluster: $p not found (apt-get install munge slurmctld slurmd slurm-client)" >&2; exit 1; }
done
mkdir -p "$state"/{munge,spool/ctld,spool/d,log}
chmod 700 "$state/munge"
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)

# munge: a fresh key for this cluster
dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$state/munge/munge.key"
munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
  --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/seed"

cat >"$state/slurm.conf" <<CONF
ClusterName=evae-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF="$state/slurm.conf"
slurmctld
slurmd
for _ in $(seq 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "local_cluster: up ($host, $cpus CPUs); export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.5
done
echo "local_cluster: the node did not become idle within 30 s; logs in $state/log" >&2
sinfo >&2 || true
exit 1
