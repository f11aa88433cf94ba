#!/usr/bin/env bash
# Run `molecule test` for each scenario given (all under molecule/ by default),
# two at a time: that fits two cores. Each scenario's log goes to
# .cache/molecule-logs/<name>.log and is printed when it fails. The names
# `lint` (yamllint and ansible-lint) and `pytest` (the fast tests, tests/) run
# as jobs too: beside the stack scenario, whose drills leave a core idle much
# of the time, rather than before every scenario.
set -uo pipefail
cd "$(dirname "$0")/.."

scenarios=("$@")
if [ "${#scenarios[@]}" -eq 0 ]; then
  for f in molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$f")")"); done
fi
# Longest first, so that the two lanes end together (the stack scenario,
# which also runs the drills, in one lane; lint, pytest, app, keepalived and
# common, then the others at 3-5 minutes each, in the other).
longest=(stack lint pytest app keepalived common)
ordered=()
for s in "${longest[@]}"; do
  for t in "${scenarios[@]}"; do [ "$t" = "$s" ] && ordered+=("$s"); done
done
for t in "${scenarios[@]}"; do
  case " ${longest[*]} " in *" $t "*) ;; *) ordered+=("$t") ;; esac
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
    # Two workers: they take the core the stack scenario leaves idle while
    # its hosts download packages.
    pytest -q -n 2 tests >"$logs/$s.log" 2>&1 &
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
# Every scenario must have run and passed.
[ "${#failed[@]}" -eq 0 ] && [ "${#passed[@]}" -eq "${#scenarios[@]}" ]
