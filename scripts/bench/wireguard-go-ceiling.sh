#!/bin/bash
# wireguard-go between two namespaces over one veth, without Twill: the ceiling of the userspace
# tunnel on this machine, to compare `twill lab bench --backend wireguard` against.
# Root; run under the kernel-test lock: flock /tmp/twill-kernel.lock scripts/bench/wireguard-go-ceiling.sh 8 plain wg wg-procs1
# usage: wireguard-go-ceiling.sh SECONDS VARIANT...
#   plain       iperf3 over the veth alone
#   wg          through wireguard-go, tunnel MTU 1440 (what Twill sets on a 1500 underlay)
#   wg-mtu1420  tunnel MTU 1420 (wg-quick's default)
#   wg-procs1   wireguard-go with GOMAXPROCS=1 (wg-procs4: 4)
#   wg-gro      veth GRO switched on
# Prints Gbit/s, iperf3 retransmits, the CPU ticks (1/100 s) both wireguard-go used, and the load.
set -u
WG=$(ls -d /var/cache/twill/externals/wireguard-go-*/wireguard-go | tail -1)
T=${1:-5}; shift
D=${TMPDIR:-/tmp}/twill-wgc; mkdir -p $D
cleanup() {
  for p in $D/*.pid; do [ -f "$p" ] && kill $(cat $p) 2>/dev/null; done
  sleep 0.3
  ip netns del twwgca 2>/dev/null; ip netns del twwgcb 2>/dev/null
  for p in $D/*.pid; do rm -f $p; done
}
trap cleanup EXIT
setup() { # $1 = extra env for wireguard-go, $2 = mtu, $3 = veth gro on/off
  cleanup
  ip netns add twwgca; ip netns add twwgcb
  ip link add twwgcva netns twwgca type veth peer name twwgcvb netns twwgcb
  ip -n twwgca addr add 10.99.0.1/24 dev twwgcva; ip -n twwgcb addr add 10.99.0.2/24 dev twwgcvb
  ip -n twwgca link set twwgcva up; ip -n twwgcb link set twwgcvb up
  ip -n twwgca link set lo up; ip -n twwgcb link set lo up
  if [ "${3:-}" = gro ]; then nsenter --net=/run/netns/twwgca ethtool -K twwgcva gro on >/dev/null 2>&1; nsenter --net=/run/netns/twwgcb ethtool -K twwgcvb gro on >/dev/null 2>&1; fi
  for s in a b; do
    mkdir -p $D/$s
    nsenter --net=/run/netns/twwgc$s env $1 WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error unshare --mount --propagation private -- sh -c 'mkdir -p /var/run/wireguard && mount --bind "$1" /var/run/wireguard && exec "$2" -f twwgct' x $D/$s $WG >$D/$s.log 2>&1 &
    echo $! > $D/$s.pid
  done
  for i in $(seq 50); do [ -S $D/a/twwgct.sock ] && [ -S $D/b/twwgct.sock ] && break; sleep 0.1; done
  ka=$(wg genkey); kb=$(wg genkey)
  pa=$(echo $ka | wg pubkey); pb=$(echo $kb | wg pubkey)
  echo $ka > $D/ka; echo $kb > $D/kb
  nsenter -t $(cat $D/a.pid) -m -n wg set twwgct private-key $D/ka listen-port 51999 peer $pb endpoint 10.99.0.2:51999 allowed-ips 10.98.0.2/32
  nsenter -t $(cat $D/b.pid) -m -n wg set twwgct private-key $D/kb listen-port 51999 peer $pa endpoint 10.99.0.1:51999 allowed-ips 10.98.0.1/32
  ip -n twwgca addr add 10.98.0.1/24 dev twwgct; ip -n twwgcb addr add 10.98.0.2/24 dev twwgct
  ip -n twwgca link set twwgct mtu $2 up; ip -n twwgcb link set twwgct mtu $2 up
}
measure() { # $1 = label, $2 = dst ip
  [ -z "${SHOWN:-}" ] && [ "$2" = 10.98.0.2 ] && { SHOWN=1; echo "offloads on the tun: $(nsenter --net=/run/netns/twwgca ethtool -k twwgct 2>/dev/null | grep -E '^(tcp-segmentation-offload|generic-receive-offload|tx-udp-segmentation|tx-checksumming):' | tr '\n' ' ')"; echo "offloads on the veth: $(nsenter --net=/run/netns/twwgca ethtool -k twwgcva 2>/dev/null | grep -E '^(tx-checksumming|generic-receive-offload|tx-udp-segmentation):' | tr '\n' ' ')"; }
  nsenter --net=/run/netns/twwgcb iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
  sleep 0.3
  ta=$(cat /proc/$(cat $D/a.pid)/stat 2>/dev/null | awk '{print $14+$15}'); tb=$(cat /proc/$(cat $D/b.pid)/stat 2>/dev/null | awk '{print $14+$15}')
  out=$(nsenter --net=/run/netns/twwgca iperf3 -c $2 -p 5299 -t $T -J 2>&1)
  ta2=$(cat /proc/$(cat $D/a.pid)/stat 2>/dev/null | awk '{print $14+$15}'); tb2=$(cat /proc/$(cat $D/b.pid)/stat 2>/dev/null | awk '{print $14+$15}')
  gbps=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["end"]["sum_received"]["bits_per_second"]/1e9,2), d["end"]["sum_sent"].get("retransmits"))')
  cpu=$(( ${ta2:-0} - ${ta:-0} + ${tb2:-0} - ${tb:-0} ))
  echo "$1: $gbps Gbit/s (retransmits), wireguard-go CPU ${cpu} ticks in ${T}s; load $(cut -d' ' -f1-3 /proc/loadavg)"
}
for v in "$@"; do
  case $v in
    plain) setup "" 1440; measure plain-veth 10.99.0.2 ;;
    wg) setup "" 1440; measure wg-mtu1440 10.98.0.2 ;;
    wg-mtu1420) setup "" 1420; measure wg-mtu1420 10.98.0.2 ;;
    wg-procs1) setup "GOMAXPROCS=1" 1440; measure wg-gomaxprocs1 10.98.0.2 ;;
    wg-procs4) setup "GOMAXPROCS=4" 1440; measure wg-gomaxprocs4 10.98.0.2 ;;
    wg-gro) setup "" 1440 gro; measure wg-veth-gro-on 10.98.0.2 ;;
  esac
done
