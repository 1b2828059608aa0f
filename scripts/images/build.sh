#!/usr/bin/env bash
# Builds the container images a Kubernetes lab (and an operator) needs as OCI image archives,
# offline from this machine's registries, with no Docker daemon: umoci writes the OCI layout,
# debootstrap makes the Debian root, the binaries come from scripts/externals/build.sh and dist/.
#
#   scripts/images/build.sh [IMAGE…]     images: pause agnhost twill (default: all three)
#   TWILL_IMAGES=/var/cache/twill/images  where the archives go (src/ holds the shared Debian root)
#
# Each archive is an OCI image layout in a tar whose index names the image by its full reference, so
# `ctr -n k8s.io images import archive.tar` (with or without --base-name REPO) stores it under that
# name. pause and agnhost carry the names the v1.37.2 e2e suite and containerd's default sandbox
# image use (test/utils/image/manifest.go), so nothing is ever pulled.
#
# Safe to run any number of times: an archive newer than everything it is made from is kept.
# Progress goes to stderr; stdout gets one line per image: REFERENCE<TAB>ARCHIVE<TAB>BYTES.
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_VERSION=v1.37.2
PAUSE_REF=registry.k8s.io/pause:3.10.2
AGNHOST_REF=registry.k8s.io/e2e-test-images/agnhost:2.66.1
TWILL_VERSION=$(node -p 'require("./package.json").version')
TWILL_REF=${TWILL_IMAGE:-twill.local/twill:$TWILL_VERSION}
SUITE=bookworm
MIRROR=${TWILL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${TWILL_IMAGES:-/var/cache/twill/images}
EXTERNALS=${TWILL_EXTERNALS:-/var/cache/twill/externals}
K8S_BIN=$EXTERNALS/kubernetes-$K8S_VERSION

say() { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }
fail() { printf '[images] %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root: debootstrap and chroot need it (sudo $0 …)"

# Debian packages the build uses, installed only when missing (as scripts/setup.sh does).
need_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

# Every temporary folder and chroot mount, removed on any exit.
WORK=$(mktemp -d /tmp/twill-images.XXXXXX)
MOUNTS=()
cleanup() {
  local m
  for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# fresh TARGET… : true when some TARGET is missing or older than a SOURCE (after the `--`).
stale() {
  local out=$1; shift
  [ -f "$out" ] || return 0
  local src
  for src in "$@"; do [ "$src" -nt "$out" ] && return 0; done
  return 1
}

# pack REF ARCHIVE ROOTDIR [umoci config flags…]: one-layer image of ROOTDIR as an OCI archive.
pack() {
  local ref=$1 out=$2 root=$3; shift 3
  local lay=$WORK/layout-$$-$RANDOM
  local start=$SECONDS
  rm -rf "$lay"
  umoci init --layout "$lay"
  umoci new --image "$lay:$ref"
  # Numeric owners, no atime/ctime: the layer says only what the root holds.
  tar --numeric-owner --sort=name -C "$root" -cf "$WORK/layer.tar" .
  umoci raw add-layer --image "$lay:$ref" "$WORK/layer.tar"
  rm -f "$WORK/layer.tar"
  umoci config --image "$lay:$ref" --os linux --architecture amd64 --author twill "$@"
  umoci gc --layout "$lay"
  mkdir -p "$(dirname "$out")"
  tar -C "$lay" -cf "$out.tmp.$$" oci-layout index.json blobs
  mv -f "$out.tmp.$$" "$out"
  rm -rf "$lay"
  say "$ref → $out ($(du -h "$out" | cut -f1), packed in $((SECONDS - start)) s)"
}

# The Debian minbase root shared by agnhost's image and Twill's, made once and cached as a tarball.
BASE_TAR=$CACHE/src/debian-$SUITE-minbase.tar
base_rootfs() {
  if [ -f "$BASE_TAR" ]; then return; fi
  need_pkgs debootstrap
  local dir=$WORK/base start=$SECONDS
  say "debian $SUITE minbase: debootstrap from $MIRROR (about 2 min; cached in $BASE_TAR)"
  debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed (is $MIRROR reachable?)"; }
  mkdir -p "$CACHE/src"
  tar --numeric-owner -C "$dir" -cf "$BASE_TAR.tmp.$$" . && mv -f "$BASE_TAR.tmp.$$" "$BASE_TAR"
  rm -rf --one-file-system "$dir"
  say "debian $SUITE minbase: done in $((SECONDS - start)) s ($(du -h "$BASE_TAR" | cut -f1))"
}

# debian_root DIR PACKAGE…: the cached minbase root unpacked into DIR with PACKAGEs added by apt in
# a chroot (no daemons started), then stripped of apt lists, caches, docs and device nodes.
debian_root() {
  local dir=$1; shift
  base_rootfs
  rm -rf --one-file-system "$dir"; mkdir -p "$dir"
  tar --numeric-owner -C "$dir" -xf "$BASE_TAR"
  if [ $# -gt 0 ]; then
    say "apt-get install in the image root: $*"
    mount -t proc proc "$dir/proc"; MOUNTS+=("$dir/proc")
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod 755 "$dir/usr/sbin/policy-rc.d"
    local log=$WORK/apt.log
    { chroot "$dir" apt-get update -qq && chroot "$dir" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@"; } >"$log" 2>&1 \
      || { tail -n 20 "$log" >&2; fail "apt-get install in the image root failed"; }
    umount "$dir/proc"
    rm -f "$dir/usr/sbin/policy-rc.d"
  fi
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/log/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/dev/* "$dir"/tmp/* \
    "$dir"/etc/resolv.conf "$dir"/etc/hostname
  : >"$dir/etc/resolv.conf"
}

image_pause() {
  local bin=$K8S_BIN/pause out=$CACHE/pause-3.10.2.tar
  [ -x "$bin" ] || fail "pause: $bin is missing; run scripts/externals/build.sh pause"
  if stale "$out" "$bin" "$0"; then
    say "pause: scratch + $bin"
    local root=$WORK/pause-root
    mkdir -p "$root"
    install -m 0755 "$bin" "$root/pause"
    pack "$PAUSE_REF" "$out" "$root" --config.entrypoint /pause --config.user 65535:65535
  else say "pause: cached"; fi
  report "$PAUSE_REF" "$out"
}

image_agnhost() {
  local bin=$K8S_BIN/agnhost out=$CACHE/agnhost-2.66.1.tar
  [ -x "$bin" ] || fail "agnhost: $bin is missing; run scripts/externals/build.sh agnhost"
  if stale "$out" "$bin" "$0"; then
    local start=$SECONDS root=$WORK/agnhost-root
    say "agnhost: debian minbase + the tools the e2e tests exec + $bin"
    # What agnhost's Dockerfile installs, by Debian's names: dig (dnsutils), curl, nc (OpenBSD),
    # ip/ss, iperf, bash, ipcs (util-linux), socat; and wget, which the upstream (Alpine) image
    # has from busybox and the Services e2e tests run (verifyServeHostnameServiceUp).
    debian_root "$root" dnsutils curl netcat-openbsd iproute2 iperf bash util-linux socat wget
    install -m 0755 "$bin" "$root/agnhost"
    ln -sf agnhost "$root/agnhost-2"
    mkdir -p "$root/uploads"
    ln -sf /usr/bin/iperf "$root/usr/local/bin/iperf"
    # The user and groups the SupplementalGroups e2e test expects in the image (`id -G` as uid 1000
    # prints "1000 50000 …": its own group first, then the image's group).
    chroot "$root" groupadd -g 50000 group-defined-in-image
    chroot "$root" groupadd -g 1000 user-defined-in-image
    chroot "$root" useradd -u 1000 -g 1000 -M -G group-defined-in-image user-defined-in-image
    pack "$AGNHOST_REF" "$out" "$root" --config.entrypoint /agnhost --config.cmd pause \
      --config.exposedports 80/tcp --config.exposedports 8080/tcp --config.exposedports 8081/tcp \
      --config.exposedports 9376/tcp --config.exposedports 5000/tcp
    say "agnhost: built in $((SECONDS - start)) s"
  else say "agnhost: cached"; fi
  report "$AGNHOST_REF" "$out"
}

image_twill() {
  local out=$CACHE/twill-$TWILL_VERSION.tar
  local inputs=(dist/twill.js dist/twill-cni dist/twill-cni.runtime package.json package-lock.json "$0" "$(command -v node)")
  local f
  for f in "${inputs[@]:0:3}"; do [ -f "$f" ] || fail "twill: $f is missing; run make build first"; done
  if stale "$out" "${inputs[@]}"; then
    local start=$SECONDS root=$WORK/twill-root
    say "twill: debian minbase + nftables, iproute2, conntrack + node + dist/"
    debian_root "$root" nftables iproute2 conntrack ca-certificates kmod
    # Node from this host: one self-contained binary linked against bookworm's glibc, which is the
    # image's too (checked below by running it in the image root).
    install -m 0755 "$(readlink -f "$(command -v node)")" "$root/usr/local/bin/node"
    chroot "$root" /usr/local/bin/node --version >/dev/null || fail "twill: the host's node does not run in the image root"
    local app=$root/opt/twill
    mkdir -p "$app/dist" "$app/bin"
    cp dist/twill.js dist/twill-cni dist/twill-cni.runtime "$app/dist/"
    [ -f dist/twill-cni.cjs ] && cp dist/twill-cni.cjs "$app/dist/"
    cp package.json package-lock.json "$app/"
    # The agent bundle leaves netlink, koffi and etcd3 external (native or file-loading packages):
    # install the production dependencies only, from npm's cache when it has them.
    # Optional dependencies stay in: koffi's prebuilt native module is one (npm picks the package
    # for this os/cpu). Without it the agent configures pod namespaces by running `ip` in them
    # (tens of ms more per ADD). Bun (the shim's compiler, also optional) is dropped: the shim is
    # already compiled into dist/twill-cni.
    say "twill: npm ci --omit=dev (production dependencies, the native modules for linux-x64)"
    (cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    rm -rf "$app/package-lock.json" "$app/node_modules/@oven"
    chroot "$root" /usr/local/bin/node -e "require('/opt/twill/node_modules/koffi').load('libc.so.6').func('int setns(int, int)')" \
      || fail "twill: koffi cannot bind setns(2) in the image root (its native module for this platform is missing)"
    chroot "$root" /usr/local/bin/node -e "require('/opt/twill/node_modules/netlink')" \
      || fail "twill: the netlink package does not load in the image root (its native module is missing)"
    printf '#!/bin/sh\nexec /usr/local/bin/node /opt/twill/dist/twill.js "$@"\n' >"$app/bin/twill"
    chmod 755 "$app/bin/twill"
    ln -sf /opt/twill/bin/twill "$root/usr/local/bin/twill"
    if ! grep -q '^bun' dist/twill-cni.runtime; then
      say "twill: WARNING dist/twill-cni is the Node bundle, not a self-contained executable: the host needs Node to run it"
    fi
    pack "$TWILL_REF" "$out" "$root" --config.entrypoint /usr/local/bin/twill --config.cmd agent \
      --config.workingdir /opt/twill --config.label "org.opencontainers.image.version=$TWILL_VERSION"
    say "twill: built in $((SECONDS - start)) s"
  else say "twill: cached"; fi
  report "$TWILL_REF" "$out"
}

REPORTS=()
report() { REPORTS+=("$1	$2	$(stat -c %s "$2")"); }

need_pkgs umoci tar
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(pause agnhost twill)
for i in "${images[@]}"; do
  case $i in
    pause) image_pause ;;
    agnhost) image_agnhost ;;
    twill) image_twill ;;
    *) fail "unknown image '$i' (pause, agnhost, twill)" ;;
  esac
done
for r in "${REPORTS[@]}"; do printf '%s\n' "$r"; done
