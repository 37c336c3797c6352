#!/usr/bin/env bash
# //third_party:absl_static must name the archives of exactly the libraries
# //third_party:absl_shared links as shared ones, in the same order (static linking
# resolves left to right, so the order matters there too).
# Usage: third_party_lists_test.sh PATH_TO_third_party/BUILD
set -uo pipefail
build="$1"

# The quoted -l options of one cc_library, one per line.
linkopts() {
  awk -v target="name = \"$1\"," '
    index($0, target) { inside = 1 }
    inside && /^\)/ { exit }
    inside { print }
  ' "$build" | grep -o '"-l[^"]*"' | tr -d '"'
}

shared=$(linkopts absl_shared)
# -l:libNAME.a names the archive of -lNAME.
static=$(linkopts absl_static | sed 's/^-l:lib\(.*\)\.a$/-l\1/')
[ -n "$shared" ] || { echo "FAIL: no -l options found in :absl"; exit 1; }
if [ "$shared" != "$static" ]; then
  echo "FAIL: :absl and :absl_static differ (shared vs static):"
  diff <(echo "$shared") <(echo "$static")
  exit 1
fi
echo "PASS: $(echo "$shared" | wc -l) libraries, same order"
