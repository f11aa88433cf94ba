"""Behaviour of the common role: what an admin, an attacker and an auditor see."""

import os
import re
import sys

import pytest
import testinfra

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
# The test users' throwaway keys (prepare.yml) and the provider's key for
# root with the containers' addresses (create.yml), on the controller.
KEYS = os.path.join(EPHEMERAL, "keys")
SECRETS = os.path.join(EPHEMERAL, "inventory", ".secrets", "ssh")
SSH = (
    f"ssh -F {SECRETS}/config -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
    "-o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR"
)
CONTROLLER = testinfra.get_host("local://")


def ssh_as(host, key, user, command="true", extra=""):
    """A login from the controller over the network, as an operator's."""
    name = host.ansible.get_variables()["inventory_hostname"]
    return CONTROLLER.run(f"{SSH} {extra} -i {key} {user}@{name} {command}")


def sshd_settings(host):
    out = host.check_output("/usr/sbin/sshd -T")
    settings = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        # Keywords that may repeat (allowgroups) are printed once per value.
        settings[k] = f"{settings[k]} {v}" if k in settings else v
    return settings


def test_sshd_effective_settings_are_hardened(host):
    s = sshd_settings(host)
    assert s["permitrootlogin"] == "no"
    assert s["passwordauthentication"] == "no"
    assert s["kbdinteractiveauthentication"] == "no"
    assert s["permitemptypasswords"] == "no"
    assert s["x11forwarding"] == "no"
    assert s["allowtcpforwarding"] == "no"
    assert s["maxauthtries"] == "3"
    assert s["allowgroups"].split() == ["sysadmins", "deploy"]
    # Post-quantum first: ML-KEM where OpenSSH knows it (Debian 13), else NTRU Prime.
    first = "mlkem768x25519-sha256" if host.system_info.release.startswith("13") else "sntrup761x25519-sha512@openssh.com"
    assert s["kexalgorithms"].split(",")[0] == first
    assert "diffie-hellman-group14-sha1" not in s["kexalgorithms"]
    assert set(s["ciphers"].split(",")) <= {
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
    }
    assert all(m.endswith("-etm@openssh.com") for m in s["macs"].split(","))


def test_sshd_is_listening(host):
    assert host.service("ssh").is_running
    assert host.service("ssh").is_enabled
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_admin_logs_in_with_key_and_gets_root_through_sudo(host):
    r = ssh_as(host, f"{KEYS}/alice", "alice", "sudo -n id -u")
    assert r.rc == 0, r.stderr
    assert r.stdout.strip() == "0"


def test_deploy_user_logs_in_but_cannot_sudo(host):
    assert ssh_as(host, f"{KEYS}/deploy", "deploy", "id -un").stdout.strip() == "deploy"
    r = ssh_as(host, f"{KEYS}/deploy", "deploy", "sudo -n true")
    assert r.rc != 0


def test_unknown_key_is_refused(host):
    r = ssh_as(host, f"{KEYS}/mallory", "alice")
    assert r.rc == 255
    assert "Permission denied (publickey)" in r.stderr


def test_root_login_refused_even_with_an_authorized_key(host):
    # The provider's key, which the first run logged in with, is still root's.
    with open(f"{SECRETS}/id_ed25519.pub") as pub:
        assert pub.read().split()[1] in host.file("/root/.ssh/authorized_keys").content_string
    r = ssh_as(host, f"{SECRETS}/id_ed25519", "root")
    assert r.rc == 255
    assert "Permission denied" in r.stderr


def test_password_authentication_is_not_offered(host):
    r = ssh_as(
        host,
        f"{KEYS}/mallory",
        "alice",
        extra="-o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive",
    )
    assert r.rc == 255
    # The server offers nothing but public keys.
    assert "Permission denied (publickey)" in r.stderr


def test_admin_and_deploy_users(host):
    alice = host.user("alice")
    assert alice.exists
    assert "sysadmins" in alice.groups
    assert alice.shell == "/bin/bash"
    assert alice.password in ("!", "*", "!*")
    deploy = host.user("deploy")
    assert deploy.exists
    assert not {"sysadmins", "sudo"} & set(deploy.groups)


def test_former_admin_was_removed(host):
    assert not host.user("bob").exists
    assert not host.file("/home/bob").exists


def test_sudoers_grants_only_the_admin_group(host):
    assert host.run("visudo -c").rc == 0
    assert host.run("sudo -l -U deploy").stdout.count("NOPASSWD") == 0


def test_unattended_upgrades_take_security_updates_daily(host):
    assert host.service("apt-daily-upgrade.timer").is_running
    assert host.service("apt-daily.timer").is_running
    dump = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    codename = host.system_info.codename
    r = host.run("unattended-upgrade --dry-run --debug 2>&1 | head -n 40")
    assert f"codename={codename}-security" in r.stdout
    # Point-release updates are off by default.
    assert f"codename={codename},label=Debian\n" not in r.stdout
    assert "Traceback" not in r.stdout


def test_the_controller_is_never_banned(host):
    """The address Ansible logs in from, as the host sees it, is in the
    running jail's ignore list, whichever user ran the last converge."""
    seen = ssh_as(host, f"{KEYS}/alice", "alice", "'echo $SSH_CLIENT'").stdout.split()[0]
    assert seen in host.check_output("fail2ban-client get sshd ignoreip").split()


def test_failed_logins_before_the_first_run_did_not_ban_the_controller(host):
    """prepare.yml failed six logins from the controller before the converge
    installed fail2ban, whose jail was in place before the package started
    it (otherwise Debian 13's own jail bans the controller mid-run)."""
    assert int(host.check_output("journalctl --no-pager -q | grep -c 'Invalid user nobody-yet' || true")) >= 6
    seen = ssh_as(host, f"{KEYS}/alice", "alice", "'echo $SSH_CLIENT'").stdout.split()[0]
    status = host.check_output("fail2ban-client status sshd")
    banned = next(line for line in status.splitlines() if "Banned IP list" in line).split(":", 1)[1].split()
    assert seen not in banned


def test_fail2ban_sshd_jail_is_active_and_bans_through_nftables(host):
    assert host.service("fail2ban").is_running
    status = host.run("fail2ban-client status sshd")
    assert status.rc == 0, status.stderr
    assert "Journal matches:" in status.stdout or "File list:" in status.stdout
    # A ban must land in the kernel's ruleset (TEST-NET address: no traffic is sent).
    host.check_output("fail2ban-client set sshd banip 192.0.2.77")
    try:
        assert "192.0.2.77" in host.check_output("nft list ruleset")
    finally:
        host.run("fail2ban-client set sshd unbanip 192.0.2.77")
    assert "192.0.2.77" not in host.check_output("nft list ruleset")


def test_journal_is_persistent_and_capped(host):
    host.run("logger -t molecule-probe persistent-journal-check && journalctl --flush")
    assert host.run("find /var/log/journal -name '*.journal' | grep -q .").rc == 0
    conf = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "SystemMaxUse=500M" in conf
    assert "Storage=persistent" in conf


def test_time_zone_and_locale(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Europe/Berlin"
    assert host.check_output("date +%Z") in ("CET", "CEST")
    assert "en_US.utf8" in host.check_output("locale -a")
    assert host.file("/etc/default/locale").contains("LANG=en_US.UTF-8")


def test_locale_outlives_a_reboot(host):
    """Debian 13's boot re-links /etc/default/locale to /etc/locale.conf
    (systemd-tmpfiles, L+): the locale must be where that link points."""
    host.check_output("systemd-tmpfiles --create --prefix /etc/default/locale")
    assert "LANG=en_US.UTF-8" in host.check_output("cat /etc/default/locale")


def test_time_sync_is_enabled_with_the_configured_servers(host):
    if "chrony" in host.ansible.get_variables()["group_names"]:
        pytest.skip("this host keeps chrony (next test)")
    assert host.service("systemd-timesyncd").is_enabled
    conf = host.check_output("systemd-analyze cat-config systemd/timesyncd.conf")
    assert "NTP=0.debian.pool.ntp.org" in conf


def test_an_ntp_daemon_the_image_ships_is_kept(host):
    """Installing systemd-timesyncd would remove chrony: the role leaves it."""
    if "chrony" not in host.ansible.get_variables()["group_names"]:
        pytest.skip("only the host whose image ships chrony")
    assert host.package("chrony").is_installed
    assert host.service("chrony").is_enabled
    assert not host.package("systemd-timesyncd").is_installed


def test_no_security_update_is_pending_after_converge(host):
    # The images are built weeks behind Debian's security suite at times: the
    # converge applied what was pending before installing anything else.
    with host.sudo():
        simulation = host.check_output("apt-get --simulate --quiet dist-upgrade")
    pending = [line for line in simulation.splitlines() if line.startswith("Inst ") and "Debian-Security:" in line]
    assert pending == []


def test_no_service_still_runs_replaced_libraries(host):
    # After the upgrade every daemon that mapped an old library (sshd,
    # journald, systemd itself) was restarted: no service's main process maps
    # a deleted library. (needrestart still names ssh.service for the SSH
    # sessions older than the upgrade, this test's own among them.)
    with host.sudo():
        assert host.run("needrestart -b -r l").rc == 0
        assert host.check_output("/usr/local/sbin/pyweb-outdated-services") == ""
        for service in ("ssh", "systemd-journald"):
            pid = host.check_output(f"systemctl show --property MainPID --value {service}")
            maps = host.check_output(f"cat /proc/{pid}/maps")
            assert " (deleted)" not in "".join(line for line in maps.splitlines(True) if "/lib/" in line), service
    # Unattended upgrades restart such services themselves from now on.
    assert "$nrconf{restart} = 'a';" in host.file("/etc/needrestart/conf.d/50-pyweb.conf").content_string


HARDENED_SYSCTLS = {"kernel.kptr_restrict": "2", "kernel.dmesg_restrict": "1", "fs.suid_dumpable": "0",
                    "net.ipv4.conf.all.accept_redirects": "0", "net.ipv4.tcp_syncookies": "1",
                    "net.ipv4.conf.all.rp_filter": "1", "kernel.unprivileged_bpf_disabled": "1"}


def test_kernel_settings_are_in_force_or_wait_for_a_kernel_of_its_own(host):
    with host.sudo():
        boot_config = host.check_output("systemd-analyze cat-config sysctl.d")
    # systemd-sysctl applies them at every boot...
    assert "# /etc/sysctl.d/60-pyweb-hardening.conf" in boot_config
    for key, value in HARDENED_SYSCTLS.items():
        assert f"{key} = {value}" in boot_config
    # ...and the role applied them now, unless the kernel is a container's host's.
    read_only = "ro" in host.check_output("findmnt --noheadings --output OPTIONS --target /proc/sys").split(",")
    if not read_only:
        for key, value in HARDENED_SYSCTLS.items():
            assert host.check_output(f"sysctl -n {key}") == value


@pytest.mark.parametrize("module", ["dccp", "sctp", "usb-storage", "firewire-core"])
def test_unused_modules_refuse_to_load(host, module):
    with host.sudo():
        r = host.run(f"modprobe {module}")
    assert r.rc != 0
    assert "Error running install command '/bin/false'" in r.stderr


def test_no_core_dumps_for_logins_or_services(host):
    assert ssh_as(host, f"{KEYS}/alice", "alice", "'ulimit -Hc'").stdout.strip() == "0"
    assert host.check_output("systemctl show --property DefaultLimitCORE --value") == "0"


def test_new_local_passwords_age(host):
    with host.sudo():
        host.check_output("useradd pyweb-probe")
        try:
            ages = host.check_output("chage --list pyweb-probe")
        finally:
            host.run("userdel pyweb-probe")
    assert re.search(r"^Maximum number of days between password change\s*: 365$", ages, re.M), ages
    assert re.search(r"^Minimum number of days between password change\s*: 1$", ages, re.M), ages


def test_files_made_in_a_session_are_not_readable_by_other_accounts(host):
    """login.defs' UMASK 027 through pam_umask (Debian 13's PAM has it, the
    role adds it to Debian 12's): for an admin's own login (her private group
    may keep the group bits) and for root through sudo."""
    name = f"/tmp/pyweb-umask-{host.check_output('date +%s%N')}"
    out = ssh_as(host, f"{KEYS}/alice", "alice", f"'umask; touch {name}; stat -c %a {name}; rm {name}'")
    umask, mode = out.stdout.split()
    assert umask[-1] == "7" and mode[-1] == "0", out.stdout
    out = ssh_as(host, f"{KEYS}/alice", "alice", f"'sudo sh -c \"umask; touch {name}; stat -c %a {name}; rm {name}\"'")
    assert out.stdout.split() == ["0027", "640"], out.stdout + out.stderr


def test_each_login_gets_a_private_temporary_directory(host):
    out = ssh_as(host, f"{KEYS}/alice", "alice", "'echo $TMPDIR; stat -c %a:%U $TMPDIR'").stdout.split()
    uid = ssh_as(host, f"{KEYS}/alice", "alice", "id -u").stdout.strip()
    assert out == [f"/tmp/user/{uid}", "700:alice"]


def test_ssh_shows_the_banner_before_login(host):
    assert sshd_settings(host)["banner"] == "/etc/issue.net"
    # ssh prints a server's banner at its default log level (the other tests
    # keep it quiet; the first -o of an option wins).
    name = host.ansible.get_variables()["inventory_hostname"]
    r = CONTROLLER.run(f"{SSH.replace('LogLevel=ERROR', 'LogLevel=INFO')} -i {KEYS}/alice alice@{name} true")
    assert r.rc == 0
    assert "Authorised access only." in r.stderr
    assert "Authorised access only." in host.file("/etc/issue").content_string


def test_ssh_audit_finds_nothing_to_warn_about(host):
    """ssh-audit (pinned in requirements.txt) from the controller, as an
    auditor runs it: every algorithm sshd offers passes, none warns or fails."""
    address = host.check_output("hostname -I").split()[0]
    audit = CONTROLLER.run(f"{os.path.dirname(sys.executable)}/ssh-audit --no-colors --port 22 {address}")
    problems = [line for line in audit.stdout.splitlines() if "[warn]" in line or "[fail]" in line]
    assert problems == [], audit.stdout
    assert audit.rc == 0, audit.stdout
    assert "(kex) kex-strict-s-v00@openssh.com" in audit.stdout  # Terrapin's counter-measure


def test_only_root_compiles_even_after_the_compiler_is_upgraded(host):
    """tcc (installed by the scenario) is 0750 root:root through
    dpkg-statoverride: the deploy user cannot run it, root can, and the mode
    survives the package's reinstallation (as it will an upgrade)."""
    tcc = "/usr/bin/tcc"
    assert host.check_output(f"dpkg-statoverride --list {tcc}") == f"root root 750 {tcc}"
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install --reinstall --yes --quiet tcc")
    assert host.file(tcc).mode == 0o750
    assert host.run(f"{tcc} -v").rc == 0
    as_deploy = host.run(f"runuser -u deploy -- {tcc} -v")
    assert as_deploy.rc != 0 and "Permission denied" in as_deploy.stderr


def test_only_root_reads_cron_files_where_cron_is_installed(host):
    if not host.package("cron").is_installed:
        pytest.skip("no cron on this host")
    assert host.file("/etc/crontab").mode == 0o600
    assert host.file("/etc/cron.d").mode == 0o700
    assert host.file("/etc/cron.daily").mode == 0o700


@pytest.mark.parametrize("user", ["alice", "deploy"])
def test_key_only_users_have_no_password_age_to_lock_them_out(host, user):
    # login.defs ages new local passwords; these users have none, and an
    # expired age would refuse their key logins too.
    with host.sudo():
        ages = host.check_output(f"chage --list {user}")
    assert re.search(r"^Password expires\s*: never$", ages, re.M), ages


def test_a_changed_packaged_file_is_found_by_the_daily_check(host):
    assert host.service("pyweb-verify-packages.timer").is_enabled
    target = "/usr/share/doc/less/copyright"
    with host.sudo():
        # The timer's service runs clean; the check finds nothing on a fresh converge...
        host.check_output("systemctl start pyweb-verify-packages.service")
        assert host.check_output("/usr/local/sbin/pyweb-verify-packages") == "0 files differ from their packages"
        saved = host.check_output(f"base64 -w0 {target}")
        try:
            # ...and names a file that no longer matches its package.
            host.check_output(f"echo tampered >> {target}")
            found = host.check_output("/usr/local/sbin/pyweb-verify-packages")
        finally:
            host.check_output(f"echo {saved} | base64 -d > {target}")
        assert found.splitlines() == [f"modified: {target}", "1 files differ from their packages"]
        assert host.check_output("/usr/local/sbin/pyweb-verify-packages") == "0 files differ from their packages"
