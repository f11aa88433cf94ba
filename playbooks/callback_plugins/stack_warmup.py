"""Callback: load once, in the controller's main process, what Ansible's
workers would each load again.

Ansible forks a fresh worker for every task on every host, and a worker
loads the plugins its task needs anew:
- Under Mitogen (the Makefile's MITOGEN=1), a worker that runs a
  collection's module (ansible.posix, community.general, ...) first lists
  the installed collections, which imports each one's package (about 90
  with the `ansible` package). 70 such tasks (10 on each of the local
  stack's seven hosts): 10.1 s before, 6.5 s after.
- A template that names a collection's filter or test (ansible.utils.ipwrap
  is in most of the roles' addresses) loads that plugin and netaddr. 70
  tasks templating ipwrap: 6.3 s before, 3.3 s after.
Done here before the first fork, the workers inherit them.

It changes nothing a task does or reports, and prints nothing.
WARM_FILTERS and WARM_TESTS name the collections' filters and tests that
the roles, playbooks and group_vars use (tests/test_warmup.py keeps them in
step); a name missing here only costs time.
"""

from ansible.collections.list import list_collection_dirs
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader

DOCUMENTATION = """
name: stack_warmup
type: aggregate
short_description: load the collections and their filters once, before the workers fork
description:
  - Lists the installed collections (which imports each one's package) and loads the
    collection filters and tests the project uses, in the controller's main process when the
    playbook starts, so that the workers forked for each task inherit them.
"""

WARM_FILTERS = ("ansible.utils.ipaddr", "ansible.utils.ipwrap", "ansible.utils.network_in_usable",
                "community.general.counter", "community.general.dict_kv")
WARM_TESTS = ("ansible.utils.ip", "ansible.utils.ip_address", "ansible.utils.ipv4_address")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "stack_warmup"
    # Loaded from callback_plugins (ansible.cfg) without being listed in
    # callbacks_enabled.
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_start(self, playbook):
        for _ in list_collection_dirs():
            pass
        for name in WARM_FILTERS:
            filter_loader.get(name)
        for name in WARM_TESTS:
            test_loader.get(name)
