#!/usr/bin/env bash
# contrib/bash-completion/sandnetctl, sourced into this shell and asked for
# completions the way bash asks (COMP_LINE, COMP_POINT, COMP_WORDS,
# COMP_CWORD). Sandbox IDs and network names come from the real sandnetctl
# talking to a fake daemon (socat and a canned reply per method).
# usage: completion_test.sh COMPLETION_FILE SANDNETCTL
set -euo pipefail
completion=$1 sandnetctl=$(realpath "$2")
# "sandnetctl" on the lines below is this one.
PATH=$(dirname "$sandnetctl"):$PATH

tmp=$(mktemp -d)
socat_pid=
cleanup() {
  if [[ -n $socat_pid ]]; then
    kill "$socat_pid" 2>/dev/null || true
    wait "$socat_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The fake daemon: one JSON-RPC reply per request line, by method.
cat >"$tmp/reply.sh" <<'SH'
while IFS= read -r line; do
  id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$line")
  case $line in
  *'"sandbox.list"'*)
    result='{"sandboxes":[{"id":"web-1","state":"ready","pid":4242,"ownerUID":0},{"id":"web-2","state":"failed","ownerUID":1000},{"id":"db","state":"ready","ownerUID":0}]}' ;;
  *'"networks.list"'*)
    result='{"networks":[{"name":"sandnet","cniVersion":"1.0.0","plugins":["bridge","portmap"],"default":true,"source":"embedded"},{"name":"lan","plugins":["macvlan"],"default":false}]}' ;;
  *) result='{}' ;;
  esac
  printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$id" "$result"
done
SH
sock=$tmp/sandnetd.sock
socat UNIX-LISTEN:"$sock",fork EXEC:"bash $tmp/reply.sh" &
socat_pid=$!
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || { echo "FAIL: the fake daemon did not start" >&2; exit 1; }

# shellcheck source=/dev/null
source "$completion"

# Completes LINE (the cursor at its end) and prints the candidates sorted,
# on one line. Words are split at blanks, as bash does for these inputs.
complete_line() {
  COMP_LINE=$1
  COMP_POINT=${#COMP_LINE}
  read -ra COMP_WORDS <<<"$COMP_LINE"
  [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _sandnetctl
  printf '%s\n' "${COMPREPLY[@]}" | sort | xargs
}

failed=0
expect() {
  local line=$1 want=$2 got
  got=$(complete_line "$line")
  if [[ $got != "$want" ]]; then
    echo "FAIL: '$line': got '$got', want '$want'" >&2
    failed=1
  else
    echo "ok: '$line' -> '$got'"
  fi
}

expect "sandnetctl " "check cni explain gc get help info inspect list networks setup status teardown version"
expect "sandnetctl te" "teardown"
expect "sandnetctl --" "--help --json --socket --version"
expect "sandnetctl setup pod1 --p" "--pid --pidfd --port"
expect "sandnetctl setup " ""
expect "sandnetctl teardown web-1 --f" "--force"
expect "sandnetctl get web-1 --f" ""
expect "sandnetctl cni " "add check del gc status"
expect "sandnetctl cni add sandnet --" "--container-id --help"
# From the daemon: the socket on the command line, then $SANDNET_SOCKET.
expect "sandnetctl --socket $sock get " "db web-1 web-2"
expect "sandnetctl --json --socket $sock teardown we" "web-1 web-2"
expect "sandnetctl inspect --socket $sock d" "db"
expect "sandnetctl --socket $sock setup pod1 --pid 1 --network " "lan sandnet"
SANDNET_SOCKET=$sock expect "sandnetctl check " "db web-1 web-2"
# No daemon there: nothing, at once.
start=$SECONDS
expect "sandnetctl --socket $tmp/none.sock get " ""
((SECONDS - start < 3)) || { echo "FAIL: completing without a daemon took $((SECONDS - start)) s" >&2; failed=1; }
# The program completed is the one on the line (here by its path).
expect "$sandnetctl --socket $sock get w" "web-1 web-2"

# --socket=PATH: bash splits at "=", so the word completed is the path.
mkdir "$tmp/dir" && touch "$tmp/dir/sock-a" "$tmp/dir/sock-b"
COMP_LINE="sandnetctl --socket=$tmp/dir/so" COMP_POINT=${#COMP_LINE}
COMP_WORDS=(sandnetctl --socket = "$tmp/dir/so") COMP_CWORD=3 COMPREPLY=()
_sandnetctl
got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | xargs)
want="$tmp/dir/sock-a $tmp/dir/sock-b"
if [[ $got != "$want" ]]; then
  echo "FAIL: --socket=PATH: got '$got', want '$want'" >&2
  failed=1
else
  echo "ok: --socket=PATH -> files"
fi
exit $failed
