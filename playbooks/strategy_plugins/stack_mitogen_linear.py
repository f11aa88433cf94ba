"""Strategy: Mitogen's linear strategy (ansible_mitogen's mitogen_linear),
without the CPU pinning Mitogen applies to the controller's processes.

Mitogen pins its processes to CPUs. On a machine of two or three cores its
policy puts the connection multiplexer on CPU 0, and the Ansible process, every
task's worker and every command they start (ssh, a local `command` task's
program: docker, qemu) on CPU 1 alone. Measured on these 2-core machines
(2026-12-06): a local task's command ran with `Cpus_allowed_list: 1`,
and the audit scenario's two VMs, booted by such a task, shared that one core.
One core then carries both test lanes' Ansible processes and everything they
start, and the other stays free. Here nothing is pinned: the kernel's scheduler
places them, as it places plain Ansible's processes.

Enabled by the Makefile (MITOGEN=1): ANSIBLE_STRATEGY=stack_mitogen_linear
and ANSIBLE_STRATEGY_PLUGINS pointing at this directory.
"""

import ansible_mitogen.affinity

# The base Policy assigns nothing: no process is pinned, and no hook makes
# the processes started later inherit a mask.
ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule  # noqa: E402

__all__ = ["StrategyModule"]
