"""The one way the project's tests, drills and benchmarks run ansible-playbook.

pytest's cases (tests/conftest.py), the Molecule scenarios' suites, the drills
(tests/drills/drills.py) and the benchmarks (bench/bench.py) all call
`ansible_playbook()`: the project's roles on ANSIBLE_ROLES_PATH, the caller's
environment otherwise (inside a Molecule scenario that is Molecule's own
ansible.cfg, with its SSH options), the output kept, the time taken measured.
With `json_output` the run prints ansible.posix.json's document instead of
the usual text, parsed into `.data`; other callbacks (profile_tasks, say)
are switched off then, since they would print into it."""

import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ansible_playbook(playbook, *args, inventory=None, env=None, timeout=1800, json_output=False, log=None):
    """Run `playbook` (relative to the project, or absolute) with `args`;
    returns the CompletedProcess with `.seconds` and, with json_output,
    `.data` (None when the output is not JSON). `log`: a file that gets
    stdout and stderr."""
    run_env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), **(env or {})}
    if json_output:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        run_env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    cmd = ["ansible-playbook"]
    for item in ([inventory] if isinstance(inventory, (str, Path)) else inventory or []):
        cmd += ["-i", str(item)]
    cmd += [str(ROOT / playbook), *map(str, args)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=timeout)
    proc.seconds = round(time.monotonic() - started, 1)
    proc.data = None
    if json_output:
        try:
            proc.data = json.loads(proc.stdout)
        except ValueError:
            pass
    if log:
        log = Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout + proc.stderr)
    return proc


def said(proc):
    """A run's whole output on one line (messages wrap)."""
    return " ".join((proc.stdout + proc.stderr).split())
