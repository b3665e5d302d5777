#!/bin/bash
# What the control channel costs in storage requests: the restic commands of control.sh and of
# `nassella backups create`, run with this machine's restic against restic-rest-counter.py,
# which counts every request restic makes. Prints one line per step: its requests by kind.
# Usage: instance-tests/tools/measure-control-poll.sh   (needs restic and python3; no Docker)
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$here/restic-rest-counter.py" "$dir/repo" "$port" &
server=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/_counts" >/dev/null 2>&1 && break; sleep 0.2; done
export RESTIC_REPOSITORY="rest:http://127.0.0.1:$port/" RESTIC_PASSWORD=measure RESTIC_CACHE_DIR="$dir/cache"
export TZ=UTC
host=measured
counts() { curl -fsS "http://127.0.0.1:$port/_counts"; curl -fsS -X DELETE "http://127.0.0.1:$port/_counts"; }
step() { # name, then the command
  local name=$1
  shift
  curl -fsS -X DELETE "http://127.0.0.1:$port/_counts"
  "$@" >/dev/null 2>&1 </dev/null || true
  printf '%-44s %s\n' "$name" "$(counts)"
}
restic version
restic init -q
mkdir -p "$dir/data"
head -c 3000000 /dev/urandom > "$dir/data/file"
for day in 1 2 3; do
  restic backup -q --host "$host" --tag nassella "$dir/data" >/dev/null
done
poll=(restic snapshots --json --no-lock --host "$host" --tag nassella-request --tag nassella-outcome)
step "poll, empty cache" "${poll[@]}"
step "poll (cache warm): every 5 min" "${poll[@]}"
step "poll (cache warm), again" "${poll[@]}"
now=$(date -u +%s)
req() { echo '{}' | restic backup -q --stdin --stdin-filename request.json --host "$host" \
  --tag "nassella-request,id=$1,kind=backup,created=$now,expires=$((now + 3600))"; }
# The control plane has its own cache (another machine): the server sees the request for the
# first time in the poll that finds it.
cp() { RESTIC_CACHE_DIR="$dir/cache-control-plane" "$@"; }
step "control plane writes a request" cp req 0123456789abcdef0123456789abcdef
step "poll that finds it" "${poll[@]}"
outcome() { echo '{}' | restic backup -q --stdin --stdin-filename outcome.json --host "$host" \
  --tag "nassella-outcome,id=0123456789abcdef0123456789abcdef,state=$1,time=$now"; }
step "server writes 'started'" outcome started
step "server: latest snapshot after the backup" restic snapshots --json --no-lock --host "$host" --tag nassella --latest 1
step "server writes the outcome" outcome succeeded
req_id=$(restic snapshots --json --no-lock --tag nassella-request | grep -oE '"id":"[0-9a-f]{64}"' | cut -d'"' -f4)
step "server forgets the request" restic forget "$req_id"
look=(restic snapshots --json --no-lock --host "$host" --tag nassella-outcome)
step "control plane looks for the outcome" cp "${look[@]}"
out_id=$(restic snapshots --json --no-lock --tag nassella-outcome | grep -oE '"id":"[0-9a-f]{64}"' | tail -n 1 | cut -d'"' -f4)
step "control plane reads outcome.json" cp restic dump --no-lock "$out_id" outcome.json
step "control plane forgets the outcomes" cp restic forget $(restic snapshots --json --no-lock --tag nassella-outcome | grep -oE '"id":"[0-9a-f]{64}"' | cut -d'"' -f4)
step "poll after it all" "${poll[@]}"
