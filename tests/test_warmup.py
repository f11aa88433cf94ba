"""The warm-up callback (playbooks/callback_plugins/stack_warmup.py): what it
loads before Ansible forks its workers exists, and it names every
collection filter and test that the roles, playbooks and group_vars use."""

import json
import re
import subprocess
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "playbooks" / "callback_plugins"))
from stack_warmup import WARM_FILTERS, WARM_TESTS  # noqa: E402

# A collection's plugin in a template: ansible.utils.ipwrap, and not a task's
# module (community.general.ini_file:) or a comment.
FQCN = re.compile(r"(?<![\w.])((?:ansible\.utils|community\.general)\.[a-z_0-9]+)\b(?!\s*:)")


def used_plugins():
    names = set()
    for top in ("roles", "playbooks", "group_vars"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".yml", ".j2") or "molecule" in path.parts:
                continue
            for line in path.read_text().splitlines():
                if not line.lstrip().startswith("#"):
                    names.update(FQCN.findall(line))
    return names


def test_every_collection_filter_and_test_in_use_is_warmed():
    used = used_plugins()
    assert "ansible.utils.ipwrap" in used  # the scan finds what it looks for
    assert used <= set(WARM_FILTERS) | set(WARM_TESTS), sorted(used - set(WARM_FILTERS) - set(WARM_TESTS))


def test_the_callback_loads_the_collections_and_each_plugin_it_names():
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT / "playbooks" / "callback_plugins")!r})
from ansible.plugins.loader import init_plugin_loader, filter_loader, test_loader
init_plugin_loader()
before = sum(m.startswith('ansible_collections.') for m in sys.modules)
import stack_warmup
stack_warmup.CallbackModule().v2_playbook_on_start(None)
print(json.dumps({{
    'before': before, 'after': sum(m.startswith('ansible_collections.') for m in sys.modules),
    'missing': [n for n in stack_warmup.WARM_FILTERS if filter_loader.get(n) is None]
               + [n for n in stack_warmup.WARM_TESTS if test_loader.get(n) is None]}}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                    cwd=ROOT).stdout.splitlines()[-1])
    assert out["missing"] == []
    # The collections' packages were imported (about 90 with the ansible package).
    assert out["after"] - out["before"] > 20, out
