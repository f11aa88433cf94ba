"""The audit trail and the kernel hardening on a kernel of the host's own (a VM):
what an auditor finds after a sudo and a change to /etc/passwd."""

import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
import sshclient  # noqa: E402

KEYS = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", ""), "keys")
# The keys each rule set files its records under (defaults/main.yml).
KEYS_EXPECTED = ["identity", "sudoers", "sshd", "firewall", "time-change", "modules", "privileged", "ssh-keys"]


def as_carol(host, command):
    """carol's login from the controller, over the network (the VM's port is
    in create.yml's ssh_config)."""
    name = host.ansible.get_variables()["inventory_hostname"]
    return sshclient.run("carol", name, command, extra=["-F", str(sshclient.keys() / "config"), "-i", f"{KEYS}/carol"])


def events_since(host, key, since):
    """The raw records of a key, grouped by event, from `since` (epoch seconds) on."""
    out = host.run(f"ausearch --input-logs --raw -k {key}").stdout
    events = {}
    for line in out.splitlines():
        m = re.search(r"msg=audit\((\d+)\.\d+:(\d+)\)", line)
        if m and int(m.group(1)) >= since:
            events.setdefault(m.group(2), []).append(line)
    return ["\n".join(lines) for lines in events.values()]


def wait_for(check, timeout=30):
    deadline = time.time() + timeout
    while True:
        result = check()
        if result or time.time() > deadline:
            return result
        time.sleep(1)


def test_the_kernel_audits_and_auditd_receives(host):
    status = host.check_output("auditctl -s")
    assert re.search(r"^enabled 1$", status, re.M), status
    pid = re.search(r"^pid (\d+)$", status, re.M).group(1)
    assert host.check_output("systemctl show --property MainPID --value auditd.service") == pid
    assert host.service("auditd").is_enabled


def test_every_rule_set_is_in_force(host):
    rules = host.check_output("auditctl -l")
    for key in KEYS_EXPECTED:
        assert f"-k {key}" in rules, key
    assert "-w /home/carol/.ssh -p wa -k ssh-keys" in rules
    assert re.search(r"-S .*finit_module.* -F key=modules|-S .*finit_module.*-k modules", rules), rules


def test_a_sudo_is_recorded_with_who_ran_it_and_what(host):
    mark = f"pyweb-audit-{uuid.uuid4().hex[:12]}"
    since = int(host.check_output("date +%s"))
    r = as_carol(host, f"sudo -n /usr/bin/echo {mark}")
    assert r.returncode == 0 and r.stdout.strip() == mark, r.stderr
    uid = host.user("carol").uid

    def recorded():
        return [e for e in events_since(host, "privileged", since) if mark in e]
    found = wait_for(recorded)
    assert found, "the sudo is not in the audit log"
    # The login's user (auid), not only root who ran echo, is on the record.
    assert any(f"auid={uid}" in e and "type=EXECVE" in e for e in found), found
    # sudo's own record of the command, with who asked for it.
    assert wait_for(lambda: "USER_CMD" in host.run(f"ausearch --input-logs -m USER_CMD -ua {uid} --raw").stdout)


def test_a_change_to_passwd_is_recorded(host):
    since = int(host.check_output("date +%s"))
    host.check_output("usermod --comment 'audit probe' carol")

    def recorded():
        return [e for e in events_since(host, "identity", since)
                if 'comm="usermod"' in e and 'name="/etc/passwd"' in e]
    assert wait_for(recorded), "the change to /etc/passwd is not in the audit log"


def test_an_added_ssh_key_is_recorded(host):
    since = int(host.check_output("date +%s"))
    r = as_carol(host, "cp .ssh/authorized_keys .ssh/authorized_keys.probe && rm .ssh/authorized_keys.probe")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: [e for e in events_since(host, "ssh-keys", since) if "authorized_keys.probe" in e])


def test_the_records_reach_the_journal_for_central_logs(host):
    mark = f"pyweb-audit-{uuid.uuid4().hex[:12]}"
    assert as_carol(host, f"sudo -n /usr/bin/echo {mark}").returncode == 0
    assert wait_for(lambda: mark in host.run("journalctl --identifier audisp-syslog --since -5min --no-pager").stdout)


def test_the_audit_log_rotates_and_keeps_its_files(host):
    before = host.check_output("ls /var/log/audit")
    host.check_output("kill -USR1 $(systemctl show --property MainPID --value auditd.service)")
    assert wait_for(lambda: "audit.log.1" in host.check_output("ls /var/log/audit")), before
    log = host.file("/var/log/audit/audit.log")
    assert log.user == "root" and not log.mode & 0o007


HARDENED_SYSCTLS = {"kernel.kptr_restrict": "2", "kernel.dmesg_restrict": "1", "fs.suid_dumpable": "0",
                    "net.ipv4.conf.all.accept_redirects": "0", "net.ipv4.conf.all.send_redirects": "0",
                    "net.ipv4.conf.all.accept_source_route": "0", "net.ipv4.tcp_syncookies": "1",
                    "net.ipv4.conf.all.rp_filter": "1", "net.ipv4.conf.all.log_martians": "1",
                    "kernel.unprivileged_bpf_disabled": "1", "kernel.yama.ptrace_scope": "1",
                    "fs.protected_symlinks": "1", "fs.protected_hardlinks": "1", "fs.protected_fifos": "2"}


def test_the_kernel_settings_are_in_force_on_a_kernel_of_its_own(host):
    assert "ro" not in host.check_output("findmnt --noheadings --output OPTIONS --target /proc/sys").split(",")
    for key, value in HARDENED_SYSCTLS.items():
        assert host.check_output(f"sysctl -n {key}") == value, key


def test_disabled_modules_that_this_kernel_has_refuse_to_load(host):
    conf = host.file("/etc/modprobe.d/pyweb-hardening.conf").content_string
    disabled = re.findall(r"^install (\S+) /bin/false$", conf, re.M)
    present = [m for m in disabled if host.run(f"modinfo {m}").rc == 0]
    assert present, f"the VM's kernel has none of the disabled modules to try: {disabled}"
    for module in present:
        r = host.run(f"modprobe {module}")
        assert r.rc != 0, module
        assert module.replace("-", "_") not in host.check_output("cut -d' ' -f1 /proc/modules").split()
