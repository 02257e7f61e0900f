# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# lib.sh: what the server harness scripts (s3rver.sh, rgw.sh) share.
# Sourced, not run. The caller sets PROG, T0 (date +%s%N) and, for die's
# hint, DIE_HINT (a line such as "log: FILE") once it knows its paths.

# usage: the script's own header lines 4-10, then exit 2
usage() {
    sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

elapsed() { printf '%d.%02d' $((($(date +%s%N) - T0) / 1000000000)) \
    $(((($(date +%s%N) - T0) / 10000000) % 100)); }
log() { printf '%s: [+%ss] %s\n' "$PROG" "$(elapsed)" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    [ -n "${DIE_HINT:-}" ] && printf '%s: %s\n' "$PROG" "$DIE_HINT" >&2
    exit 1
}

# harness_dir DIR [create]: DIR made absolute, checked (created when asked)
harness_dir() {
    [ -n "${1:-}" ] || usage
    [ "${2:-}" = create ] && mkdir -p "$1"
    [ -d "$1" ] || die "no such directory: $1"
    (cd "$1" && pwd)
}
