#!/usr/bin/env bash
# A throwaway multi-node Slurm cluster on this machine, for trainctl's tests and for trying the
# slurm engine by hand. Every node is a host of its own: a network namespace with its own
# address, its own slurmd, and (with --hide) a mount namespace in which the given folders are
# covered by an empty tmpfs, so the nodes cannot see, say, trainctld's home. The controller
# (slurmctld) has a namespace of its own too; run trainctld and the Slurm clients there.
# Nothing touches the machine's own network namespace; no munge (AuthType=auth/none).
#
#   scripts/slurm-cluster.sh up BASE [--nodes N] [--cpus C] [--hide DIR]...
#                                  [--debug LEVEL] [--debug-flags FLAGS]
#   scripts/slurm-cluster.sh exec BASE CMD...     # CMD in the controller's network namespace,
#                                                 # with SLURM_CONF set
#   scripts/slurm-cluster.sh node BASE I CMD...   # CMD on node I (network and mount namespaces)
#   scripts/slurm-cluster.sh down BASE            # stops every daemon, removes the namespaces
#
# BASE is a folder of the caller's (made if needed) that holds slurm.conf, state, spool, logs and
# `cluster.env` (SLURM_CONF, the namespaces, the addresses). Addresses come from 192.0.2.0/24, the
# documentation range: node I is 192.0.2.I, the controller 192.0.2.254. Needs root, iproute2 and
# Debian's slurm-wlm (scripts/install-deps.sh installs them).
set -euo pipefail

readonly k_subnet=192.0.2
readonly k_controller_octet=254
readonly k_wait_seconds=30

die() {
  echo "slurm-cluster: $*" >&2
  return 1
}

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# A short, stable tag for BASE, so that several clusters (one per test) can coexist.
tag_of() { printf '%s' "$(realpath -m "$1")" | sha256sum | cut -c1-6; }

netns_of() { echo "tc$(tag_of "$1")-$2"; }

# Runs CMD in network namespace NS without remounting /sys (`ip netns exec` would, and slurmd
# then cannot find its cgroup file system).
in_netns() {
  local ns=$1
  shift
  nsenter --net="/run/netns/$ns" "$@"
}

write_config() {
  local base=$1 nodes=$2 cpus=$3 debug=$4 debug_flags=$5
  local names=()
  mkdir -p "$base"/{state,spool,log,tmp,run,node-tmp}
  printf '#!/bin/sh\necho "export TMPDIR=%s"\n' "$base/node-tmp" >"$base/task-prolog"
  chmod 755 "$base/task-prolog"
  echo "CgroupPlugin=autodetect" >"$base/cgroup.conf"
  {
    echo "ClusterName=trainctl-test"
    # slurmctld runs only where the host name matches; the address is the controller namespace's.
    echo "SlurmctldHost=$(hostname -s)($k_subnet.$k_controller_octet)"
    echo "MailProg=/bin/true"
    echo "AuthType=auth/none"
    echo "CredType=cred/none"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "SlurmctldPort=6817"
    echo "SlurmdPort=6818"
    echo "StateSaveLocation=$base/state"
    echo "SlurmdSpoolDir=$base/spool/%n"
    echo "SlurmctldPidFile=$base/run/slurmctld.pid"
    echo "SlurmdPidFile=$base/run/slurmd-%n.pid"
    echo "SlurmctldLogFile=$base/log/slurmctld.log"
    echo "SlurmdLogFile=$base/log/slurmd-%n.log"
    # How much the daemons log (Slurm's levels: info, verbose, debug, debug2, ...) and which of
    # their subsystems log more (DebugFlags, e.g. SelectType,Steps,Agent).
    echo "SlurmctldDebug=$debug"
    echo "SlurmdDebug=$debug"
    [[ -z $debug_flags ]] || echo "DebugFlags=$debug_flags"
    echo "TmpFS=$base/tmp/%n"
    # Every node has a temporary folder of its own at one path, as machines of a real cluster
    # have their own /tmp: a job's TMPDIR (a tmpfs mounted in the node's mount namespace).
    echo "TaskProlog=$base/task-prolog"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobCompType=jobcomp/none"
    echo "MpiDefault=none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "ReturnToService=2"
    echo "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0"
    echo "SlurmctldTimeout=10"
    echo "SlurmdTimeout=10"
    echo "MinJobAge=300"
    echo "KillWait=5"
    for ((i = 1; i <= nodes; i++)); do
      echo "NodeName=n$i NodeAddr=$k_subnet.$i CPUs=$cpus RealMemory=1000 State=UNKNOWN"
      names+=("n$i")
      mkdir -p "$base/spool/n$i" "$base/tmp/n$i"
    done
    local IFS=,
    echo "PartitionName=debug Nodes=${names[*]} Default=YES MaxTime=INFINITE State=UP"
  } >"$base/slurm.conf"
}

# The hub namespace holds a bridge; every other namespace gets a veth pair onto it.
make_network() {
  local base=$1 nodes=$2
  local hub
  hub=$(netns_of "$base" hub)
  ip netns add "$hub"
  ip -n "$hub" link add br0 type bridge
  ip -n "$hub" link set br0 up
  ip -n "$hub" link set lo up
  local i name octet
  for ((i = 0; i <= nodes; i++)); do
    if ((i == 0)); then name=ctl octet=$k_controller_octet; else name=n$i octet=$i; fi
    local ns
    ns=$(netns_of "$base" "$name")
    ip netns add "$ns"
    local port
    port="v$(tag_of "$base")$name"
    ip -n "$hub" link add "$port" type veth peer name eth0 netns "$ns"
    ip -n "$hub" link set "$port" master br0 up
    ip -n "$ns" addr add "$k_subnet.$octet/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

hide_options() {
  local base=$1
  cat "$base/hide" 2>/dev/null || true
}

# Starts CMD (the node's slurmd) as node I: its network namespace, a host name of its own (nI),
# and a private mount namespace with a temporary folder of its own (BASE/node-tmp) in which the
# hidden folders are empty tmpfs.
start_on_node() {
  local base=$1 index=$2
  shift 2
  local ns script
  ns=$(netns_of "$base" "n$index")
  script='set -e; hostname "$2"; mount -t tmpfs -o size=4g,mode=1777 tmpfs "$1"; while read -r dir; do [ -n "$dir" ] && mount -t tmpfs -o size=1m tmpfs "$dir"; done <"$0"; shift 3; exec "$@"'
  nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private \
    sh -c "$script" "$base/hide" "$base/node-tmp" "n$index" _ "$@"
}

# Runs CMD on node I, in the namespaces of its slurmd.
on_node() {
  local base=$1 index=$2
  shift 2
  local pid
  pid=$(cat "$base/run/slurmd-n$index.pid" 2>/dev/null) || die "node $index is not up"
  nsenter --target "$pid" --net --mount --uts "$@"
}

wait_for_nodes() {
  local base=$1 nodes=$2 deadline=$((SECONDS + k_wait_seconds))
  while ((SECONDS < deadline)); do
    local idle
    idle=$(in_netns "$(netns_of "$base" ctl)" env SLURM_CONF="$base/slurm.conf" \
      sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle$' || true)
    if ((idle == nodes)); then return 0; fi
    sleep 0.2
  done
  die "the nodes did not all come up in ${k_wait_seconds}s; see $base/log/"
}

up() {
  local base=$1
  shift
  local nodes=3 cpus=2 hide=() debug=info debug_flags=
  while (($#)); do
    case $1 in
      --nodes) nodes=$2; shift 2 ;;
      --cpus) cpus=$2; shift 2 ;;
      --hide) hide+=("$(realpath -m "$2")"); shift 2 ;;
      --debug) debug=$2; shift 2 ;;
      --debug-flags) debug_flags=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
  command -v slurmctld >/dev/null || die "slurmctld not found: run scripts/install-deps.sh"
  mkdir -p "$base"
  base=$(realpath "$base")
  [[ ! -e /run/netns/$(netns_of "$base" hub) ]] || die "a cluster is up at $base already"
  # A cluster that does not come up whole is taken down again: nothing is left half-running.
  trap 'down "$base"' ERR
  write_config "$base" "$nodes" "$cpus" "$debug" "$debug_flags"
  printf '%s\n' "${hide[@]}" >"$base/hide"
  make_network "$base" "$nodes"
  in_netns "$(netns_of "$base" ctl)" slurmctld -f "$base/slurm.conf" -i
  local i
  for ((i = 1; i <= nodes; i++)); do
    start_on_node "$base" "$i" slurmd -f "$base/slurm.conf" -N "n$i"
  done
  wait_for_nodes "$base" "$nodes"
  {
    echo "SLURM_CONF=$base/slurm.conf"
    echo "CONTROLLER_NETNS=$(netns_of "$base" ctl)"
    echo "CONTROLLER_ADDRESS=$k_subnet.$k_controller_octet"
    echo "NODES=$nodes"
    for ((i = 1; i <= nodes; i++)); do
      echo "NODE_${i}_NETNS=$(netns_of "$base" "n$i")"
      echo "NODE_${i}_ADDRESS=$k_subnet.$i"
    done
  } >"$base/cluster.env"
  trap - ERR
  echo "slurm-cluster: $nodes nodes up; SLURM_CONF=$base/slurm.conf"
}

# Ends the daemons started from BASE's configuration (by their pid files), then the namespaces.
down() {
  local base
  base=$(realpath -m "$1")
  local pid_file pid
  for pid_file in "$base"/run/*.pid; do
    [[ -e $pid_file ]] || continue
    pid=$(cat "$pid_file" 2>/dev/null || true)
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  done
  # Jobs' processes left on the nodes (slurmstepd and its children) go with their namespaces'
  # last process; give the daemons a moment, then make sure.
  sleep 0.5
  for pid_file in "$base"/run/*.pid; do
    [[ -e $pid_file ]] || continue
    pid=$(cat "$pid_file" 2>/dev/null || true)
    [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
    rm -f "$pid_file"
  done
  local ns attempt
  # Whatever still runs in a namespace of the cluster belongs to it (slurmstepd, job steps, a
  # service started there): it goes, then the namespace. A process that was exiting meanwhile
  # can keep a namespace busy for a moment: try again.
  for attempt in 1 2 3; do
    local left
    left=$(ip netns list | awk '{print $1}' | grep "^tc$(tag_of "$base")-" || true)
    [[ -n $left ]] || break
    for ns in $left; do
      local pids
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
      ip netns delete "$ns" 2>/dev/null || true
    done
    sleep 0.2
  done
}

main() {
  (($# >= 2)) || usage
  local command=$1 base=$2
  shift 2
  case $command in
    up) up "$base" "$@" ;;
    down) down "$base" ;;
    exec)
      base=$(realpath "$base")
      SLURM_CONF="$base/slurm.conf" exec nsenter --net="/run/netns/$(netns_of "$base" ctl)" "$@"
      ;;
    node)
      local index=$1
      shift
      on_node "$(realpath "$base")" "$index" "$@"
      ;;
    *) usage ;;
  esac
}

main "$@"
