#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# clang-format.sh [--check]: format (or check the format of) every C file
# tracked in the tree. Run by `ninja clang-format` / `ninja clang-format-check`.
set -euo pipefail
cd "${MESON_SOURCE_ROOT:-$(dirname "$0")/..}"
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null ||
    find common pcachefs pcpd pmsd tests -name '*.[ch]')
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = --check ]; then
    exec clang-format --dry-run --Werror "${files[@]}"
fi
exec clang-format -i "${files[@]}"
