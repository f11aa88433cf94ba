"""`make bench`'s shape floor (bench/bench.py): the playbook it runs has the
steps of the measured run, in order, on the hosts that had a result there,
each ran or skipped as in the run."""

import sys

import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from bench import shape_floor_plays  # noqa: E402

# A run's output as Ansible's default callback prints it: a task on three
# hosts, skipped on one; an include that two hosts take, and its task (the
# third has no line there); the same for one host; a loop, a change and a
# delegated task; a handler; then a play that one host leaves after its
# first step.
OUTPUT = """
PLAY [First] *******************************************************************

TASK [Look at the hosts] *******************************************************
ok: [h1]
ok: [h2]
skipping: [h3]

TASK [Include the extra steps] *************************************************
included: /x/extra.yml for h1, h2

TASK [role : An extra step] ****************************************************
changed: [h1]
ok: [h2]

TASK [Include a role's tasks once more] ****************************************
included: role for h1 => (item=demo)

TASK [role : An extra step] ****************************************************
changed: [h1]

TASK [Loop, change and delegate] ***********************************************
ok: [h1] => (item=a)
ok: [h1] => (item=b)
changed: [h2]
ok: [h3 -> localhost]

RUNNING HANDLER [role : Reload] ************************************************
changed: [h2]

PLAY [Second] ******************************************************************

TASK [Every host] **************************************************************
ok: [h1]
ok: [h2]

TASK [After h2 left] ***********************************************************
skipping: [h1]

PLAY [Nothing to do] ***********************************************************
skipping: no hosts matched

PLAY RECAP *********************************************************************
h1                         : ok=5    changed=1    unreachable=0    failed=0    skipped=1
ok: [not-a-step]
"""


def test_the_shape_floor_runs_each_step_on_the_hosts_that_had_it():
    plays = shape_floor_plays(OUTPUT)
    shape = [(p["hosts"], [t["when"] for t in p["tasks"]]) for p in plays]
    assert shape == [
        ("h1,h2,h3", ["inventory_hostname in ['h1', 'h2']"]),
        ("h1,h2", ["inventory_hostname in ['h1', 'h2']", "inventory_hostname in ['h1', 'h2']"]),
        ("h1", ["inventory_hostname in ['h1']", "inventory_hostname in ['h1']"]),
        ("h1,h2,h3", ["inventory_hostname in ['h1', 'h2', 'h3']"]),
        ("h2", ["inventory_hostname in ['h2']"]),
        ("h1,h2", ["inventory_hostname in ['h1', 'h2']"]),
        ("h1", ["inventory_hostname in []"]),
    ]
    # Each step is the cheapest task that reaches the host, as root, with
    # nothing gathered: what is measured is Ansible's cost of the steps.
    for play in plays:
        assert play["become"] is True and play["gather_facts"] is False
        assert all(t["ansible.builtin.stat"] == {"path": "/"} for t in play["tasks"])
    assert sum(len(p["tasks"]) for p in plays) == 9
    # It is a playbook Ansible reads.
    assert yaml.safe_load(yaml.safe_dump(plays)) == plays
