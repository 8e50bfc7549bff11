#!/usr/bin/env bash
# Times ADD and DEL of a bridge + host-local chain through `sandnetctl cni`
# (sandnet's CNI runtime, in-process) next to exec'ing the same plugin by hand
# with the same config: the difference is what the runtime adds (process
# start, config loading, stdin building, the libcni-compatible cache).
#   scripts/bench-cni.sh [ROUNDS]      (root; build/client/sandnetctl must exist)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-50}
ctl=${SANDNETCTL:-$repo/build/client/sandnetctl}
work=$(mktemp -d /tmp/sandnet-bench-cni-XXXXXX)
ns=sncnibench$$
bridge=sncnib$$
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

plugin='{"type":"bridge","bridge":"'$bridge'","isGateway":true,"ipam":{"type":"host-local","subnet":"10.201.250.0/24","dataDir":"'$work/ipam'"}}'
mkdir -p "$work/net.d"
echo '{"cniVersion":"1.0.0","name":"sncnibench","plugins":['"$plugin"']}' >"$work/net.d/10-bench.conflist"
echo "${plugin%\}}"',"cniVersion":"1.0.0","name":"sncnibench"}' >"$work/plugin.json"
ip netns add "$ns"
netns=/run/netns/$ns
export NETCONFPATH=$work/net.d CNI_PATH=/usr/lib/cni CNI_CACHE_DIR=$work/cache

now_us() { echo $(($(date +%s%N) / 1000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$work/ctl_add"; : >"$work/ctl_del"; : >"$work/raw_add"; : >"$work/raw_del"
for _ in $(seq "$rounds"); do
  t0=$(now_us); "$ctl" cni add sncnibench "$netns" >/dev/null; t1=$(now_us)
  "$ctl" cni del sncnibench "$netns"; t2=$(now_us)
  echo $((t1 - t0)) >>"$work/ctl_add"; echo $((t2 - t1)) >>"$work/ctl_del"
  t0=$(now_us)
  CNI_COMMAND=ADD CNI_CONTAINERID=bench CNI_NETNS=$netns CNI_IFNAME=eth0 /usr/lib/cni/bridge <"$work/plugin.json" >/dev/null
  t1=$(now_us)
  CNI_COMMAND=DEL CNI_CONTAINERID=bench CNI_NETNS=$netns CNI_IFNAME=eth0 /usr/lib/cni/bridge <"$work/plugin.json"
  t2=$(now_us)
  echo $((t1 - t0)) >>"$work/raw_add"; echo $((t2 - t1)) >>"$work/raw_del"
done
echo "bridge + host-local, $rounds rounds, median ms"
echo "| | ADD | DEL |"
echo "|---|---|---|"
printf '| sandnetctl cni | %.1f | %.1f |\n' "$(median <"$work/ctl_add")e-3" "$(median <"$work/ctl_del")e-3"
printf '| plugin by hand | %.1f | %.1f |\n' "$(median <"$work/raw_add")e-3" "$(median <"$work/raw_del")e-3"
