#!/usr/bin/env bash
# `make tidy`: clang-tidy (.clang-tidy at the top) on every .c file the build
# compiles outside tests/, with the build's compile_commands.json. Prints the
# warnings and exits 1 if there is any.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f "$build/compile_commands.json" ] || { echo "tidy: no $build/compile_commands.json (build first)" >&2; exit 2; }
# every compiled .c of the project (CMake writes "file": "/abs/path.c"), tests/ left out
files=$(sed -n 's|^ *"file": "'"$top"'/\(.*\.c\)",\{0,1\}$|\1|p' "$build/compile_commands.json" \
        | grep -v '^tests/' | sort -u)
out=$(mktemp); trap 'rm -f "$out"' EXIT
# -UNDEBUG: the analyzer sees the assert()ed invariants even on a release build
echo "$files" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet --extra-arg=-UNDEBUG \
  >"$out" 2>/dev/null || true
n=$(grep -cE ': (warning|error): ' "$out" || true)
if [ "$n" -gt 0 ]; then
  cat "$out"
  echo "tidy: $n warning(s) in $(echo "$files" | wc -l) files" >&2
  exit 1
fi
echo "tidy: $(echo "$files" | wc -l) files clean"
