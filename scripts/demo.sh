#!/usr/bin/env bash
# The main job: installs what is needed, builds, starts sandnetd with its
# embedded default network (bridge sandnet0, 10.89.0.0/16, host-local, portmap),
# creates a demo sandbox the way a runtime does (a process in a new user
# namespace owning a new network namespace) and sets its network up through
# sandnetctl. The daemon then keeps serving until Ctrl-C; on exit the demo
# sandbox is torn down and nothing is left behind.
#   scripts/demo.sh          serve until interrupted
#   scripts/demo.sh --once   show the demo, tear it down and exit
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
once=false
[[ ${1:-} == --once ]] && once=true

bash scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" --target sandnetd sandnetctl

demo=$root/build/demo
mkdir -p "$demo/net.d" "$demo/state"
sock=$demo/sandnetd.sock
# An empty CNI conf dir: the daemon falls back to its embedded default network.
cat >"$demo/sandnetd.json" <<JSON
{
  "socket": "$sock",
  "stateDir": "$demo/state",
  "cni": { "confDir": "$demo/net.d" }
}
JSON
ctl() { "$root/build/client/sandnetctl" --socket "$sock" "$@"; }

daemon_pid=""
sandbox_pid=""
cleanup() {
  set +e
  if [[ -n $daemon_pid ]]; then
    echo "== tearing the demo sandbox down"
    ctl teardown demo
  fi
  [[ -n $sandbox_pid ]] && kill "$sandbox_pid" 2>/dev/null && wait "$sandbox_pid" 2>/dev/null
  if [[ -n $daemon_pid ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting sandnetd"
"$root/build/daemon/sandnetd" --config "$demo/sandnetd.json" --log-level info &
daemon_pid=$!
for _ in $(seq 100); do
  ctl status >/dev/null 2>&1 && break
  sleep 0.1
done
ctl status

echo "== creating a sandbox: new user namespace (0 -> 100000, 65536 IDs) owning a new network namespace"
unshare --user --net --mount sleep infinity &
sandbox_pid=$!
sleep 0.2
echo "0 100000 65536" >"/proc/$sandbox_pid/uid_map"
echo "0 100000 65536" >"/proc/$sandbox_pid/gid_map"

echo "== sandnetctl setup demo --pid $sandbox_pid --port 8080:80"
ctl setup demo --pid "$sandbox_pid" --port 8080:80
echo "== sandnetctl list"
ctl list
echo "== sandnetctl inspect demo"
ctl inspect demo
echo "== inside the sandbox: its own view, and the gateway answers"
# busybox's ping: the host's ping carries file capabilities that a user namespace cannot use.
nsenter -t "$sandbox_pid" -U -n -m sh -c 'ip -br addr; busybox ping -c 1 -W 2 10.89.0.1 >/dev/null && echo "ping 10.89.0.1: ok"'

if $once; then
  exit 0
fi
echo "== sandnetd is serving on $sock (try: build/client/sandnetctl --socket $sock list). Ctrl-C stops it."
wait "$daemon_pid"
