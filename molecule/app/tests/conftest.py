"""Deploys for the app scenario's tests: the converge playbook run again with
another release source (a copy of apps/demo, changed) or other variables."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
sys.path.insert(0, str(ROOT / "molecule" / "shared"))
from playbook_runner import ansible_playbook  # noqa: E402

DEMO = ROOT / "apps" / "demo"


def playbook(name, source=None, extra=None, limit=None, json_output=False, check=False, vars_files=(), tags=None):
    """Run the scenario's converge.yml, or one of the project's playbooks
    (playbooks/deploy.yml, rollback.yml) with the stack's groups added and the
    scenario's settings as extra variables (then `vars_files`, a vault's
    secrets say, then `extra`). `tags`: only those roles' tasks (and every
    role's always-tagged checks), as `site.yml --tags app` runs a release of
    the app alone: the other roles have nothing to change by then (Molecule's
    converge and idempotence steps prove them), and each of their tasks
    costs every run time."""
    env = {"PYWEB_APP_SOURCE": str(source)} if source else {}
    inventory, args = [os.environ["MOLECULE_INVENTORY_FILE"]], []
    if name.startswith("playbooks/"):
        inventory.append(SCENARIO / "inventory" / "stack.yml")
        args += ["-e", f"@{SCENARIO / 'vars' / 'vault.yml'}", "-e", f"@{SCENARIO / 'vars' / 'app.yml'}"]
    else:
        name = SCENARIO / name
    for path in vars_files:
        args += ["-e", f"@{path}"]
    if extra:
        args += ["-e", json.dumps(extra)]
    if limit:
        args += ["--limit", limit]
    if check:
        args += ["--check", "--diff"]
    if tags:
        args += ["--tags", tags]
    return ansible_playbook(name, *args, inventory=inventory, env=env, timeout=900, json_output=json_output)


def variant(tmp_path_factory, name, change):
    """A copy of the demo app with `change(path)` applied: a different release."""
    path = tmp_path_factory.mktemp(name) / "demo"
    shutil.copytree(DEMO, path, ignore=shutil.ignore_patterns("__pycache__"))
    change(path)
    return path


@pytest.fixture(scope="session")
def variants(tmp_path_factory):
    def marker(text):
        return lambda p: (p / "demo" / "VERSION").write_text(text)

    def no_wsgi(p):
        (p / "demo" / "wsgi.py").unlink()

    def sick(p):
        with open(p / "demo" / "wsgi.py", "a") as f:
            f.write(
                "\n_inner = app\n\n\ndef app(environ, start_response):\n"
                "    if environ.get('PATH_INFO') == '/healthz':\n"
                "        start_response('500 Internal Server Error', [('Content-Type', 'text/plain')])\n"
                "        return [b'sick']\n"
                "    return _inner(environ, start_response)\n"
            )

    def new_requirements(text, change_code):
        # Any change of the requirements file means a virtualenv of its own.
        def change(p):
            with open(p / "requirements.txt", "a") as f:
                f.write(f"# release {text}: the same packages, another file\n")
            change_code(p)
        return change

    return {
        "v2": variant(tmp_path_factory, "v2", marker("2")),
        "v3": variant(tmp_path_factory, "v3", new_requirements("3", marker("3"))),
        "dry": variant(tmp_path_factory, "dry", marker("dry")),
        # The broken releases have requirements of their own too, so that
        # their virtualenvs are left unused once they are pruned.
        "no_wsgi": variant(tmp_path_factory, "nowsgi", new_requirements("nowsgi", no_wsgi)),
        "sick": variant(tmp_path_factory, "sick", new_requirements("sick", sick)),
    }


HOSTS = ["pyweb-app-gunicorn", "pyweb-app-uwsgi"]


@pytest.fixture(scope="session")
def all_hosts():
    inv = os.environ["MOLECULE_INVENTORY_FILE"]
    return [testinfra.get_host(f"ansible://{h}?ansible_inventory={inv}") for h in HOSTS]
