"""The Makefile's strategy (playbooks/strategy_plugins/stack_mitogen_linear.py):
Mitogen runs the tasks, and nothing it starts is pinned to some of the
machine's CPUs (Mitogen's own policy put every Ansible process, and every
program a task starts, on one core of two)."""

import os
import sys

from conftest import ROOT
from playbook_runner import ansible_playbook, said


def cpu_list(cpus):
    """'0-1' or '0,2-3' as a set of CPU numbers."""
    out = set()
    for part in cpus.split(","):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def test_a_tasks_command_runs_under_mitogen_on_every_cpu_this_process_may_use():
    env = {"ANSIBLE_STRATEGY": "stack_mitogen_linear",
           "ANSIBLE_STRATEGY_PLUGINS": str(ROOT / "playbooks" / "strategy_plugins")}
    run = ansible_playbook("tests/playbooks/strategy/affinity.yml", "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", env=env, timeout=120,
                           json_output=True)
    assert run.returncode == 0 and run.data, said(run)[-3000:]
    cpus, parent = run.data["plays"][0]["tasks"][0]["hosts"]["localhost"]["stdout_lines"]
    # Mitogen's interpreter started the command (plain Ansible's would be a
    # python3 running the module's own file).
    assert "mitogen" in parent, parent
    assert cpu_list(cpus) == os.sched_getaffinity(0)
