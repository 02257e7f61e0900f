#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# install-deps.sh: install every Debian package and npm test server that
# pcachefs needs to build, run and test, on a fresh Debian 12 machine.
# Idempotent: packages already installed are left alone, and apt is only
# consulted when something is missing.
#
#   scripts/install-deps.sh            build + runtime + test dependencies
#   scripts/install-deps.sh --runtime  build + runtime only (no S3 test servers)
set -euo pipefail

BUILD_PKGS=(meson ninja-build pkg-config gcc libc6-dev
    libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libjansson-dev
    libevent-dev libexpat1-dev libxxhash-dev check libsubunit-dev
    clang-format curl ca-certificates procps iproute2 psmisc)
TEST_PKGS=(python3 python3-botocore
    radosgw ceph-mon ceph-osd rsync attr xxhash etcd-server s3fs)
S3RVER_VERSION=3.7.1
NPM_PREFIX=${PCACHE_NPM_PREFIX:-/opt/pcachefs-test/npm}

log() { printf 'install-deps: %s\n' "$*" >&2; }

missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed" || printf '%s\n' "$p"
    done
}

install_pkgs() {
    local missing made=0
    mapfile -t missing < <(missing_pkgs "$@")
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    # Ceph's maintainer scripts would otherwise start system-wide services.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null || {
        [ $made = 1 ] && rm -f /usr/sbin/policy-rc.d
        return 1
    }
    [ $made = 1 ] && rm -f /usr/sbin/policy-rc.d
    return 0
}

install_s3rver() {
    local pj="$NPM_PREFIX/node_modules/s3rver/package.json"
    if grep -q "\"version\": \"$S3RVER_VERSION\"" "$pj" 2>/dev/null; then
        return 0
    fi
    log "npm install s3rver@$S3RVER_VERSION into $NPM_PREFIX"
    mkdir -p "$NPM_PREFIX"
    [ -f "$NPM_PREFIX/package.json" ] ||
        echo '{"name":"pcachefs-test-servers","private":true}' \
            > "$NPM_PREFIX/package.json"
    (cd "$NPM_PREFIX" && npm install --no-audit --no-fund \
        --loglevel=error "s3rver@$S3RVER_VERSION") >&2
}

main() {
    if [ "$(id -u)" != 0 ]; then
        log "run as root (apt-get needs it)"
        exit 1
    fi
    install_pkgs "${BUILD_PKGS[@]}"
    if [ "${1:-}" != --runtime ]; then
        install_pkgs "${TEST_PKGS[@]}"
        # The machine image may ship its own Node.js with npm bundled; Debian's
        # npm package conflicts with that, so only install what is missing.
        command -v node >/dev/null || install_pkgs nodejs
        command -v npm >/dev/null || install_pkgs npm
        install_s3rver
    fi
    log "all dependencies present"
}

main "$@"
