"""Helpers for the fast tests: run ansible-playbook on the controller only.

These tests never connect to a host: fact gathering is off and only the
always-tagged checks (argument specs, asserts, preflight) run, all of which
execute on the controller.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = sorted(p.name for p in (ROOT / "inventory").iterdir() if (p / "hosts.yml").exists())


class PlaybookRun:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        try:
            self.data = json.loads(proc.stdout)
        except json.JSONDecodeError:
            self.data = {"plays": []}
            self.stderr += proc.stdout

    def task_results(self, name):
        """Every host's result of the tasks whose name contains `name`."""
        out = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                if name in task["task"]["name"]:
                    out.extend(task["hosts"].values())
        return out

    def failures(self):
        msgs = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                for result in task["hosts"].values():
                    # A loop's message is in its failed items.
                    for r in result.get("results", []) + [result]:
                        if r.get("failed"):
                            msgs.append((task["task"]["name"], str(r.get("msg", ""))))
        return msgs

    def task_names(self):
        return [t["task"]["name"] for p in self.data["plays"] for t in p["tasks"]]


def run_playbook(playbook, *args, inventory=None, env=None):
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    cmd = ["ansible-playbook", str(ROOT / playbook)]
    if inventory:
        cmd += ["-i", str(inventory)]
    cmd += list(args)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return PlaybookRun(proc)


def write_inventory(directory, groups, hosts=None, **all_vars):
    """An inventory file with the stack's groups ({group: [host, ...]}), host
    variables ({host: {...}}) and variables for all, in `directory`."""
    data = {
        "all": {
            "vars": {"stack_environment": "test", "stack_domain": "shop.test", **all_vars},
            "children": {g: {"hosts": {h: None for h in members}} for g, members in groups.items()},
        }
    }
    if hosts:
        data["all"]["hosts"] = hosts
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def playbook():
    return run_playbook


PLACEHOLDER_HOST = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh", "ansible_user": "admin"}


def validate_role(role, **extra):
    """Run only a role's input checks against a placeholder host.

    The placeholder's connection settings are host variables (not extra vars),
    so checks delegated to the controller still run locally."""
    host_vars = {k: extra.pop(k) if k in extra else v for k, v in PLACEHOLDER_HOST.items()}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as inv:
        json.dump({"all": {"hosts": {"testhost": host_vars}}}, inv)
    try:
        return run_playbook(
            "tests/playbooks/validate.yml",
            "--tags",
            "no_such_tag",
            "-e",
            json.dumps({"role_under_test": role, **extra}),
            inventory=inv.name,
        )
    finally:
        os.unlink(inv.name)


def check_failure(run, expected):
    """The run failed in a check, before any change, with `expected` in the message."""
    assert run.rc != 0
    failures = run.failures()
    assert failures, run.stderr
    task, msg = failures[0]
    assert expected in msg, msg
    assert "Validating arguments" in task or "Check" in task or "Refuse" in task, task
