#!/usr/bin/env bash
# npm run test:nat — builds the NAT lab (test/nat/lab.sh), checks the lab itself and the
# port-mapping wrapper inside it, tears everything down. Needs root; installs nftables,
# miniupnpd, miniupnpc and natpmpc when missing. Exits non-zero when any check fails.
#
# Checked:
#  1. peers reach the relay through their routers' NAT (the relay sees the routers' WAN
#     addresses); the relay cannot open a connection into a home network;
#  2. upnpc and natpmpc map a port on router A, and fail on router B (no daemon there);
#  3. tui/core/transfer/port-mapping.ts inside peer A gets a mapping by UPnP, by NAT-PMP and
#     with both racing; the relay can connect through it; after release it is gone;
#  4. the same wrapper inside peer B gives up with `null` within its timeout;
#  5. a whole FileTransfer from peer B to peer A goes direct through router A's mapping, and
#     through the relay (a stand-in in the relay namespace) when A does not map.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lab.sh
source "$HERE/lab.sh"

CHECK_JS="$ROOT/dist/test/nat/port-mapping-check.js"
if [[ ! -f $CHECK_JS ]]; then
  echo "missing $CHECK_JS: run 'npx tsc -p .' (or npm run build) first" >&2
  exit 2
fi

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

lab_exec relay node "$LAB_DIR/whoami-server.mjs" 7000 &
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
lab_exec pa node "$LAB_DIR/whoami-server.mjs" 7001 &
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
  LAB_NS=pa lab_exec pa node "$CHECK_JS" --port "$port" --method "$method" --expect mapping --hold-ms 5000 >"$out" 2>"$out.err" &
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

echo "# 5. whole transfers across the lab (relay stand-in: test/nat/transfer-check.ts rendezvous)"
TRANSFER_JS="$ROOT/dist/test/nat/transfer-check.js"
lab_exec relay node "$TRANSFER_JS" rendezvous --port 7100 2>"$LAB_DIR/rendezvous.err" &
disown $!
head -c $((24 * 1024 * 1024)) /dev/urandom >"$LAB_DIR/payload.bin"
PAYLOAD_HASH=$(b2sum "$LAB_DIR/payload.bin" | cut -d' ' -f1)
sleep 0.3

# transfer_via EXPECTED_PATH MAPPING_ON_A ID: peer B (no mapping possible) sends to peer A.
transfer_via() {
  local expected=$1 mapping=$2 id=$3 out="$LAB_DIR/out-$3" receiver_pid sender_line receiver_line
  mkdir -p "$out"
  lab_exec pa timeout 60 node "$TRANSFER_JS" receiver --rendezvous "$LAB_RELAY_IP:7100" --id "$id" --out "$out" \
    --mapping "$mapping" >"$out.receiver" 2>"$out.receiver.err" &
  receiver_pid=$!
  sender_line=$(lab_exec pb timeout 60 node "$TRANSFER_JS" sender --rendezvous "$LAB_RELAY_IP:7100" --id "$id" \
    --file "$LAB_DIR/payload.bin" --mapping off 2>"$out.sender.err") || true
  wait "$receiver_pid" || true
  receiver_line=$(cat "$out.receiver")
  echo "    sender:   $sender_line" >&2
  echo "    receiver: $receiver_line" >&2
  local ok=0
  grep -q '"state":"completed"' <<<"$sender_line" || ok=1
  grep -q "\"hash\":\"$PAYLOAD_HASH\"" <<<"$receiver_line" || ok=1
  grep -q "\"paths\":\[\"$expected\"\]" <<<"$receiver_line" || ok=1
  if ((ok != 0)); then
    grep -E 'session|failed|mapping|upnp|nat-pmp' "$out.receiver.err" "$out.sender.err" | tail -n 12 | sed 's/^/    /' >&2
  fi
  return $ok
}
check "direct through router A's port mapping (B dials A's mapped address)" transfer_via direct on lab-direct-01
check "the transfer's mapping was removed when it ended" no_mappings_left
check "through the relay when neither side can map" transfer_via relay off lab-relay-001

echo
if ((failures > 0)); then
  echo "NAT lab: $failures check(s) failed"
  exit 1
fi
echo "NAT lab: all checks passed"
