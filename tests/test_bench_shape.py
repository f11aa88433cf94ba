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


# profile_tasks' lines: each banner is followed by the time since the banner
# before it, which is the previous step's.
PROFILED = """
PLAY [Base] ********************************************************************
Sunday 06 December 2026  11:00:00 +0000 (0:00:00.010)       0:00:00.010 ******

TASK [Install Python's apt bindings, which the apt module needs] ***************
Sunday 06 December 2026  11:00:00 +0000 (0:00:00.500)       0:00:00.510 ******
changed: [h1]

TASK [common : Install the base packages and the role's services] **************
Sunday 06 December 2026  11:00:12 +0000 (0:00:12.000)       0:00:12.510 ******
changed: [h1]

TASK [common : Set the system locale] ******************************************
Sunday 06 December 2026  11:01:52 +0000 (0:01:40.250)       0:01:52.760 ******
ok: [h1]

TASK [app : Install the pinned requirements into the virtualenv] ***************
Sunday 06 December 2026  11:01:55 +0000 (0:00:03.000)       0:01:55.760 ******
changed: [h1]

TASK [Install the base packages and the role's services, but not one] **********
Sunday 06 December 2026  11:02:02 +0000 (0:00:07.000)       0:02:02.760 ******
ok: [h1]

PLAY RECAP *********************************************************************
h1                         : ok=5    changed=3    unreachable=0    failed=0    skipped=0
Sunday 06 December 2026  11:02:03 +0000 (0:00:01.000)       0:02:03.760 ******
"""


def test_the_package_steps_are_timed_from_profile_tasks():
    from bench import package_steps, package_task_names, step_seconds

    # The last step's time comes after the recap, which the run's parts do
    # not count.
    assert step_seconds(PROFILED) == [
        ("play: Base", 0.5),
        ("Install Python's apt bindings, which the apt module needs", 12.0),
        ("common : Install the base packages and the role's services", 100.25),
        ("common : Set the system locale", 3.0),
        ("app : Install the pinned requirements into the virtualenv", 7.0),
    ]
    # The apt and pip tasks, and the shell tasks that refresh the lists, by
    # their names in the roles and playbooks; a task named otherwise is not one.
    names = package_task_names()
    assert {"Install the base packages and the role's services", "Install sudo (logged in as root)",
            "Install the pinned requirements into the virtualenv",
            "Refresh the package lists and list the pending security updates"} <= names
    assert "Set the system locale" not in names
    assert package_steps(PROFILED) == {"seconds": 119.2, "steps": 3}
