#!/usr/bin/env bash
# The local test lab: N "hosts" on this machine, each a network namespace on a bridge with its own
# mount/UTS/IPC/PID/cgroup namespaces, an overlay root over / and a real sshd as its PID-ns init;
# plus a docker-registry on loopback that hosts reach as registry.lab:5000. See shared/testlab.md §7.
#
#   scripts/lab.sh up | down | status | exec HOST CMD... | stop HOST | start HOST | rate RATE|off
#
# Environment (defaults in brackets):
#   LAB_HOSTS [4]           number of hosts, named $LAB_PREFIX-h1..N
#   LAB_DIR [/tmp/sealos-lab]  state: keys, per-host upper dirs, registry storage (kept), pid files
#   LAB_PREFIX [lab]        names of hosts, netns, cgroups and the nft table
#   LAB_BRIDGE [labbr0]     bridge name (at most 10 characters: veth names derive from it)
#   LAB_NET [198.18.0.0/24] subnet inside 198.18.0.0/24; gateway = first address; hosts from .11 on a
#                           /24, else from the second address (a /28 holds 13 hosts)
#   LAB_TMPFS_SIZE []       e.g. 8g: per-host state on a tmpfs of that size (faster small-file writes)
#   LAB_REGISTRY [1]        0: no registry and no forwarder
#   LAB_REGISTRY_PORT [5000] loopback port of the registry (hosts always use registry.lab:5000)
#   LAB_RATE []             e.g. 400mbit: cap every host link both ways and the operator's egress
#   LAB_BASE [/]            lower dir of every host's overlay root
# Root: root/labpass, or the key $LAB_DIR/ssh/id_ed25519 (and id_rsa). Host keys: $LAB_DIR/ssh/known_hosts.
set -euo pipefail

LAB_HOSTS=${LAB_HOSTS:-4}
LAB_DIR=${LAB_DIR:-/tmp/sealos-lab}
LAB_PREFIX=${LAB_PREFIX:-lab}
LAB_BRIDGE=${LAB_BRIDGE:-labbr0}
LAB_NET=${LAB_NET:-198.18.0.0/24}
LAB_TMPFS_SIZE=${LAB_TMPFS_SIZE:-}
LAB_REGISTRY=${LAB_REGISTRY:-1}
LAB_REGISTRY_PORT=${LAB_REGISTRY_PORT:-5000}
LAB_RATE=${LAB_RATE:-}
LAB_BASE=${LAB_BASE:-/}
HOSTS_DIR=$LAB_DIR/hosts
NFT_TABLE=$(printf '%s_guard' "$LAB_PREFIX" | tr -c 'A-Za-z0-9_\n' '_')
# Per-host dirs bound from plain storage: containerd's overlay snapshots cannot live on the overlay root.
# /root too, so hosts start with a fresh home (skel files only) rather than this machine's.
DATA_DIRS=(/tmp /root /var/lib/containerd /var/lib/containers /var/lib/kubelet /var/lib/registry)

die() { echo "lab: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

# --- addresses ------------------------------------------------------------------------------------
[[ $LAB_NET =~ ^198\.18\.0\.([0-9]+)/([0-9]+)$ ]] || die "LAB_NET=$LAB_NET is not a subnet of 198.18.0.0/24"
NET_BASE=${BASH_REMATCH[1]}
NET_BITS=${BASH_REMATCH[2]}
((NET_BITS >= 24 && NET_BITS <= 29)) || die "LAB_NET prefix must be /24../29"
NET_SIZE=$((1 << (32 - NET_BITS)))
((NET_BASE % NET_SIZE == 0)) || die "LAB_NET=$LAB_NET: .$NET_BASE is not the network address"
GW=198.18.0.$((NET_BASE + 1))
if ((NET_BITS == 24)); then FIRST=$((NET_BASE + 11)); else FIRST=$((NET_BASE + 2)); fi
((FIRST + LAB_HOSTS - 1 <= NET_BASE + NET_SIZE - 2)) || die "LAB_NET=$LAB_NET has no room for $LAB_HOSTS hosts"
((${#LAB_BRIDGE} <= 10)) || die "LAB_BRIDGE=$LAB_BRIDGE: at most 10 characters"

host_name() { echo "$LAB_PREFIX-h$1"; }
host_ip() { echo "198.18.0.$((FIRST + $1 - 1))"; }
veth_name() { echo "$LAB_BRIDGE-h$1"; }
host_index() { # lab-h3 -> 3
  [[ $1 =~ ^$LAB_PREFIX-h([0-9]+)$ ]] || die "unknown host $1"
  echo "${BASH_REMATCH[1]}"
}

# --- helpers --------------------------------------------------------------------------------------
wait_ssh() { # wait_ssh IP: until sshd sends its banner (at most 10 s)
  local i
  for ((i = 0; i < 200; i++)); do
    if timeout 0.5 bash -c "exec 3<>/dev/tcp/$1/22 && head -c 7 <&3" 2>/dev/null | grep -q '^SSH-2.0'; then return 0; fi
    sleep 0.05
  done
  return 1
}

kill_wait() { # kill_wait PID...: SIGKILL, then wait until each is gone or a zombie (at most 3 s)
  local p i
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for ((i = 0; i < 60; i++)); do
      [[ -e /proc/$p ]] || break
      [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) == Z ]] && break
      sleep 0.05
    done
  done
}

# Lines "mountpoint|path-of-this-process|mount-options|type" for each cgroup hierarchy.
cgroup_hierarchies() {
  local id ctrl path mp fstype opts first
  while IFS=: read -r id ctrl path; do
    if [[ -z $ctrl ]]; then
      mp=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
      [[ -n $mp ]] && echo "$mp|$path|none|cgroup2"
      continue
    fi
    first=${ctrl%%,*}
    while read -r _ mp fstype opts _; do
      [[ $fstype == cgroup ]] || continue
      if [[ ,$opts, == *",$first,"* ]]; then
        echo "$mp|$path|${ctrl/name=/none,name=}|cgroup"
        break
      fi
    done </proc/self/mounts
  done </proc/self/cgroup
}

kill_cgroups() { # kill_cgroups FILE: SIGKILL every PID in the recorded cgroup dirs, then remove them
  local f=$1 dir pids
  [[ -f $f ]] || return 0
  while IFS='|' read -r dir _; do
    [[ -d $dir ]] || continue
    pids=$(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    # shellcheck disable=SC2086
    [[ -n $pids ]] && kill_wait $pids
  done <"$f"
  while IFS='|' read -r dir _; do
    [[ -d $dir ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done <"$f"
}

# --- rate caps ------------------------------------------------------------------------------------
tbf_args() { # tbf_args 400mbit -> "rate 400mbit burst B latency 20ms"
  [[ $1 =~ ^([0-9]+)(mbit|gbit)$ ]] || die "LAB_RATE=$1: use e.g. 400mbit or 1gbit"
  local mbit=${BASH_REMATCH[1]} burst
  [[ ${BASH_REMATCH[2]} == gbit ]] && mbit=$((mbit * 1000))
  burst=$((mbit * 1250)) # 10 ms worth of bytes
  ((burst < 131072)) && burst=131072
  echo "rate ${mbit}mbit burst $burst latency 20ms"
}

apply_rate() { # apply_rate RATE|off over the bridge (operator egress) and every host link, both ways
  local rate=$1 i n args=""
  [[ $rate != off && -n $rate ]] && args=$(tbf_args "$rate")
  ip link show "$LAB_BRIDGE" >/dev/null 2>&1 || die "no lab on bridge $LAB_BRIDGE"
  tc qdisc del dev "$LAB_BRIDGE" root 2>/dev/null || true
  # shellcheck disable=SC2086
  [[ -n $args ]] && tc qdisc add dev "$LAB_BRIDGE" root tbf $args
  for n in $(ip netns list | awk '{print $1}' | grep -E "^$LAB_PREFIX-h[0-9]+$" || true); do
    i=$(host_index "$n")
    tc qdisc del dev "$(veth_name "$i")" root 2>/dev/null || true
    ip netns exec "$n" tc qdisc del dev eth0 root 2>/dev/null || true
    if [[ -n $args ]]; then
      # shellcheck disable=SC2086
      tc qdisc add dev "$(veth_name "$i")" root tbf $args
      # shellcheck disable=SC2086
      ip netns exec "$n" tc qdisc add dev eth0 root tbf $args
    fi
  done
}

# --- one host -------------------------------------------------------------------------------------
prepare_host() { # network, overlay root, data binds, config files, keys
  local i=$1 n a H R d
  n=$(host_name "$i") a=$(host_ip "$i") H=$HOSTS_DIR/$n R=$HOSTS_DIR/$n/root
  ip netns add "$n"
  ip link add "$(veth_name "$i")" type veth peer name eth0 netns "$n"
  ip link set "$(veth_name "$i")" master "$LAB_BRIDGE" up
  ip -n "$n" link set lo up
  ip -n "$n" addr add "$a/$NET_BITS" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" route add default via "$GW"

  mkdir -p "$H/upper" "$H/work" "$R"
  mount -t overlay "$n" -o "lowerdir=$LAB_BASE,upperdir=$H/upper,workdir=$H/work" "$R"
  for d in "${DATA_DIRS[@]}"; do
    mkdir -p "$H/data$d" "$R$d"
    mount --bind "$H/data$d" "$R$d"
  done
  chmod 1777 "$R/tmp"
  cp -a /etc/skel/. "$R/root/"
  chmod 700 "$R/root"

  echo "$n" >"$R/etc/hostname"
  {
    echo "127.0.0.1 localhost"
    echo "$a $n"
    echo "$GW $LAB_PREFIX-gw registry.lab"
    for ((j = 1; j <= LAB_HOSTS; j++)); do [[ $j == "$i" ]] || echo "$(host_ip "$j") $(host_name "$j")"; done
  } >"$R/etc/hosts"
  echo "nameserver $GW" >"$R/etc/resolv.conf"
  mkdir -p "$R/etc/ssh/sshd_config.d" "$R/root/.ssh"
  cat >"$R/etc/ssh/sshd_config.d/00-lab.conf" <<EOF
PermitRootLogin yes
PasswordAuthentication yes
PubkeyAuthentication yes
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
MaxSessions 100
MaxStartups 100:30:200
EOF
  rm -f "$R"/etc/ssh/ssh_host_*_key "$R"/etc/ssh/ssh_host_*_key.pub
  ssh-keygen -q -t ed25519 -N '' -C "$n" -f "$R/etc/ssh/ssh_host_ed25519_key"
  cat "$LAB_DIR/ssh/id_ed25519.pub" "$LAB_DIR/ssh/id_rsa.pub" >"$R/root/.ssh/authorized_keys"
  chmod 700 "$R/root/.ssh"
  chmod 600 "$R/root/.ssh/authorized_keys"
  echo 'root:labpass' | chpasswd -R "$R"
  echo "$n $a" >>"$LAB_DIR/hosts.txt"
  echo "$a $(cut -d' ' -f1-2 "$R/etc/ssh/ssh_host_ed25519_key.pub")" >>"$LAB_DIR/ssh/known_hosts"
}

start_host() { # the host's namespaces and sshd as the PID-ns init; records pids and cgroup dirs
  local i=$1 n a H R mp path opts fstype dir name
  n=$(host_name "$i") a=$(host_ip "$i") H=$HOSTS_DIR/$n R=$HOSTS_DIR/$n/root
  : >"$H/cgroups"
  {
    echo 'set -e'
    echo "R='$R'"
    echo 'mount --rbind /dev "$R/dev"'
    echo 'mount -t proc proc "$R/proc"'
    echo 'mount -t sysfs sysfs "$R/sys"'
    echo 'mount -t tmpfs -o mode=755 cgroup_root "$R/sys/fs/cgroup"'
  } >"$H/init2.sh"
  echo 'set -e' >"$H/init1.sh"
  while IFS='|' read -r mp path opts fstype; do
    dir=$mp${path%/}/$n
    name=${mp#/sys/fs/cgroup/}
    mkdir -p "$dir"
    if [[ $opts == *cpuset* ]]; then
      cat "$mp${path%/}/cpuset.cpus" >"$dir/cpuset.cpus"
      cat "$mp${path%/}/cpuset.mems" >"$dir/cpuset.mems"
    fi
    echo "$dir|$name|$opts|$fstype" >>"$H/cgroups"
    echo "echo 0 > '$dir/cgroup.procs'" >>"$H/init1.sh"
    echo "mkdir -p \"\$R/sys/fs/cgroup/$name\"" >>"$H/init2.sh"
    if [[ $fstype == cgroup2 ]]; then
      echo "mount -t cgroup2 cgroup2 \"\$R/sys/fs/cgroup/$name\"" >>"$H/init2.sh"
    else
      echo "mount -t cgroup -o '$opts' cgroup \"\$R/sys/fs/cgroup/$name\"" >>"$H/init2.sh"
    fi
  done < <(cgroup_hierarchies)
  echo "exec unshare --cgroup sh '$H/init2.sh'" >>"$H/init1.sh"
  cat >>"$H/init2.sh" <<EOF
mount -t tmpfs -o mode=755 run "\$R/run"
mkdir -p "\$R/run/sshd" "\$R/.old"
chmod 755 "\$R/run/sshd"
hostname '$n'
cd "\$R"
pivot_root . .old
umount -l /.old
rmdir /.old
exec /usr/sbin/sshd -D -e
EOF
  setsid nsenter --net="/run/netns/$n" unshare --mount --uts --ipc --pid --fork --kill-child --propagation private \
    sh "$H/init1.sh" </dev/null >"$H/sshd.log" 2>&1 9>&- &
  echo $! >"$H/unshare.pid"
  local k child=""
  for ((k = 0; k < 100; k++)); do
    child=$(cat "/proc/$(cat "$H/unshare.pid")/task/"*/children 2>/dev/null | awk '{print $1}')
    [[ -n $child ]] && break
    sleep 0.02
  done
  [[ -n $child ]] || die "$n: init did not start; see $H/sshd.log"
  echo "$child" >"$H/init.pid"
}

stop_host() { # SIGKILL the unshare (the kernel kills the whole PID ns), then anything left in its cgroups
  local n=$1 H=$HOSTS_DIR/$1 p
  for p in unshare init; do
    [[ -f $H/$p.pid ]] && kill_wait "$(cat "$H/$p.pid")"
    rm -f "$H/$p.pid"
  done
  kill_cgroups "$H/cgroups"
  # cgroup dirs by name, in case the record was lost
  find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -name "$n" 2>/dev/null | while read -r d; do
    echo "$d|" >>"$H/cgroups.found"
  done
  kill_cgroups "$H/cgroups.found"
  rm -f "$H/cgroups.found"
}

# --- registry -------------------------------------------------------------------------------------
start_registry() {
  mkdir -p "$LAB_DIR/registry"
  cat >"$LAB_DIR/registry.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $LAB_DIR/registry}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$LAB_REGISTRY_PORT
  secret: lab-registry-secret
EOF
  setsid docker-registry serve "$LAB_DIR/registry.yml" </dev/null >"$LAB_DIR/registry.log" 2>&1 9>&- &
  echo $! >"$LAB_DIR/registry.pid"
  setsid socat "TCP-LISTEN:5000,bind=$GW,fork,reuseaddr" "TCP:127.0.0.1:$LAB_REGISTRY_PORT" \
    </dev/null >"$LAB_DIR/socat.log" 2>&1 9>&- &
  echo $! >"$LAB_DIR/socat.pid"
  local k
  for ((k = 0; k < 100; k++)); do
    if timeout 0.5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$LAB_REGISTRY_PORT" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  die "registry did not start on 127.0.0.1:$LAB_REGISTRY_PORT; see $LAB_DIR/registry.log"
}

# --- commands -------------------------------------------------------------------------------------
cmd_up() {
  [[ $(id -u) == 0 ]] || die "run as root"
  ip link show "$LAB_BRIDGE" >/dev/null 2>&1 && die "bridge $LAB_BRIDGE exists: run down first"
  local i
  mkdir -p "$LAB_DIR/ssh" "$HOSTS_DIR"
  [[ -f $LAB_DIR/ssh/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C lab -f "$LAB_DIR/ssh/id_ed25519"
  [[ -f $LAB_DIR/ssh/id_rsa ]] || ssh-keygen -q -t rsa -b 2048 -N '' -C lab -f "$LAB_DIR/ssh/id_rsa"
  : >"$LAB_DIR/hosts.txt"
  : >"$LAB_DIR/ssh/known_hosts"
  if [[ -n $LAB_TMPFS_SIZE ]]; then mount -t tmpfs -o "size=$LAB_TMPFS_SIZE,mode=700" "$LAB_PREFIX-state" "$HOSTS_DIR"; fi

  ip link add "$LAB_BRIDGE" type bridge
  ip addr add "$GW/$NET_BITS" dev "$LAB_BRIDGE"
  ip link set "$LAB_BRIDGE" up
  # Nothing is forwarded between the lab bridge and any other interface; bridged traffic passes.
  nft -f - <<EOF
table inet $NFT_TABLE {
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "$LAB_BRIDGE" oifname "$LAB_BRIDGE" accept
    iifname "$LAB_BRIDGE" drop
    oifname "$LAB_BRIDGE" drop
  }
}
EOF
  [[ $LAB_REGISTRY == 1 ]] && start_registry
  for ((i = 1; i <= LAB_HOSTS; i++)); do prepare_host "$i"; done
  for ((i = 1; i <= LAB_HOSTS; i++)); do start_host "$i"; done
  for ((i = 1; i <= LAB_HOSTS; i++)); do
    wait_ssh "$(host_ip "$i")" || die "$(host_name "$i"): sshd not answering; see $HOSTS_DIR/$(host_name "$i")/sshd.log"
  done
  [[ -n $LAB_RATE ]] && apply_rate "$LAB_RATE"
  log "up: $LAB_HOSTS hosts on $LAB_BRIDGE ($LAB_NET), state in $LAB_DIR"
}

cmd_down() {
  local n H m p
  # hosts: by state dir and by netns name, so a crashed run is cleaned too
  for n in $( (ls "$HOSTS_DIR" 2>/dev/null; ip netns list 2>/dev/null | awk '{print $1}') |
    grep -E "^$LAB_PREFIX-h[0-9]+$" | sort -u); do
    H=$HOSTS_DIR/$n
    mkdir -p "$H"
    stop_host "$n"
  done
  for p in socat registry; do
    [[ -f $LAB_DIR/$p.pid ]] && kill_wait "$(cat "$LAB_DIR/$p.pid")"
    rm -f "$LAB_DIR/$p.pid"
  done
  # mounts below the lab dir, deepest first
  for m in $(awk -v d="$HOSTS_DIR" 'index($2, d "/") == 1 || $2 == d {print $2}' /proc/self/mounts | sort -r); do
    umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || true
  done
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$LAB_PREFIX-h[0-9]+$" || true); do
    ip netns del "$n" 2>/dev/null || true
  done
  for m in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$LAB_BRIDGE-h[0-9]+$" || true); do
    ip link del "$m" 2>/dev/null || true
  done
  ip link del "$LAB_BRIDGE" 2>/dev/null || true
  nft delete table inet "$NFT_TABLE" 2>/dev/null || true
  rm -rf "$HOSTS_DIR" "$LAB_DIR/hosts.txt"
  return 0
}

cmd_status() {
  local n a H ok=0
  ip link show "$LAB_BRIDGE" >/dev/null 2>&1 || { echo "down"; return 1; }
  while read -r n a; do
    H=$HOSTS_DIR/$n
    if [[ -f $H/init.pid ]] && kill -0 "$(cat "$H/init.pid")" 2>/dev/null; then
      echo "$n $a up"
    else
      echo "$n $a stopped"
      ok=1
    fi
  done <"$LAB_DIR/hosts.txt"
  if [[ -f $LAB_DIR/registry.pid ]] && kill -0 "$(cat "$LAB_DIR/registry.pid")" 2>/dev/null; then
    echo "registry 127.0.0.1:$LAB_REGISTRY_PORT (registry.lab:5000) up"
  fi
  return $ok
}

cmd_exec() {
  local n=$1 H
  shift
  H=$HOSTS_DIR/$n
  [[ -f $H/init.pid ]] || die "$n is not running"
  exec nsenter -t "$(cat "$H/init.pid")" -m -u -i -n -p -C -r -w "$@"
}

cmd_start() {
  local n=$1 i
  i=$(host_index "$n")
  [[ -f $HOSTS_DIR/$n/init.pid ]] && kill -0 "$(cat "$HOSTS_DIR/$n/init.pid")" 2>/dev/null && die "$n is running"
  start_host "$i"
  wait_ssh "$(host_ip "$i")" || die "$n: sshd not answering"
}

locked() { # serialise up/down/start/stop of one lab
  exec 9>"$LAB_DIR.lock"
  flock 9
  "$@"
}

case ${1:-} in
  up) mkdir -p "$(dirname "$LAB_DIR")"; locked cmd_up ;;
  down) mkdir -p "$(dirname "$LAB_DIR")"; locked cmd_down ;;
  status) cmd_status ;;
  exec) [[ $# -ge 3 ]] || die "usage: lab.sh exec HOST CMD..."; shift; cmd_exec "$@" ;;
  stop) [[ $# -eq 2 ]] || die "usage: lab.sh stop HOST"; host_index "$2" >/dev/null; locked stop_host "$2" ;;
  start) [[ $# -eq 2 ]] || die "usage: lab.sh start HOST"; locked cmd_start "$2" ;;
  rate) [[ $# -eq 2 ]] || die "usage: lab.sh rate RATE|off"; apply_rate "$2" ;;
  *) die "usage: lab.sh up|down|status|exec HOST CMD...|stop HOST|start HOST|rate RATE|off" ;;
esac
