#!/usr/bin/env bash
# npm run test:nat — builds the NAT lab (test/nat/lab.sh), checks the lab itself, the
# port-mapping wrapper and whole file transfers between real clients through the real relay
# inside it, tears everything down. Needs root and a build (npx tsc -p .); installs nftables,
# miniupnpd, miniupnpc and natpmpc when missing. Exits non-zero when any check fails.
#
# Checked:
#  1. peers reach the relay through their routers' NAT (the relay sees the routers' WAN
#     addresses); the relay cannot open a connection into a home network;
#  2. upnpc and natpmpc map a port on router A, and fail on router B (no daemon there);
#  3. tui/core/transfer/port-mapping.ts inside peer A gets a mapping by UPnP, by NAT-PMP and
#     with both racing; the relay can connect through it; after release it is gone;
#  4. the same wrapper inside peer B gives up with `null` within its timeout;
#  5. the real relay (`relay serve`) on the internet segment, and two real clients
#     (`securechat --json`, one in each peer's namespace, relay pinned by fingerprint): bob
#     behind router B sends a file (8 MB, random, with a marker) to alice behind router A
#     with /send, alice /accepts. With miniupnpd on router A it goes direct, through the
#     mapping made for it (removed after), the relay carrying none of it; with miniupnpd
#     stopped (neither side can map) it goes through the relay pipe. Both arrive with the
#     payload's SHA-256 hash; the relay logs the pipe as byte counts, and the marker is
#     nowhere in its output or data folder.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lab.sh
source "$HERE/lab.sh"

CHECK_JS="$ROOT/dist/test/nat/port-mapping-check.js"
for built in "$CHECK_JS" "$ROOT/dist/test/nat/transfer-check.js" "$ROOT/dist/relay/cli.js" "$ROOT/dist/tui/cli.js"; do
  if [[ ! -f $built ]]; then
    echo "missing $built: run 'npx tsc -p .' (or npm run build) first" >&2
    exit 2
  fi
done

failures=0
pass() { printf 'ok   - %s\n' "$*"; }
fail() {
  printf 'FAIL - %s\n' "$*"
  failures=$((failures + 1))
}
check() {
  local description=$1
  shift
  if "$@"; then pass "$description"; else fail "$description"; fi
}

lab_install
trap lab_down EXIT
lab_up

# ---- small probes ------------------------------------------------------------------------------
# A TCP server that tells each client the address it sees; and a client that prints what it
# is told (exit 1 on failure or after 2 s).
cat >"$LAB_DIR/whoami-server.mjs" <<'EOF'
import net from 'node:net';
net.createServer((s) => s.end(`${s.remoteAddress}\n`)).listen(Number(process.argv[2]), '0.0.0.0');
EOF
cat >"$LAB_DIR/probe.mjs" <<'EOF'
import net from 'node:net';
const s = net.connect(Number(process.argv[3]), process.argv[2]);
let text = '';
const timer = setTimeout(() => { console.log('timeout'); process.exit(1); }, Number(process.argv[4] ?? 2000));
s.on('data', (d) => (text += d));
s.on('end', () => { clearTimeout(timer); console.log(text.trim()); process.exit(0); });
s.on('error', (e) => { clearTimeout(timer); console.log(e.code); process.exit(1); });
EOF

ip netns exec "$(lab_ns relay)" timeout 600 node "$LAB_DIR/whoami-server.mjs" 7000 &
disown $!
sleep 0.3

seen_as() { # seen_as NS EXPECTED_ADDRESS
  local got
  got=$(lab_exec "$1" node "$LAB_DIR/probe.mjs" "$LAB_RELAY_IP" 7000) || return 1
  [[ $got == "$2" ]] || { echo "    $1 seen as '$got', expected '$2'" >&2; return 1; }
}
unreachable() { # unreachable NS HOST PORT
  ! lab_exec "$1" node "$LAB_DIR/probe.mjs" "$2" "$3" 1000 >/dev/null
}

echo "# 1. the lab: NAT and the home-router filter"
check "peer A reaches the relay, seen as router A ($LAB_RA_WAN)" seen_as pa "$LAB_RA_WAN"
check "peer B reaches the relay, seen as router B ($LAB_RB_WAN)" seen_as pb "$LAB_RB_WAN"
ip netns exec "$(lab_ns pa)" timeout 600 node "$LAB_DIR/whoami-server.mjs" 7001 &
disown $!
sleep 0.3
check "the relay cannot connect into home network A (unsolicited inbound dropped)" unreachable relay "$LAB_RA_WAN" 7001
check "peer B cannot reach peer A's private address" unreachable pb "$LAB_PA_IP" 7001

echo "# 2. UPnP and NAT-PMP by hand (miniupnpc, natpmpc)"
upnp_map_a() {
  lab_exec pa upnpc -e securechat-lab -a "$LAB_PA_IP" 40001 40001 TCP >"$LAB_DIR/upnpc.out" 2>&1 &&
    grep -q 'is redirected to internal' "$LAB_DIR/upnpc.out" &&
    lab_exec pa upnpc -l 2>&1 | grep -q '40001->10.0.1.2:40001' &&
    lab_exec pa upnpc -d 40001 TCP >/dev/null 2>&1
}
upnp_map_b_fails() {
  ! lab_exec pb timeout 10 upnpc -a "$LAB_PB_IP" 40001 40001 TCP >"$LAB_DIR/upnpc-b.out" 2>&1 ||
    ! grep -q 'is redirected to internal' "$LAB_DIR/upnpc-b.out"
}
pmp_map_a() {
  lab_exec pa natpmpc -g "$LAB_RA_LAN" -a 40002 40002 tcp 60 2>&1 | grep -q 'Mapped public port 40002' &&
    lab_exec pa natpmpc -g "$LAB_RA_LAN" -a 40002 40002 tcp 0 >/dev/null 2>&1
}
pmp_map_b_fails() {
  ! lab_exec pb timeout 3 natpmpc -g "$LAB_RB_LAN" -a 40002 40002 tcp 60 >/dev/null 2>&1
}
check "upnpc maps (and unmaps) a port on router A" upnp_map_a
check "upnpc finds no gateway behind router B" upnp_map_b_fails
check "natpmpc maps (and unmaps) a port on router A" pmp_map_a
check "natpmpc gets no answer from router B" pmp_map_b_fails

echo "# 3. tui/core/transfer/port-mapping.ts inside peer A"
# wrapper_maps METHOD PORT: the wrapper maps, the relay connects through the mapping, the
# wrapper releases it, and afterwards the relay can no longer connect.
wrapper_maps() {
  local method=$1 port=$2 out="$LAB_DIR/check-$1-$2.out" pid line host ext greeting
  LAB_NS=pa ip netns exec "$(lab_ns pa)" timeout 60 node "$CHECK_JS" --port "$port" --method "$method" --expect mapping --hold-ms 5000 >"$out" 2>"$out.err" &
  pid=$!
  for _ in $(seq 1 60); do
    line=$(head -n1 "$out" 2>/dev/null || true)
    [[ -n $line ]] && break
    sleep 0.1
  done
  echo "    $method: $line" >&2
  host=$(node -e 'const m=JSON.parse(process.argv[1]).mapping; console.log(m ? m.externalHost : "")' "$line")
  ext=$(node -e 'const m=JSON.parse(process.argv[1]).mapping; console.log(m ? m.externalPort : "")' "$line")
  if [[ -z $host ]]; then
    wait "$pid" || true
    sed 's/^/    /' "$out.err" >&2
    return 1
  fi
  greeting=$(lab_exec relay node "$LAB_DIR/probe.mjs" "$host" "$ext") || { echo "    relay could not connect to $host:$ext" >&2; kill "$pid" 2>/dev/null; return 1; }
  [[ $greeting == "hello from pa" ]] || { echo "    unexpected greeting '$greeting'" >&2; return 1; }
  wait "$pid" || { sed 's/^/    /' "$out.err" >&2; return 1; }
  echo "    $(tail -n1 "$out")" >&2
  # Released: nothing forwards any more (the home filter drops it).
  if lab_exec relay node "$LAB_DIR/probe.mjs" "$host" "$ext" 1000 >/dev/null; then
    echo "    mapping still open after release" >&2
    return 1
  fi
}
no_mappings_left() {
  local listing
  listing=$(lab_exec pa upnpc -l 2>&1 || true)
  if grep -Eq '^ *[0-9]+ (TCP|UDP) ' <<<"$listing"; then
    echo "$listing" | grep -E '^ *[0-9]+ (TCP|UDP) ' | sed 's/^/    left: /' >&2
    return 1
  fi
}
check "UPnP: mapped, reachable from the relay, removed after release" wrapper_maps upnp 40100
check "NAT-PMP: mapped, reachable from the relay, removed after release" wrapper_maps nat-pmp 40101
check "both racing: the first wins, reachable, removed after release" wrapper_maps both 40102
check "no mapping left on router A (the race's loser was released too)" no_mappings_left

# Another mapping holds external port 40103, and lab.sh's config denies 40103->40103: the
# router gives the wrapper another external port, and its release must remove that one only
# (the library alone would "unmap" external port 40103: the other mapping).
foreign_mapping_survives() {
  lab_exec pa upnpc -e someone-else -a "$LAB_PA_IP" 40999 40103 TCP >/dev/null 2>&1 || return 1
  wrapper_maps upnp 40103 || return 1
  grep -q '"externalPort":40103,' "$LAB_DIR/check-upnp-40103.out" && { echo "    the router did not pick another port" >&2; return 1; }
  local listing
  listing=$(lab_exec pa upnpc -l 2>&1 || true)
  grep -q '40103->10.0.1.2:40999' <<<"$listing" || { echo "    the other mapping was deleted" >&2; return 1; }
  lab_exec pa upnpc -d 40103 TCP >/dev/null 2>&1
  no_mappings_left
}
check "UPnP with the port taken: maps another, releases only its own" foreign_mapping_survives

echo "# 4. the wrapper inside peer B (no UPnP, no NAT-PMP)"
wrapper_gives_up() {
  local started elapsed line
  started=$(date +%s%N)
  line=$(LAB_NS=pb lab_exec pb timeout 20 node "$CHECK_JS" --port 40200 --expect none --timeout-ms 3000 2>"$LAB_DIR/check-b.err") || {
    sed 's/^/    /' "$LAB_DIR/check-b.err" >&2
    return 1
  }
  elapsed=$((($(date +%s%N) - started) / 1000000))
  echo "    $line, process exited after ${elapsed} ms" >&2
  ((elapsed < 8000))
}
check "gives up with null within its 3 s timeout and exits" wrapper_gives_up

echo "# 5. whole transfers: two securechat --json clients through the real relay"
# The real relay (dist/relay/cli.js serve) on the internet segment, data folder in the lab
# dir, bounded in time (lab_down stops it anyway, with everything else in its namespace).
RELAY_PORT=7443
RELAY_DATA="$LAB_DIR/relay-data"
mkdir -p "$RELAY_DATA"
ip netns exec "$(lab_ns relay)" timeout -k 5 600 node "$ROOT/dist/relay/cli.js" serve --host "$LAB_RELAY_IP" --port "$RELAY_PORT" \
  --data "$RELAY_DATA" --registration open >"$LAB_DIR/relay.out" 2>"$LAB_DIR/relay.err" &
disown $!
relay_started() {
  for _ in $(seq 1 150); do
    RELAY_FINGERPRINT=$(sed -n 's/^securechat relay listening on .* fingerprint \(sha256:[0-9a-f]*\)$/\1/p' "$LAB_DIR/relay.out")
    [[ -n $RELAY_FINGERPRINT ]] && { echo "    $(head -n1 "$LAB_DIR/relay.out")" >&2; return 0; }
    sleep 0.1
  done
  sed 's/^/    /' "$LAB_DIR/relay.err" >&2
  return 1
}
check "the relay listens on $LAB_RELAY_IP:$RELAY_PORT in the relay namespace" relay_started

# A few MB of random bytes with a marker in its name and inside it (start, middle, end), so
# we can look for it where the relay writes; hashed with sha256sum, independently of the client.
MARKER="natlab-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
PAYLOAD="$LAB_DIR/$MARKER.bin"
{
  printf '%s\n' "$MARKER"
  head -c $((4 * 1024 * 1024)) /dev/urandom
  printf '%s\n' "$MARKER"
  head -c $((4 * 1024 * 1024)) /dev/urandom
  printf '%s\n' "$MARKER"
} >"$PAYLOAD"
PAYLOAD_SIZE=$(stat -c %s "$PAYLOAD")
PAYLOAD_HASH=$(sha256sum "$PAYLOAD" | cut -d' ' -f1)
TRANSFER_JS="$ROOT/dist/test/nat/transfer-check.js"

# transfer_via EXPECTED_PATH ROOM [--register]: bob in peer B's namespace sends the payload to
# alice in peer A's (test/nat/transfer-check.ts); the saved file must hash like the payload.
transfer_via() {
  local expected=$1 room=$2 out="$LAB_DIR/transfer-$2" result
  shift 2
  local status=0
  timeout -k 5 120 node "$TRANSFER_JS" --relay "$LAB_RELAY_IP:$RELAY_PORT" --fingerprint "$RELAY_FINGERPRINT" \
    --receiver-ns "$(lab_ns pa)" --sender-ns "$(lab_ns pb)" --room "$room" --file "$PAYLOAD" \
    --home "$LAB_DIR/clients" --expect-path "$expected" --timeout-ms 60000 "$@" >"$out.json" 2>"$out.err" || status=$?
  result=$(cat "$out.json")
  cat "$out.err" >&2
  echo "    $result" >&2
  ((status == 0)) || return 1
  grep -q "\"hash\":\"$PAYLOAD_HASH\"" <<<"$result" || { echo "    not the payload's sha256sum $PAYLOAD_HASH" >&2; return 1; }
}
transfer_id() { # transfer_id ROOM
  node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).id)' "$LAB_DIR/transfer-$1.json"
}
# Bytes the relay logged for transfer ID's pipe from bob to alice (0 without a pipe line).
pipe_bytes() {
  { grep -F "pipe $1: " "$LAB_DIR/relay.err" || true; } | sed -n 's/.*bob->alice \([0-9]*\) bytes.*/\1/p' | awk '{ sum += $1 } END { print sum + 0 }'
}

MINIUPNPD_LOG_AT=$(wc -l <"$LAB_DIR/miniupnpd.log")
check "direct through router A's port mapping (bob dials alice's mapped address)" transfer_via direct lab-direct --register
mapped_for_the_transfer() {
  tail -n +"$((MINIUPNPD_LOG_AT + 1))" "$LAB_DIR/miniupnpd.log" |
    grep -E "NAT-PMP port mapping request : [0-9]+->$LAB_PA_IP:[0-9]+ tcp lifetime=[1-9]|AddPortMapping: ext port [0-9]+ to $LAB_PA_IP:" |
    sed 's/^/    /' >&2
}
check "router A's miniupnpd mapped a port to peer A for it" mapped_for_the_transfer
# Every NAT-PMP lease asked for in this lab is at most the transfer's 2 h (the library takes
# seconds there, not ms: an 83-day lease would outlive a crashed client by months).
leases_at_most_two_hours() {
  local longest
  longest=$(grep -oE 'tcp lifetime=[0-9]+s' "$LAB_DIR/miniupnpd.log" | grep -oE '[0-9]+' | sort -n | tail -1)
  echo "    longest NAT-PMP lease requested: ${longest:-none}s" >&2
  [[ -n $longest ]] && ((longest <= 7200))
}
check "NAT-PMP leases requested are at most 7200 s" leases_at_most_two_hours
check "the transfer's mapping was removed when it ended" no_mappings_left
relay_carried_none() {
  local id bytes
  id=$(transfer_id lab-direct) && bytes=$(pipe_bytes "$id") || return 1
  echo "    relay pipe for $id: $bytes bytes from bob" >&2
  ((bytes < PAYLOAD_SIZE))
}
check "the relay did not carry it (no pipe with the file's bytes)" relay_carried_none

# Neither side can map from here on: router B never could, router A's daemon is gone.
lab_stop_miniupnpd
nothing_maps_any_more() {
  ! lab_exec pa timeout 3 natpmpc -g "$LAB_RA_LAN" -a 40300 40300 tcp 60 >/dev/null 2>&1 &&
    unreachable relay "$LAB_RA_WAN" 7001
}
check "miniupnpd stopped: natpmpc gets no answer on router A, its filter still drops inbound" nothing_maps_any_more
check "through the relay when neither side can map (logging in again)" transfer_via relay lab-relay
relay_logged_bytes() {
  local id bytes
  id=$(transfer_id lab-relay) && bytes=$(pipe_bytes "$id") || return 1
  grep -F "pipe $id: " "$LAB_DIR/relay.err" | sed 's/^/    /' >&2
  ((bytes >= PAYLOAD_SIZE))
}
check "the relay logs that pipe as byte counts (at least the file's size from bob)" relay_logged_bytes
never_saw_contents() {
  local found
  found=$(grep -rlaF "$MARKER" "$RELAY_DATA" "$LAB_DIR/relay.out" "$LAB_DIR/relay.err" || true)
  [[ -z $found ]] || { echo "    the marker $MARKER is in: $found" >&2; return 1; }
}
check "the file's marker (in its name and contents) is nowhere in the relay's output or data" never_saw_contents

echo
if ((failures > 0)); then
  echo "NAT lab: $failures check(s) failed"
  exit 1
fi
echo "NAT lab: all checks passed"
