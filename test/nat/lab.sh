#!/usr/bin/env bash
# NAT lab for securechat file transfers: network namespaces only, nothing touches the host's
# own network. Source it (functions) or run it:
#
#   sudo test/nat/lab.sh run -- CMD...   build the lab, run CMD on the host side with the
#                                        lab's names in the environment, tear down after
#   sudo test/nat/lab.sh check-install   install the packages if missing, then exit
#
# Topology (per run, names prefixed with $LAB, e.g. sc4242-inet):
#
#            198.20.0.0/24 "internet" (bridge br0 in $LAB-inet)
#     +------------------+---------------------+--------------------+
#  relay 198.20.0.10   router A wan0 198.20.0.2   router B wan0 198.20.0.3
#  ($LAB-relay)        ($LAB-ra) MASQUERADE,      ($LAB-rb) MASQUERADE,
#                      home filter, miniupnpd     home filter, no UPnP/NAT-PMP
#                      (UPnP-IGD + NAT-PMP)
#                        lan0 10.0.1.1/24            lan0 10.0.2.1/24
#                           |                            |
#                      peer A 10.0.1.2 ($LAB-pa)    peer B 10.0.2.2 ($LAB-pb)
#
# 198.20.0.0/24 because miniupnpd 2.3.1 refuses to map when its WAN address is in a reserved
# range (203.0.113/24, 198.18/15...): see NATLAB.md. These addresses exist only in the lab.
set -euo pipefail

LAB_INET_NET=198.20.0
LAB_RELAY_IP=$LAB_INET_NET.10
LAB_RA_WAN=$LAB_INET_NET.2
LAB_RB_WAN=$LAB_INET_NET.3
LAB_PA_IP=10.0.1.2
LAB_PB_IP=10.0.2.2
LAB_RA_LAN=10.0.1.1
LAB_RB_LAN=10.0.2.1
LAB=${LAB:-sc$$}
LAB_DIR=${LAB_DIR:-}
export LAB LAB_RELAY_IP LAB_RA_WAN LAB_RB_WAN LAB_PA_IP LAB_PB_IP LAB_RA_LAN LAB_RB_LAN

lab_log() { printf '[nat-lab %s] %s\n' "$LAB" "$*" >&2; }

lab_ns() { printf '%s-%s' "$LAB" "$1"; } # inet relay ra rb pa pb

# Run a command inside one of the lab's namespaces: lab_exec pa node script.js
lab_exec() {
  local ns
  ns=$(lab_ns "$1")
  shift
  ip netns exec "$ns" "$@"
}

lab_install() {
  local missing=()
  command -v nft >/dev/null || missing+=(nftables)
  command -v miniupnpd >/dev/null || missing+=(miniupnpd)
  command -v upnpc >/dev/null || missing+=(miniupnpc)
  command -v natpmpc >/dev/null || missing+=(natpmpc)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  lab_log "installing ${missing[*]}"
  # No miniupnpd service may start on the host's own interface.
  echo 'miniupnpd miniupnpd/start_daemon boolean false' | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A home router: forward, masquerade on wan0, drop unsolicited inbound except what miniupnpd opens.
lab_router_rules() {
  lab_exec "$1" nft -f - <<'EOF'
table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
}
table inet nat {
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan0" masquerade
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
EOF
}

lab_up() {
  if [[ $(id -u) -ne 0 ]]; then
    lab_log "must run as root (network namespaces)"
    return 1
  fi
  LAB_DIR=$(mktemp -d "/tmp/$LAB-XXXX")
  export LAB_DIR
  local name
  for name in inet relay ra rb pa pb; do
    ip netns add "$(lab_ns $name)"
    lab_exec $name ip link set lo up
  done

  # The internet segment: a bridge with one port per host on it.
  lab_exec inet ip link add br0 type bridge
  lab_exec inet ip link set br0 up
  ip link add eth0 netns "$(lab_ns relay)" type veth peer name to-relay netns "$(lab_ns inet)"
  ip link add wan0 netns "$(lab_ns ra)" type veth peer name to-ra netns "$(lab_ns inet)"
  ip link add wan0 netns "$(lab_ns rb)" type veth peer name to-rb netns "$(lab_ns inet)"
  for port in to-relay to-ra to-rb; do
    lab_exec inet ip link set "$port" master br0
    lab_exec inet ip link set "$port" up
  done
  lab_exec relay ip addr add "$LAB_RELAY_IP/24" dev eth0
  lab_exec relay ip link set eth0 up

  # Two home networks behind two routers.
  local side router_wan router_lan peer_ip
  for side in a b; do
    if [[ $side == a ]]; then router_wan=$LAB_RA_WAN router_lan=$LAB_RA_LAN peer_ip=$LAB_PA_IP; else router_wan=$LAB_RB_WAN router_lan=$LAB_RB_LAN peer_ip=$LAB_PB_IP; fi
    ip link add lan0 netns "$(lab_ns r$side)" type veth peer name eth0 netns "$(lab_ns p$side)"
    lab_exec r$side ip addr add "$router_wan/24" dev wan0
    lab_exec r$side ip addr add "$router_lan/24" dev lan0
    lab_exec r$side ip link set wan0 up
    lab_exec r$side ip link set lan0 up
    lab_exec r$side sysctl -qw net.ipv4.ip_forward=1
    lab_router_rules r$side
    lab_exec p$side ip addr add "$peer_ip/24" dev eth0
    lab_exec p$side ip link set eth0 up
    lab_exec p$side ip route add default via "$router_lan"
  done

  # miniupnpd on router A only, in the foreground (-d), its PID recorded. The deny rule makes
  # external port 40103 unavailable for internal port 40103, so run.sh can check what happens
  # when a router hands out a different external port than the one asked for.
  cat >"$LAB_DIR/miniupnpd.conf" <<EOF
ext_ifname=wan0
listening_ip=lan0
port=0
enable_upnp=yes
enable_natpmp=yes
secure_mode=yes
system_uptime=yes
upnp_table_name=filter
upnp_nat_table_name=nat
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
deny 40103 10.0.1.0/24 40103
allow 1024-65535 10.0.1.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  # `ip netns exec` execs the command, so $! is miniupnpd itself (lab_exec, a function, would
  # put a subshell in between).
  ip netns exec "$(lab_ns ra)" miniupnpd -d -f "$LAB_DIR/miniupnpd.conf" >"$LAB_DIR/miniupnpd.log" 2>&1 &
  echo $! >"$LAB_DIR/miniupnpd.pid"
  disown $! # lab_down stops it by PID; no job-control notice
  # Ready when it listens for NAT-PMP.
  local i
  for i in $(seq 1 50); do
    if lab_exec ra ss -lun 2>/dev/null | grep -q ':5351 '; then
      lab_log "up: namespaces $(lab_ns '*'), miniupnpd pid $(cat "$LAB_DIR/miniupnpd.pid")"
      return 0
    fi
    sleep 0.1
  done
  lab_log "miniupnpd did not start:"
  cat "$LAB_DIR/miniupnpd.log" >&2
  return 1
}

# Stop router A's miniupnpd (by its recorded PID): from then on neither router can map a
# port. Its forwarding rules and the home filter stay as they are.
lab_stop_miniupnpd() {
  local pid i
  pid=$(cat "$LAB_DIR/miniupnpd.pid")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# Tear down: every process in the lab's namespaces by PID, then the namespaces (veths and the
# bridge go with them). Safe to call twice and after a half-built lab.
lab_down() {
  local name ns pids
  for name in pa pb relay ra rb inet; do
    ns=$(lab_ns $name)
    ip netns list 2>/dev/null | grep -qw "^$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      kill $pids 2>/dev/null || true
      sleep 0.2
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
    fi
  done
  for name in pa pb relay ra rb inet; do
    ns=$(lab_ns $name)
    ip netns list 2>/dev/null | grep -qw "^$ns" && ip netns delete "$ns" 2>/dev/null || true
  done
  if [[ -n ${LAB_DIR:-} && -d $LAB_DIR ]]; then
    rm -rf "$LAB_DIR"
  fi
  lab_log "down"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    check-install)
      lab_install
      ;;
    run)
      shift
      [[ ${1:-} == -- ]] && shift
      lab_install
      trap lab_down EXIT
      lab_up
      "$@"
      ;;
    *)
      echo "usage: $0 check-install | run -- CMD..." >&2
      exit 2
      ;;
  esac
fi
