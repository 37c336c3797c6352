#!/usr/bin/env bash
# The GPU host's scripts fit their time: for each script given, adds up the
# time limit of every step (`step NAME LIMIT ...` and `gpu_suite NAME LIMIT`
# calls), each plus the `timeout -k` kill grace, and fails when the total
# could pass 240 s, when a step's limit is not a literal number (it could
# not be added up), when a step is called in a loop (it would count once
# but run many times), or when the script's default budget is over 240 s.
# Calls inside function bodies are the wrappers' own plumbing and are not
# steps. Usage: script_budget_test.sh SCRIPT...
set -uo pipefail
max_s=240
failures=0

# budget SCRIPT: prints "TOTAL STEPS" or an error line starting "error:".
budget() {
  awk -v max="$max_s" '
    function fail(msg) { print "error: " FILENAME ":" FNR ": " msg; bad = 1 }
    /^[[:space:]]*#/ { next }
    /^[A-Za-z_][A-Za-z0-9_]*\(\)[[:space:]]*\{/ { in_function = 1; next }
    in_function && /^\}/ { in_function = 0; next }
    match($0, /timeout -k [0-9]+/) { grace = substr($0, RSTART + 11, RLENGTH - 11) + 0 }
    match($0, /_BUDGET_S:-[0-9]+\}/) {
      default_budget = substr($0, RSTART + 11, RLENGTH - 12) + 0
      if (default_budget > max) fail("default budget " default_budget " s is over " max " s")
    }
    /^[[:space:]]*(for|while|until)[[:space:]].*(;[[:space:]]*do|[[:space:]]do)[[:space:]]*$/ { loops++ }
    /^[[:space:]]*done([[:space:];|&]|$)/ { if (loops > 0) loops-- }
    !in_function && $1 ~ /^(step|gpu_suite)$/ {
      if (loops > 0) fail("step " $2 " is called in a loop; write each call out")
      else if ($3 !~ /^[0-9]+$/) fail("step " $2 " has no literal time limit (" $3 ")")
      else { limits += $3; steps++ }
    }
    END {
      if (bad) exit 1
      if (steps == 0) { print "error: " FILENAME ": no steps found"; exit 1 }
      if (grace == "") { print "error: " FILENAME ": no timeout -k grace found"; exit 1 }
      print limits + steps * grace, steps, limits, grace
    }
  ' "$1"
}

# expect_over NAME SCRIPT_TEXT: the check must reject this script.
expect_rejected() {
  local file="${TEST_TMPDIR:-$(mktemp -d)}/$1.sh"
  printf '%s\n' "$2" >"$file"
  local result
  result=$(budget "$file")
  if [ $? -eq 0 ] && [ "${result%% *}" -le "$max_s" ]; then
    echo "FAIL self-test $1: accepted ($result)"
    failures=$((failures + 1))
  else
    echo "ok   self-test $1 rejected"
  fi
}

# The check itself: it must catch what it is for.
expect_rejected over_budget $'step() {\n  timeout -k 2 "$2" true\n}\nstep a 200 true\nstep b 40 true'
expect_rejected in_loop $'step() {\n  timeout -k 2 "$2" true\n}\nfor t in a b; do\n  step "$t" 10 true\ndone'
expect_rejected not_literal $'step() {\n  timeout -k 2 "$2" true\n}\nstep a "$limit" true'
expect_rejected default_budget $'budget_s="${KILN_X_BUDGET_S:-280}"\nstep() {\n  timeout -k 2 "$2" true\n}\nstep a 10 true'

for script; do
  result=$(budget "$script")
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $script:"
    echo "$result"
    failures=$((failures + 1))
    continue
  fi
  read -r total steps limits grace <<<"$result"
  if [ "$total" -gt "$max_s" ]; then
    echo "FAIL $(basename "$script"): $steps steps, limits $limits s + ${grace} s kill grace each = $total s > $max_s s"
    failures=$((failures + 1))
  else
    echo "ok   $(basename "$script"): $steps steps, limits $limits s + ${grace} s kill grace each = $total s <= $max_s s"
  fi
done

[ "$failures" -eq 0 ] && echo PASS || { echo "$failures failed"; exit 1; }
