#!/usr/bin/env bash
# Runs the upstream Kubernetes e2e tests (e2e.test of k8s.io/kubernetes v1.37.2, built from its Go
# module) against a Kubernetes lab with Twill installed from deploy/twill.yaml.
#
#   scripts/e2e/run-upstream.sh [--name LAB] [--nodes N] [--focus REGEX] [--skip REGEX] [--no-kube-proxy] [--keep]
#                               (E2E_TIMEOUT=2h)
#
# Default focus: the "Networking Granular Checks: Pods" conformance tests and the [sig-network]
# NetworkPolicy (Netpol) tests. A lab named LAB is brought up when it does not exist (and taken down
# afterwards unless --keep). --no-kube-proxy brings the lab up without kube-proxy (Twill serves
# Services). --skip adds to the skipped specs. The JUnit report and the log land in
# /var/cache/twill/e2e/<time>/.
set -euo pipefail
cd "$(dirname "$0")/../.."

LAB=e2e NODES=2 KEEP=0 UP_FLAGS=() SKIP='\[Disruptive\]|\[Serial\]|\[Flaky\]|IPv6|SCTP'
FOCUS='Networking Granular Checks: Pods|\[sig-network\] Netpol'
while [ $# -gt 0 ]; do
  case $1 in
    --name) LAB=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --focus) FOCUS=$2; shift 2 ;;
    --skip) SKIP="$SKIP|$2"; shift 2 ;;
    --no-kube-proxy) UP_FLAGS+=(--no-kube-proxy); shift ;;
    --keep) KEEP=1; shift ;;
    *) echo "run-upstream: unknown argument $1 (--name LAB, --nodes N, --focus REGEX, --skip REGEX, --no-kube-proxy, --keep)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[e2e]\033[0m %s\n' "$*" >&2; }
E2E=${TWILL_EXTERNALS:-/var/cache/twill/externals}/kubernetes-v1.37.2/e2e.test
[ -x "$E2E" ] || ./scripts/externals/build.sh e2e >/dev/null
./scripts/images/build.sh pause agnhost twill >/dev/null

made=0
if ! ./bin/twill lab kubeconfig --name "$LAB" >/dev/null 2>&1; then
  say "bringing up Kubernetes lab $LAB ($NODES nodes)"
  ./bin/twill lab up --kubernetes --nodes "$NODES" --name "$LAB" "${UP_FLAGS[@]}" >&2
  made=1
fi
cleanup() { if [ "$made" = 1 ] && [ "$KEEP" = 0 ]; then ./bin/twill lab down --name "$LAB" >&2 || true; fi; }
trap cleanup EXIT

KC=$(./bin/twill lab kubeconfig --name "$LAB" 2>/dev/null)
OUT=/var/cache/twill/e2e/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
say "running e2e.test --ginkgo.focus='$FOCUS' --ginkgo.skip='$SKIP' (report: $OUT)"
# The apiserver is reachable from the lab's underlay namespace only; nothing leaves the host.
# Disruptive, serial, flaky, IPv6 (the lab is IPv4) and SCTP tests are skipped.
set +e
nsenter --net="/run/netns/twl-$LAB-ul" "$E2E" \
  --kubeconfig="$KC" --provider=skeleton --report-dir="$OUT" \
  --ginkgo.focus="$FOCUS" --ginkgo.skip="$SKIP" \
  --ginkgo.timeout="${E2E_TIMEOUT:-2h}" --ginkgo.no-color --allowed-not-ready-nodes=0 \
  --node-os-distro=debian 2>&1 | tee "$OUT/e2e.log"
rc=${PIPESTATUS[0]}
set -e
say "e2e.test exited $rc; summary:"
grep -E '^(Ran|PASS|FAIL|SUCCESS)|Passed.*Failed' "$OUT/e2e.log" | tail -5 >&2 || true
exit "$rc"
