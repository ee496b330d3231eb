#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, to run the workflow's SLURM profile without a cluster.
#
#   tests/integration/slurm/cluster.sh up       install (if missing), configure, start, wait for an idle node
#   tests/integration/slurm/cluster.sh status   exit 0 if this script's cluster answers with an idle node
#   tests/integration/slurm/cluster.sh down     stop the daemons that `up` started (packages and config stay)
#
# The cluster `mbpo-local` has one node (this host, its CPUs and memory) in one partition `debug`, with
# accounting (slurmdbd on a local MariaDB) because Snakemake's SLURM executor polls job states with `sacct`,
# and an account `mbpo` holding the submitting user (`--user NAME`; default: $SUDO_USER, else the caller).
# Needs root (or passwordless sudo) and apt-get (Debian/Ubuntu); `up` is idempotent: a second call only
# starts what is not running. Daemons run without systemd when systemd is not PID 1 (containers).
#
# Exit status: 0 done; 3 this machine cannot host the cluster (not root, no apt-get, another SLURM config),
# with the reason on stderr, so callers can skip rather than fail; anything else is a real failure.
set -euo pipefail

CLUSTER=mbpo-local
PARTITION=debug
ACCOUNT=mbpo
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
ETC=/etc/slurm
MARKER="# Written by mbpo-bench tests/integration/slurm/cluster.sh; \`cluster.sh up\` rewrites this file."
STATE=/run/mbpo-slurm   # which daemons this script started, so `down` stops only those
LOG=/var/log/slurm
CONFIG_CHANGED=0

say() { echo "[slurm-cluster] $*" >&2; }
cannot() { say "cannot host the cluster here: $*"; exit 3; }
die() { say "error: $*"; exit 1; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

require_root() {
    if [[ $EUID -ne 0 ]] && ! sudo -n true 2>/dev/null; then
        cannot "needs root or passwordless sudo (to install packages and start daemons)"
    fi
}

systemd_is_init() { [[ "$(cat /proc/1/comm 2>/dev/null)" == systemd ]]; }

install_packages() {
    local missing=()
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return
    command -v apt-get >/dev/null || cannot "packages missing (${missing[*]}) and no apt-get to install them"
    say "installing ${missing[*]}"
    # Package scripts may try to start services; where policy-rc.d forbids that (containers) we start them below.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >/tmp/mbpo-slurm-apt.log 2>&1 || {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>/tmp/mbpo-slurm-apt.log 2>&1 &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
                >>/tmp/mbpo-slurm-apt.log 2>&1
    } || cannot "apt-get install ${missing[*]} failed (log: /tmp/mbpo-slurm-apt.log)"
}

# The node as SLURM should see it: every CPU we may use, and the memory the kernel reports (in MB), less a
# margin so slurmd never finds less memory than configured (that would drain the node).
node_cpus() { nproc; }
node_memory_mb() { awk '/^MemTotal:/ { printf "%d\n", $2 / 1024 * 0.95 }' /proc/meminfo; }

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(node_cpus)
    mem=$(node_memory_mb)
    if [[ -e $ETC/slurm.conf ]] && ! grep -qF "$MARKER" "$ETC/slurm.conf"; then
        cannot "$ETC/slurm.conf exists and was not written by this script (a real SLURM node?); not touching it"
    fi
    as_root mkdir -p "$ETC" "$LOG" /var/lib/slurm/slurmctld /var/spool/slurmd "$STATE"
    as_root chown slurm:slurm "$LOG" /var/lib/slurm/slurmctld
    as_root tee "$ETC/slurm.conf.new" >/dev/null <<EOF
$MARKER
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
# No cgroups: containers rarely delegate them. Processes are tracked by parent pid; CPUs are not pinned.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Cores and memory are consumable: a job gets the CPUs and the --mem it asks for, and waits otherwise.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
# Accounting is what \`sacct\` reads, and how Snakemake's executor sees jobs finish. Jobs must name an
# account the submitting user belongs to (associations), as on real clusters.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations,limits
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
JobCompType=jobcomp/none
# Store each job's --comment (Snakemake puts the rule and wildcards there), so \`sacct -o Comment\` shows it.
AccountingStoreFlags=job_comment
# Keep finished jobs visible to squeue/scontrol for 5 minutes (sacct keeps them for good).
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if as_root cmp -s "$ETC/slurm.conf.new" "$ETC/slurm.conf"; then
        as_root rm "$ETC/slurm.conf.new"
    else
        as_root mv "$ETC/slurm.conf.new" "$ETC/slurm.conf"
        CONFIG_CHANGED=1
    fi
    as_root tee "$ETC/slurmdbd.conf" >/dev/null <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
# MariaDB authenticates the slurm OS user through its unix socket: no password to keep.
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
EOF
    as_root chown slurm:slurm "$ETC/slurmdbd.conf"
    as_root chmod 600 "$ETC/slurmdbd.conf"
    say "configured node $host: $cpus CPUs, $mem MB"
}

# Start one daemon unless it already runs. $1: name (as in `pgrep -x`), $2: systemd unit, rest: the command.
start() {
    local name=$1 unit=$2
    shift 2
    if pgrep -x "$name" >/dev/null; then return; fi
    say "starting $name"
    if systemd_is_init; then
        as_root systemctl start "$unit"
    else
        as_root "$@"
    fi
    as_root sh -c "echo $name >> $STATE/started"
    wait_for "$name to run" 30 pgrep -x "$name"
}

# Retry a command until it succeeds. $1: what we wait for, $2: seconds, rest: the command.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq "$seconds"); do
        "$@" >/dev/null 2>&1 && return
        sleep 1
    done
    die "timed out after ${seconds}s waiting for $what (logs: $LOG/, /tmp/mbpo-slurm-*.log)"
}

start_munge() {
    [[ -s /etc/munge/munge.key ]] || as_root mungekey --create --keyfile /etc/munge/munge.key
    as_root chown munge:munge /etc/munge/munge.key
    as_root chmod 400 /etc/munge/munge.key
    as_root install -d -o munge -g munge -m 755 /run/munge
    start munged munge runuser -u munge -- /usr/sbin/munged
    wait_for "munge to sign credentials" 10 sh -c "munge -n | unmunge"
}

start_database() {
    as_root install -d -o mysql -g mysql -m 755 /run/mysqld
    start mariadbd mariadb sh -c "nohup /usr/sbin/mariadbd --user=mysql >/tmp/mbpo-slurm-mariadb.log 2>&1 &"
    wait_for "MariaDB to accept connections" 30 as_root mariadb -e "SELECT 1"
    as_root mariadb <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

# Idempotent registration of the cluster, the account and the user (sacctmgr -i: no questions asked).
register_accounting() {
    local user=$1
    wait_for "slurmdbd to answer" 30 sacctmgr -n list cluster
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || as_root sacctmgr -i add cluster "$CLUSTER" >/dev/null
    sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT" ||
        as_root sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" \
            description="mbpo-bench integration tests" organization=mbpo-bench >/dev/null
    sacctmgr -n -P list user "$user" format=user | grep -qx "$user" ||
        as_root sacctmgr -i add user "$user" account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
    sacctmgr -n -P list association user="$user" account="$ACCOUNT" format=account | grep -qx "$ACCOUNT" ||
        as_root sacctmgr -i add user "$user" account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
}

node_state() { sinfo -h -N -p "$PARTITION" -o %t 2>/dev/null | head -1; }

wait_for_idle_node() {
    local state
    for _ in $(seq 60); do
        state=$(node_state)
        case $state in
            idle | mix | alloc) say "node $(hostname -s) is $state"; return ;;
            down* | drain* | drng*) as_root scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    die "the node did not become idle (state: ${state:-none}); see $LOG/slurmd.log and $LOG/slurmctld.log"
}

ours_answers() {
    [[ "$(scontrol show config 2>/dev/null | awk '$1 == "ClusterName" { print $3 }')" == "$CLUSTER" ]] &&
        [[ "$(node_state)" =~ ^(idle|mix|alloc)$ ]]
}

up() {
    local user=${SUDO_USER:-$(id -un)}
    if [[ ${1:-} == --user ]]; then user=${2:?"--user needs a name"}; fi
    command -v dpkg-query >/dev/null || cannot "not a Debian/Ubuntu system (no dpkg)"
    require_root
    install_packages
    write_config
    start_munge
    start_database
    start slurmdbd slurmdbd /usr/sbin/slurmdbd
    register_accounting "$user"
    if [[ $CONFIG_CHANGED == 1 ]] && pgrep -x slurmctld >/dev/null; then
        say "slurm.conf changed: telling the running daemons to reread it"
        as_root scontrol reconfigure
    fi
    start slurmctld slurmctld /usr/sbin/slurmctld
    start slurmd slurmd /usr/sbin/slurmd
    wait_for_idle_node
    say "cluster $CLUSTER is up: partition $PARTITION, account $ACCOUNT (user $user)"
}

# Where each daemon writes its pid (the paths in the configs above and the packages' defaults).
pidfile_of() {
    case $1 in
        munged) echo /run/munge/munged.pid ;;
        mariadbd) echo /run/mysqld/mysqld.pid ;;
        *) echo "/run/$1.pid" ;;
    esac
}

unit_of() {
    case $1 in munged) echo munge ;; mariadbd) echo mariadb ;; *) echo "$1" ;; esac
}

down() {
    require_root
    [[ -f $STATE/started ]] || { say "no daemon started by this script is recorded; nothing to stop"; return; }
    # Reverse start order: compute daemons first, the database and munge last.
    local name pid
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        grep -qx "$name" "$STATE/started" || continue
        say "stopping $name"
        if systemd_is_init; then
            as_root systemctl stop "$(unit_of "$name")"
            continue
        fi
        pid=$(cat "$(pidfile_of "$name")" 2>/dev/null || true)
        if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
            say "$name: no live pid in $(pidfile_of "$name"); already stopped?"
            continue
        fi
        as_root kill "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) did not stop within 30 s"
    done
    as_root rm -f "$STATE/started"
}

case ${1:-} in
    up) shift; up "$@" ;;
    down) down ;;
    status) ours_answers ;;
    *) echo "usage: $0 up [--user NAME] | status | down" >&2; exit 2 ;;
esac
