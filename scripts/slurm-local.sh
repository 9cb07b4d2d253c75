#!/bin/bash
# A single-node Slurm on this machine, for the Slurm e2e test (test/pipeline/slurm.e2e.test.ts)
# and for trying `am-distill jobs --scheduler slurm` (docs/cluster.md). Needs root and Debian's
# packages: apt-get install slurmctld slurmd slurm-client munge
#
#   scripts/slurm-local.sh start DIR   # munged, slurmctld and slurmd with DIR/slurm.conf; prints the
#                                      # export line for SLURM_CONF
#   scripts/slurm-local.sh stop DIR    # stops what start started (pids in DIR)
#
# No systemd and no cgroups: proctrack/linuxproc, task/none; the node is this host as `slurmd -C`
# describes it (CPUs, memory); one partition 'local'. A job whose dependency failed is cancelled
# (kill_invalid_depend), so a failed chain ends instead of pending forever.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf="$dir/slurm.conf"

# Whether a process runs (a zombie, exited but not yet reaped, does not).
running() {
  [[ -r "/proc/$1/stat" ]] && [[ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]]
}

stop() {
  for p in slurmd slurmctld munged; do
    if [[ -f "$dir/$p.pid" ]]; then
      pid=$(cat "$dir/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do running "$pid" || break; sleep 0.2; done
      rm -f "$dir/$p.pid"
    fi
  done
}

if [[ "$cmd" == stop ]]; then
  stop
  exit 0
fi
[[ "$cmd" == start ]] || { echo "unknown command '$cmd' (start or stop)" >&2; exit 2; }
for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" >/dev/null || { echo "$b not found: apt-get install slurmctld slurmd slurm-client munge" >&2; exit 3; }
done

# munge: a key of its own and a socket in DIR, so a system munged (if any) is left alone.
mkdir -p "$dir/munge"
chmod 700 "$dir/munge"
if [[ ! -f "$dir/munge/munge.key" ]]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
fi
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"

node=$(slurmd -C | head -1)
host=$(hostname -s)
mkdir -p "$dir/state" "$dir/spool"
cat > "$conf" <<EOF
ClusterName=amdlocal
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
DependencyParameters=kill_invalid_depend
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
$node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$conf"
slurmctld -c -f "$conf"
slurmd -f "$conf"
for _ in $(seq 1 60); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 1
done
echo "the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
stop
exit 1
