"""Helpers for the fast tests: run ansible-playbook on the controller only.

These tests never connect to a host: fact gathering is off and only the
always-tagged checks (argument specs, asserts, preflight) run, all of which
execute on the controller.
"""

import fcntl
import hashlib
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "molecule" / "shared"))
from playbook_runner import ansible_playbook  # noqa: E402

# These runs reach no host (their checks run on the controller): Mitogen,
# which the Makefile turns on for the runs that do (MITOGEN=1), has nothing
# to save here, and over the local connection that some of these inventories'
# hosts use its interpreter discovery fails. Plain Ansible for them, however
# pytest is started.
for _name in ("ANSIBLE_STRATEGY", "ANSIBLE_STRATEGY_PLUGINS"):
    os.environ.pop(_name, None)

ENVIRONMENTS = sorted(p.name for p in (ROOT / "inventory").iterdir() if (p / "hosts.yml").exists())


class PlaybookRun:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        self.data = proc.data
        if self.data is None:
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

    def failures(self, host=None):
        """(task name, message) of every failed result, or of `host`'s only."""
        msgs = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                for name, result in task["hosts"].items():
                    if host and name != host:
                        continue
                    # A loop's message is in its failed items.
                    for r in result.get("results", []) + [result]:
                        if r.get("failed"):
                            msgs.append((task["task"]["name"], str(r.get("msg", ""))))
        return msgs

    def task_names(self, host=None):
        return [t["task"]["name"] for p in self.data["plays"] for t in p["tasks"] if not host or host in t["hosts"]]


def run_playbook(playbook, *args, inventory=None, env=None):
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_GATHERING": "explicit", "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return PlaybookRun(ansible_playbook(playbook, *args, inventory=inventory, env=env, timeout=300, json_output=True))


def write_inventory(directory, groups, hosts=None, group_vars=None, **all_vars):
    """An inventory file with the stack's groups ({group: [host, ...]}), host
    variables ({host: {...}}), group variables ({group: {...}}) and variables
    for all, in `directory`."""
    data = {
        "all": {
            "vars": {"stack_environment": "test", "stack_domain": "shop.test", **all_vars},
            "children": {g: {"hosts": {h: None for h in members}, **({"vars": group_vars[g]} if g in (group_vars or {}) else {})}
                         for g, members in groups.items()},
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


# The directory that pytest-xdist's workers of one run share (None without
# xdist), set by the session fixture below.
_SHARED = None


@pytest.fixture(scope="session", autouse=True)
def _shared_between_workers(tmp_path_factory, worker_id):
    global _SHARED
    if worker_id != "master":
        _SHARED = tmp_path_factory.getbasetemp().parent


def once_per_run(name, compute):
    """compute()'s value, worked out by the first pytest-xdist worker that
    asks for it and read by the others. The batched ansible-playbook runs
    of a module (module-scoped fixtures) ran once in each worker that ran
    one of its tests; --dist loadgroup, which would keep such tests on one
    worker, groups nothing with pytest 9.2 (pytest-xdist#1386)."""
    if _SHARED is None:
        return compute()
    with open(_SHARED / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = _SHARED / f"{name}.pickle"
        if kept.exists():
            return pickle.loads(kept.read_bytes())
        value = compute()
        kept.write_bytes(pickle.dumps(value))
        return value


PLACEHOLDER_HOST = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh", "ansible_user": "admin"}


class CaseRun:
    """One case's share of a batched run (validate_roles): its host's results,
    with the host named `testhost` in messages, as a run of its own names it."""

    def __init__(self, run, host):
        self._run, self._host = run, host
        stats = run.data.get("stats", {}).get(host)
        self.rc = 0 if stats and not stats["failures"] and not stats["unreachable"] else 2
        self.stderr = run.stderr

    def failures(self):
        return [(task, msg.replace(self._host, "testhost")) for task, msg in self._run.failures(self._host)]

    def task_names(self):
        return self._run.task_names(self._host)


_VALIDATED = {}


def _case_key(role, extra):
    return json.dumps([role, extra], sort_keys=True, default=str)


def validate_roles(cases):
    """Run the input checks of many (role, extra vars) cases in one
    ansible-playbook run (starting one per case cost about 2 s each): a play
    per case, each on a placeholder host of its own, so that one case's
    failure, run_once checks and variables never touch another's (and a
    host that applies nothing keeps the run going past a failed case). Only the
    always-tagged checks run (argument specs, asserts); they execute on the
    controller and never reach the host (port 1 on loopback refuses any
    connection). The results are kept for validate_role.

    The case's variables are play variables: above the role's defaults and
    the inventory, below the role's vars/ (which hold no inputs) and facts
    set at run time; its connection settings (PLACEHOLDER_HOST's keys) are
    host variables, so checks delegated to the controller still run locally."""
    todo = {}
    for role, extra in cases:
        key = _case_key(role, extra)
        if key not in _VALIDATED:
            todo[key] = (role, dict(extra))
    if todo:
        # The same batch asked for by two workers runs once (once_per_run).
        name = "validate-" + hashlib.sha256(json.dumps(sorted(todo)).encode()).hexdigest()[:16]
        _VALIDATED.update(once_per_run(name, lambda: _validate_all(dict(todo))))


def _validate_all(todo):
    """Every case of `todo` run (in as many runs as failed run_once checks
    need); their results, by key."""
    keys = list(todo)
    while todo:
        done = _validate_batch(todo)
        for key in done or list(todo):  # nothing done: the run's own error is every case's
            todo.pop(key)
    return {key: _VALIDATED[key] for key in keys}


def _validate_batch(todo):
    """One run of the cases in `todo`; the keys of those it ran. A failed
    run_once check ends the whole run (Ansible fails every host of its play):
    the cases after it go in the next run."""
    hosts, plays, names = {}, [], {}
    for i, (key, (role, extra)) in enumerate(todo.items()):
        host = f"testhost{i:04d}"
        names[key] = host
        extra = dict(extra)
        hosts[host] = {k: extra.pop(k) if k in extra else v for k, v in PLACEHOLDER_HOST.items()}
        plays.append({
            "name": f"Validate the inputs of {role} ({host})",
            "hosts": [host, "keeper"],
            "gather_facts": False,
            "vars": extra,
            "tasks": [{"name": "Apply the role under test", "ansible.builtin.include_role": {"name": role},
                       "when": "inventory_hostname != 'keeper'", "tags": ["always"]}],
        })
    # A play whose every host failed would end the run: the keeper is in
    # each play and applies no role.
    hosts["keeper"] = {"ansible_connection": "local"}
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "hosts.json"
        inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
        book = Path(tmp) / "validate.yml"
        book.write_text(json.dumps(plays))
        run = run_playbook(book, "--tags", "no_such_tag", inventory=inventory)
    ran = run.data.get("stats", {})
    done = [key for key, host in names.items() if host in ran]
    for key in done or names:
        _VALIDATED[key] = CaseRun(run, names[key])
    return done


def validate_role(role, **extra):
    """Run only a role's input checks (see validate_roles, whose batched
    results it returns when the case was among them)."""
    key = _case_key(role, extra)
    if key not in _VALIDATED:
        validate_roles([(role, extra)])
    return _VALIDATED[key]


def check_failure(run, expected):
    """The run failed in a check, before any change, with `expected` in the message."""
    assert run.rc != 0
    failures = run.failures()
    assert failures, run.stderr
    task, msg = failures[0]
    assert expected in msg, msg
    assert "Validating arguments" in task or "Check" in task or "Refuse" in task, task
