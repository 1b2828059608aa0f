#!/usr/bin/env bash
# Builds the pinned external parts Twill runs beside in a Kubernetes lab — Kubernetes, containerd,
# runc, crictl, the e2e suite, agnhost and pause, and wireguard-go (userspace WireGuard for kernels
# without the module) — from their published Go modules into a cache that
# later runs reuse. Nothing of these projects is committed here: the Go module proxy is the source.
#
#   scripts/externals/build.sh [PART…]     parts: kubernetes containerd runc crictl e2e agnhost pause helm
#                                           wireguard-go (default: every part but e2e and helm); `all` adds them
#   TWILL_EXTERNALS=/var/cache/twill/externals   where the binaries go (one folder per part+version)
#
# Safe to run any number of times: a part whose binaries exist is skipped. Progress goes to stderr;
# the last line on stdout is the cache folder.
set -euo pipefail

K8S_VERSION=v1.37.2
CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.5.3
CRICTL_VERSION=v1.37.0
HELM_VERSION=v3.22.0
# wireguard-go publishes no tags on the module proxy; this pseudo-version is the 2026-05-22 tree.
# Debian's 2022 package carries ~0.27 Gbit/s here, this one ~1.4 (issue 12).
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446
CACHE=${TWILL_EXTERNALS:-/var/cache/twill/externals}
export GOFLAGS=-buildvcs=false
export GOTOOLCHAIN=local

say() { printf '\033[1m[externals]\033[0m %s\n' "$*" >&2; }
fail() { printf '[externals] %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "Go is needed to build the Kubernetes lab's parts (apt-get install golang-go, or Go ≥ 1.26 on PATH)"

# elapsed PID LABEL: a progress line every 30 s while a long build runs.
progress() {
  local pid=$1 label=$2 start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if (( (SECONDS - start) % 30 < 5 )); then say "$label: still building ($((SECONDS - start)) s)"; fi
  done
}

# run LABEL LOG CMD…: runs a build step with its output in LOG, progress on stderr, the log's tail on failure.
run() {
  local label=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  local pid=$!
  progress "$pid" "$label" &
  local ppid=$!
  local rc=0
  wait "$pid" || rc=$?
  kill "$ppid" 2>/dev/null || true
  wait "$ppid" 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    tail -n 30 "$log" >&2
    fail "$label failed (exit $rc); the whole log is $log"
  fi
}

have_all() { local d=$1; shift; for b in "$@"; do [ -x "$d/$b" ] || return 1; done; }

k8s_mod_dir() {
  local dir
  dir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$dir" ] || fail "could not download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"
  echo "$dir"
}

# A module that requires k8s.io/kubernetes and pins each of its staging modules to the published
# v0.x.y of the same release: the one shape `go build` accepts for a module with replace directives.
k8s_wrapper() {
  local w=$CACHE/src/k8s-wrapper-$K8S_VERSION minor staging
  if [ -f "$w/go.sum" ] && [ -f "$w/.complete" ]; then echo "$w"; return; fi
  local mod; mod=$(k8s_mod_dir)
  minor=${K8S_VERSION#v1.}
  mkdir -p "$w"
  staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$mod/go.mod")
  {
    echo "module twill.local/k8s-wrapper"
    echo
    echo "go $(sed -n 's/^go //p' "$mod/go.mod")"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m v0.$minor"; done
    echo ")"
  } >"$w/go.mod"
  cat >"$w/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/test/e2e"
	_ "k8s.io/kubernetes/test/images/agnhost"
	_ "k8s.io/kubectl/pkg/cmd"
)
EOF
  say "resolving Kubernetes $K8S_VERSION's module graph"
  run "go mod tidy (kubernetes)" "$CACHE/logs/k8s-mod.log" bash -c "cd '$w' && go mod tidy -e"
  touch "$w/.complete"
  echo "$w"
}

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local f=()
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=("-X $pkg.gitVersion=$K8S_VERSION" "-X $pkg.gitMajor=1" "-X $pkg.gitMinor=$minor"
      "-X $pkg.gitTreeState=clean" "-X $pkg.buildDate=2026-01-01T00:00:00Z")
  done
  echo "-s -w ${f[*]}"
}

build_kubernetes() {
  local out=$CACHE/kubernetes-$K8S_VERSION
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  if have_all "$out" "${bins[@]}"; then say "kubernetes $K8S_VERSION: cached"; return; fi
  local w; w=$(k8s_wrapper)
  mkdir -p "$out"
  local ld; ld=$(k8s_ldflags)
  say "kubernetes $K8S_VERSION: building ${bins[*]} (about 11 min on 2 cores from a cold Go cache)"
  run "kubernetes" "$CACHE/logs/kubernetes.log" bash -c "cd '$w' && CGO_ENABLED=0 go build -trimpath -ldflags '$ld' -o '$out/' \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy && \
    go build -trimpath -ldflags '$ld' -o '$out/' k8s.io/kubernetes/cmd/kubelet && \
    CGO_ENABLED=0 go build -trimpath -ldflags '$ld' -o '$out/kubectl' k8s.io/kubernetes/cmd/kubectl"
  have_all "$out" "${bins[@]}" || fail "kubernetes: the build finished but binaries are missing in $out"
  say "kubernetes $K8S_VERSION: done"
}

build_e2e() {
  local out=$CACHE/kubernetes-$K8S_VERSION
  if have_all "$out" e2e.test; then say "e2e.test $K8S_VERSION: cached"; return; fi
  local w; w=$(k8s_wrapper)
  mkdir -p "$out"
  local ld; ld=$(k8s_ldflags)
  say "e2e.test $K8S_VERSION: building the upstream e2e suite (several minutes)"
  run "e2e.test" "$CACHE/logs/e2e.log" bash -c "cd '$w' && CGO_ENABLED=0 go test -c -trimpath -ldflags '$ld' -o '$out/e2e.test' k8s.io/kubernetes/test/e2e"
  say "e2e.test: done"
}

build_agnhost() {
  local out=$CACHE/kubernetes-$K8S_VERSION
  if have_all "$out" agnhost; then say "agnhost: cached"; return; fi
  local w; w=$(k8s_wrapper)
  mkdir -p "$out"
  say "agnhost: building (static)"
  run "agnhost" "$CACHE/logs/agnhost.log" bash -c "cd '$w' && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o '$out/agnhost' k8s.io/kubernetes/test/images/agnhost"
}

build_pause() {
  local out=$CACHE/kubernetes-$K8S_VERSION
  if have_all "$out" pause; then say "pause: cached"; return; fi
  command -v gcc >/dev/null || fail "pause: gcc is needed (apt-get install gcc libc6-dev)"
  local mod; mod=$(k8s_mod_dir)
  mkdir -p "$out"
  say "pause: compiling build/pause/linux/pause.c (static)"
  gcc -Os -static -Wall -Werror -DVERSION="\"3.10-twill\"" -o "$out/pause" "$mod/build/pause/linux/pause.c"
}

build_containerd() {
  local out=$CACHE/containerd-$CONTAINERD_VERSION
  if have_all "$out" containerd ctr containerd-shim-runc-v2; then say "containerd $CONTAINERD_VERSION: cached"; return; fi
  mkdir -p "$out"
  say "containerd $CONTAINERD_VERSION: building containerd, ctr, containerd-shim-runc-v2 (~2 min)"
  local v=github.com/containerd/containerd/v2
  run "containerd" "$CACHE/logs/containerd.log" env CGO_ENABLED=0 GOBIN="$out" go install -tags no_btrfs -trimpath \
    -ldflags "-s -w -X $v/version.Version=$CONTAINERD_VERSION" \
    "$v/cmd/containerd@$CONTAINERD_VERSION" "$v/cmd/ctr@$CONTAINERD_VERSION" "$v/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
}

build_crictl() {
  local out=$CACHE/cri-tools-$CRICTL_VERSION
  if have_all "$out" crictl; then say "crictl $CRICTL_VERSION: cached"; return; fi
  mkdir -p "$out"
  say "crictl $CRICTL_VERSION: building"
  run "crictl" "$CACHE/logs/crictl.log" env CGO_ENABLED=0 GOBIN="$out" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

# Helm renders deploy/helm/twill in the test that checks the chart against deploy/twill.yaml.
build_helm() {
  local out=$CACHE/helm-$HELM_VERSION
  if have_all "$out" helm; then say "helm $HELM_VERSION: cached"; return; fi
  mkdir -p "$out"
  say "helm $HELM_VERSION: building (~2 min)"
  run "helm" "$CACHE/logs/helm.log" env CGO_ENABLED=0 GOBIN="$out" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_runc() {
  local out=$CACHE/runc-$RUNC_VERSION
  if have_all "$out" runc; then say "runc $RUNC_VERSION: cached"; return; fi
  if ! dpkg-query -W -f='${Status}' libseccomp-dev 2>/dev/null | grep -q 'install ok installed'; then
    say "runc: installing libseccomp-dev (runc is built with seccomp)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libseccomp-dev pkg-config >/dev/null
  fi
  mkdir -p "$out"
  say "runc $RUNC_VERSION: building (Debian's 1.1.5 fails on this kernel)"
  run "runc" "$CACHE/logs/runc.log" env CGO_ENABLED=1 GOBIN="$out" go install -tags seccomp -trimpath \
    -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" "github.com/opencontainers/runc@$RUNC_VERSION"
}

build_wireguard_go() {
  local out=$CACHE/wireguard-go-$WIREGUARD_GO_VERSION
  if have_all "$out" wireguard-go; then say "wireguard-go: cached"; return; fi
  mkdir -p "$out"
  say "wireguard-go $WIREGUARD_GO_VERSION: building (static, ~1 min)"
  run "wireguard-go" "$CACHE/logs/wireguard-go.log" env CGO_ENABLED=0 GOBIN="$out" go install -trimpath \
    -ldflags "-s -w" "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
  # `go install` names the binary after the module path's last element.
  mv "$out/wireguard" "$out/wireguard-go"
  have_all "$out" wireguard-go || fail "wireguard-go: the build finished but $out/wireguard-go is missing"
}

mkdir -p "$CACHE/logs" "$CACHE/src"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(containerd runc crictl pause kubernetes agnhost wireguard-go)
[ "${parts[*]}" != all ] || parts=(containerd runc crictl pause kubernetes agnhost wireguard-go e2e helm)
for p in "${parts[@]}"; do
  case $p in
    kubernetes) build_kubernetes ;;
    e2e) build_e2e ;;
    agnhost) build_agnhost ;;
    pause) build_pause ;;
    containerd) build_containerd ;;
    runc) build_runc ;;
    crictl) build_crictl ;;
    helm) build_helm ;;
    wireguard-go) build_wireguard_go ;;
    *) fail "unknown part '$p' (kubernetes, containerd, runc, crictl, e2e, agnhost, pause, helm, wireguard-go, all)" ;;
  esac
done
echo "$CACHE"
