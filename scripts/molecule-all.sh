#!/usr/bin/env bash
# Run `molecule test` for each scenario given (all under molecule/ by default),
# two at a time: that fits two cores. Each scenario's log goes to
# .cache/molecule-logs/<name>.log and is printed when it fails. The names
# `lint` (yamllint and ansible-lint) and `pytest` (the fast tests, tests/) run
# as jobs too, rather than before every scenario: lint beside the stack
# scenario, pytest last, when the stack scenario (whose converge takes both
# cores) is normally done (the other lane holds more minutes of work).
set -uo pipefail
cd "$(dirname "$0")/.."

scenarios=("$@")
if [ "${#scenarios[@]}" -eq 0 ]; then
  for f in molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$f")")"); done
fi
# Longest first, so that the two lanes end together (the stack scenario,
# which also runs the drills, in one lane; lint, app, keepalived and common,
# then the others at 1-5 minutes each, in the other), pytest last.
longest=(stack lint app keepalived common)
last=(pytest)
ordered=()
for s in "${longest[@]}"; do
  for t in "${scenarios[@]}"; do [ "$t" = "$s" ] && ordered+=("$s"); done
done
for t in "${scenarios[@]}"; do
  case " ${longest[*]} ${last[*]} " in *" $t "*) ;; *) ordered+=("$t") ;; esac
done
for s in "${last[@]}"; do
  for t in "${scenarios[@]}"; do [ "$t" = "$s" ] && ordered+=("$s"); done
done
scenarios=("${ordered[@]}")
jobs_max=${MOLECULE_JOBS:-2}
logs=.cache/molecule-logs
mkdir -p "$logs"

declare -A pids=() started=()
failed=() passed=()
run() {
  local s=$1
  started[$s]=$SECONDS
  if [ "$s" = pytest ]; then
    # Two workers: run last, they do not share the cores with the stack scenario.
    pytest -q -n 2 --durations=15 tests >"$logs/$s.log" 2>&1 &
  elif [ "$s" = lint ]; then
    make --no-print-directory lint >"$logs/$s.log" 2>&1 &
  else
    molecule test -s "$s" >"$logs/$s.log" 2>&1 &
  fi
  pids[$s]=$!
  echo "[molecule] $s started"
}
reap() {
  local s rc
  for s in "${!pids[@]}"; do
    if ! kill -0 "${pids[$s]}" 2>/dev/null; then
      wait "${pids[$s]}"; rc=$?
      if [ "$rc" -eq 0 ]; then
        echo "[molecule] $s passed in $((SECONDS - started[$s])) s"
        passed+=("$s")
      else
        echo "[molecule] $s FAILED (rc $rc) after $((SECONDS - started[$s])) s; log follows"
        tail -n 150 "$logs/$s.log"
        failed+=("$s")
      fi
      unset "pids[$s]"
    fi
  done
}

for s in "${scenarios[@]}"; do
  while [ "${#pids[@]}" -ge "$jobs_max" ]; do sleep 2; reap; done
  run "$s"
done
while [ "${#pids[@]}" -gt 0 ]; do sleep 2; reap; done

echo "molecule-all: ${#passed[@]} passed, ${#failed[@]} failed"
# Last, what failed in each failed scenario, in a few lines: CI shows the end
# of the output only, and a failed case's name is far up in its log.
for s in "${failed[@]}"; do
  echo "[molecule] $s: what failed (whole log: $logs/$s.log)"
  grep -E '^(FAILED|ERROR) |MISSED ITS TARGET|missed their target|^fatal: |^failed: |CRITICAL' "$logs/$s.log" \
    | grep -v '^FAILED - RETRYING' | cut -c1-400 | tail -n 12
done
# Every scenario must have run and passed.
[ "${#failed[@]}" -eq 0 ] && [ "${#passed[@]}" -eq "${#scenarios[@]}" ]
