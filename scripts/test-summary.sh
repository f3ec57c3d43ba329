#!/usr/bin/env bash
# Totals the TRX files of one `dotnet test` run and prints the closing line
# `N passed, M failed, K skipped`. Exits non-zero when anything failed or nothing ran.
set -euo pipefail
dir=${1:?usage: test-summary.sh RESULTS_DIR}
passed=0 failed=0 skipped=0 total=0
shopt -s nullglob
files=("$dir"/*.trx)
for f in "${files[@]}"; do
  counters=$(grep -o '<Counters [^>]*>' "$f" | head -n 1)
  get() { printf '%s' "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  t=$(get total); p=$(get passed); fl=$(get failed); e=$(get error); to=$(get timeout); a=$(get aborted)
  total=$((total + t)); passed=$((passed + p)); failed=$((failed + fl + e + to + a))
  skipped=$((skipped + t - p - fl - e - to - a))
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "${#files[@]}" -gt 0 ] || { echo "no test results found in $dir" >&2; exit 1; }
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
