"""The demo app deployed with Gunicorn and with uWSGI: serving, hardening,
releases, rollback and refusal of bad input. Requests go through the app
server's unix socket inside each container, as Nginx's would."""

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import DEMO as ROOT_DEMO
from conftest import ROOT
from conftest import playbook
from playbook_runner import said

SOCK = "/run/demo/app.sock"


def base_url(host):
    """How to reach the app server: Gunicorn's unix socket, uWSGI's private TCP port."""
    if "uwsgi" in host.backend.get_hostname():
        return f"http://{host.interface('eth0').addresses[0]}:8000"
    return f"--unix-socket {SOCK} http://localhost"


def get(host, path, extra=""):
    out = host.check_output(f"curl -s -w '\\n%{{http_code}}' {extra} {base_url(host)}{path}")
    body, _, code = out.rpartition("\n")
    return int(code), body


def live_release(host):
    return host.file("/srv/demo/current").linked_to.rsplit("/", 1)[1]


def health(host):
    code, body = get(host, "/healthz")
    return code, json.loads(body)


def server_of(host):
    return "uwsgi" if "uwsgi" in host.backend.get_hostname() else "gunicorn"


# Serving -------------------------------------------------------------------


def test_health_endpoint_answers_through_the_socket(host):
    code, data = health(host)
    assert code == 200
    assert data["status"] == "ok"
    assert data["release"] == live_release(host)


def test_listens_where_asked(host):
    if "uwsgi" in host.backend.get_hostname():
        assert host.socket(f"tcp://{host.interface('eth0').addresses[0]}:8000").is_listening
        assert not host.file(SOCK).exists
    else:
        assert host.file(SOCK).is_socket
        assert host.file(SOCK).group == "www-data"


def test_service_is_enabled_and_runs_as_the_app_user_with_the_chosen_server(host):
    assert host.service("demo.socket").is_enabled
    assert host.service("demo.service").is_enabled
    assert host.service("demo.service").is_running
    procs = host.process.filter(user="demo")
    assert len(procs) >= 3  # master and workers
    assert all(server_of(host) in p.args for p in procs)
    assert not host.process.filter(user="root", comm="gunicorn") and not host.process.filter(user="root", comm="uwsgi")


def test_reload_replaces_the_workers_and_keeps_the_master(host):
    """systemctl reload is graceful (Gunicorn: SIGHUP; uWSGI: a chain reload):
    the master stays, its workers are replaced, and the app answers."""
    service = host.service("demo.service")
    master = service.systemd_properties["MainPID"]

    def workers():  # one ps: workers come and go while it looks
        return set(host.check_output(f"ps -o pid= --ppid {master} || true").split())

    before = workers()
    assert before
    host.check_output("systemctl reload demo.service")
    for _ in range(30):
        after = workers()
        if after and not after & before:
            break
        host.run("sleep 1")
    assert service.systemd_properties["MainPID"] == master
    assert after and not after & before
    assert health(host)[0] == 200


def test_database_page_counts_visits(host):
    _, first = get(host, "/")
    _, second = get(host, "/")
    n1 = int(re.search(r"Visits: (\d+)", first).group(1))
    n2 = int(re.search(r"Visits: (\d+)", second).group(1))
    assert n2 == n1 + 1


def test_notes_are_written_to_and_read_from_postgresql(host):
    code, body = get(host, "/notes", "-X POST -H 'Content-Type: application/json' -d '{\"body\": \"hello from test\"}'")
    assert code == 201
    _, listing = get(host, "/notes")
    assert "hello from test" in listing


def test_upload_lands_in_the_media_directory(host):
    host.run("echo upload-content > /tmp/upload.txt")
    code, body = get(host, "/upload", "-F file=@/tmp/upload.txt")
    assert code == 201
    f = host.file("/srv/demo/shared/media/upload.txt")
    assert f.content_string == "upload-content\n"
    assert f.user == "demo"


def test_static_files_are_collected_into_the_release(host):
    assert host.file("/srv/demo/current/static/app.css").contains("font-family")


def nginx_url(host):
    """Nginx in front of the app server on this host (vars/app.yml)."""
    return f"http://{host.interface('eth0').addresses[0]}:8080"


def test_nginx_serves_static_files_from_disk_which_the_app_does_not(host):
    out = host.check_output(f"curl -s -D - {nginx_url(host)}/static/app.css")
    assert out.startswith("HTTP/1.1 200"), out[:300]
    assert "immutable" in out and "font-family" in out
    assert "X-App-Host" not in out  # not the app's answer
    code, _ = get(host, "/static/app.css")
    assert code == 404  # the app server itself has no /static/


def test_nginx_passes_the_rest_to_the_app_server(host):
    out = host.check_output(f"curl -s -D - {nginx_url(host)}/healthz")
    assert out.startswith("HTTP/1.1 200") and f"X-App-Release: {live_release(host)}" in out, out[:400]


def test_an_upload_through_nginx_is_served_by_nginx_and_readable_by_it_only_through_its_group(host):
    name = f"nginx-{host.backend.get_hostname()}.txt"
    host.run(f"echo served-from-disk > /tmp/{name}")
    out = host.check_output(f"curl -s -w '\\n%{{http_code}}' -F file=@/tmp/{name} {nginx_url(host)}/upload")
    assert out.endswith("201"), out
    f = host.file(f"/srv/demo/shared/media/{name}")
    assert (f.user, f.group, f.mode) == ("demo", "www-data", 0o640)
    out = host.check_output(f"curl -s -D - {nginx_url(host)}/media/{name}")
    assert out.startswith("HTTP/1.1 200") and out.rstrip().endswith("served-from-disk") and "X-App-Host" not in out, out
    code, _ = get(host, f"/media/{name}")
    assert code == 404


# Hardening -------------------------------------------------------------------


def test_code_and_settings_are_not_writable_by_the_app(host):
    assert host.run("runuser -u demo -- touch /srv/demo/current/demo/hacked.py").rc != 0
    env = host.file("/srv/demo/shared/env")
    assert (env.user, env.group, env.mode) == ("root", "demo", 0o640)
    assert host.run("runuser -u nobody -- cat /srv/demo/shared/env").rc != 0


def test_releases_are_readable_by_the_app_only(host):
    """Root's and the app's group's, whatever the umask they were built under
    (027 on a host the common role hardened)."""
    with host.sudo():
        # Others may traverse a release (no listing) to its static files,
        # which are public (Nginx serves them from disk), and nothing else.
        traverse = host.check_output("find /srv/demo/releases -mindepth 1 -maxdepth 1 \\( -perm /o=rw -o ! -perm -o=x \\)")
        others = host.check_output("find /srv/demo/releases -mindepth 2 -path '/srv/demo/releases/*/static' -prune "
                                   "-o ! -type l -perm /o=rwx -print")
        strangers = host.check_output("find /srv/demo/releases -mindepth 1 ! -type l \\( ! -user root -o ! -group demo \\)")
    assert traverse == "" and others == "" and strangers == "", traverse + others + strangers
    for who in ("nobody", "www-data"):
        assert host.run(f"runuser -u {who} -- cat /srv/demo/current/release.env").rc != 0
        assert host.run(f"runuser -u {who} -- cat /srv/demo/current/demo/wsgi.py").rc != 0
        assert host.run(f"runuser -u {who} -- ls /srv/demo/current/").rc != 0
    assert host.run("runuser -u www-data -- cat /srv/demo/current/static/app.css").rc == 0
    assert host.run("runuser -u www-data -- cat /srv/demo/shared/env").rc != 0


def test_systemd_exposure_is_at_most_3(host):
    out = host.check_output("systemd-analyze security demo.service | tail -n 1")
    level = float(re.search(r"exposure level for demo.service: ([0-9.]+)", out).group(1))
    assert level <= 3.0, out


def test_unit_sandbox_settings(host):
    unit = host.check_output("systemctl show demo.service -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p CapabilityBoundingSet")
    assert "NoNewPrivileges=yes" in unit
    assert "ProtectSystem=strict" in unit
    assert "PrivateTmp=yes" in unit
    assert "CapabilityBoundingSet=\n" in unit + "\n"


# Releases, rollback, pruning ---------------------------------------------------
# Each playbook run deploys to both hosts at once (session fixtures), and each
# fixture records what every host looked like right after it; the tests then
# check each host's record (pytest runs one host's tests after the other's).


def snapshot(all_hosts, **extra):
    out = {}
    for h in all_hosts:
        code, data = health(h)
        out[h.backend.get_hostname()] = {
            "live": live_release(h),
            "health": (code, data.get("release")),
            "history": h.file("/srv/demo/history").content_string.split(),
            "releases": h.check_output("ls /srv/demo/releases").split(),
            "venvs": h.check_output("ls /srv/demo/venvs").split(),
            # The virtualenv each release links to (releases/<id>/venv -> ../../venvs/<name>).
            "venv_of": dict(line.partition(" ")[::2] for line in h.check_output(
                "for r in /srv/demo/releases/*; do echo \"${r##*/} $(basename \"$(readlink $r/venv)\")\"; done"
            ).splitlines()),
        }
    return out


@pytest.fixture(scope="session")
def initial(all_hosts):
    return snapshot(all_hosts)


@pytest.fixture(scope="session")
def second_deploy(initial, variants, all_hosts):
    """A new release goes live while requests keep flowing through each
    host's socket. (Deploying an unchanged release again changes nothing:
    Molecule's idempotence step proves it.)"""
    for h in all_hosts:
        h.run(
            "rm -f /tmp/load.stop /tmp/load.out; "
            "nohup sh -c 'n=0; while [ ! -e /tmp/load.stop ] && [ $n -lt 3000 ]; do "
            f"curl -s -o /dev/null -w \"%{{http_code}}\\n\" --max-time 10 {base_url(h)}/healthz >> /tmp/load.out; "
            "n=$((n+1)); done' >/dev/null 2>&1 &"
        )
    run = playbook("converge.yml", source=variants["v2"], tags="app")
    for h in all_hosts:
        h.run("sleep 2; touch /tmp/load.stop; sleep 1")
    assert run.returncode == 0, run.stdout[-3000:]
    state = snapshot(all_hosts)
    for h in all_hosts:
        state[h.backend.get_hostname()]["codes"] = h.file("/tmp/load.out").content_string.split()
    return state


@pytest.fixture(scope="session")
def rollback(second_deploy, all_hosts):
    run = playbook("playbooks/rollback.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    return snapshot(all_hosts)


@pytest.fixture(scope="session")
def more_releases(rollback, variants, all_hosts):
    # Through the project's rolling deploy playbook (no new migrations in these
    # releases, so migrating on the first host only suits both test databases).
    run = playbook("playbooks/deploy.yml", source=variants["v3"])
    assert run.returncode == 0, run.stdout[-3000:]
    state = snapshot(all_hosts)
    state["run"] = run
    return state


def test_deploy_playbook_says_what_it_does_and_rolls_one_host_at_a_time(more_releases):
    out = more_releases["run"].stdout
    printed = " ".join(out.split())  # the callback folds long messages
    assert "Deploying demo from" in printed and "to 2 app host(s), 1 at a time" in printed, printed[:3000]
    # serial: 1 -> the rollout play runs once per host, one after the other.
    assert out.count("PLAY [Roll the release out]") == 2


def test_a_new_release_switches_current_and_serves(host, initial, second_deploy):
    name = host.backend.get_hostname()
    before, after = initial[name], second_deploy[name]
    assert after["live"] != before["live"]
    assert after["health"] == (200, after["live"])
    assert before["live"] in after["releases"]  # the old one is kept
    assert after["history"][-2:] == [before["live"], after["live"]]


def test_a_code_only_release_shares_the_virtualenv_of_the_one_before(host, initial, second_deploy):
    """v2 changes code only: no second virtualenv is built."""
    name = host.backend.get_hostname()
    before, after = initial[name], second_deploy[name]
    assert after["venv_of"][after["live"]] == before["venv_of"][before["live"]]
    assert after["venvs"] == before["venvs"]


def test_a_release_with_other_requirements_gets_a_virtualenv_of_its_own(host, rollback, more_releases):
    """v3 changes its requirements file: a new virtualenv, and the release
    before keeps its own (a rollback needs it)."""
    name = host.backend.get_hostname()
    before, after = rollback[name], more_releases[name]
    assert after["venv_of"][after["live"]] not in before["venvs"]
    assert before["venv_of"][before["live"]] in after["venvs"]
    assert len(after["venvs"]) == 2


def test_rollback_switches_back_to_the_previous_release(host, initial, second_deploy, rollback):
    name = host.backend.get_hostname()
    after = rollback[name]
    assert after["live"] == initial[name]["live"] != second_deploy[name]["live"]
    assert after["health"] == (200, after["live"])
    assert after["history"][-1] == after["live"]  # the history records the switch


# The host that has nothing to go back to: the second of the play's order,
# so that a rollback that found it only in its turn would have switched the
# first host back already.
NOTHING_TO_GO_BACK_TO = "pyweb-app-uwsgi"


@pytest.fixture(scope="session")
def refused_rollback(more_releases, all_hosts):
    """rollback.yml while one host's history holds its live release only
    (cut for the run, then put back as it was)."""
    host = next(h for h in all_hosts if h.backend.get_hostname() == NOTHING_TO_GO_BACK_TO)
    before = snapshot(all_hosts)
    cut = host.run("cp -p /srv/demo/history /srv/demo/history.keep && "
                   "basename \"$(readlink /srv/demo/current)\" > /srv/demo/history")
    assert cut.rc == 0, cut.stderr
    try:
        run = playbook("playbooks/rollback.yml")
    finally:
        back = host.run("mv -f /srv/demo/history.keep /srv/demo/history")
        assert back.rc == 0, back.stderr
    return run, before, snapshot(all_hosts)


def test_a_rollback_stops_before_any_change_when_a_host_has_nothing_to_go_back_to(refused_rollback):
    run, before, after = refused_rollback
    assert run.returncode != 0
    printed = said(run)
    assert f"No earlier complete release of demo is on {NOTHING_TO_GO_BACK_TO}; nothing was changed" in printed, printed[-3000:]
    # Neither host switched, restarted onto another release or wrote its history.
    assert after == before


def test_a_deploy_under_load_loses_no_request(host, initial, second_deploy):
    name = host.backend.get_hostname()
    state = second_deploy[name]
    assert state["live"] != initial[name]["live"]
    assert len(state["codes"]) > 20
    assert set(state["codes"]) == {"200"}, f"{len(state['codes'])} requests: {sorted(set(state['codes']))}"


# Bad input: refused before current moves, the live release keeps serving -----

# Inputs that the checks refuse before any task touches a host (an unknown app
# server, a missing secret or source) are tested without hosts, in
# tests/test_app_inputs.py. These two are refused on the host, after the
# release is built and before or right after the switch: each host gets one
# of the two broken releases (the checks are the same under either app server).
BAD = {
    "pyweb-app-gunicorn": ("no_wsgi", "No module named 'demo.wsgi'"),
    "pyweb-app-uwsgi": ("sick", "failed its health check"),
}


@pytest.fixture(scope="session")
def bad_runs(more_releases, variants, all_hosts):
    """A run per host (a release is one source for every host it goes to),
    the two side by side."""
    with ThreadPoolExecutor(len(BAD)) as pool:
        runs = dict(zip(BAD, pool.map(
            lambda name: playbook("converge.yml", source=variants[BAD[name][0]], limit=name, tags="app",
                                  extra={"app_healthcheck_timeout": 10}, json_output=True), BAD)))
    return runs, snapshot(all_hosts)


def failures_of(run, name):
    """The results of the tasks that failed on host `name`, as text."""
    return [json.dumps(result) for play in run.data["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items() if host == name and result.get("failed")]


def test_bad_input_is_refused_and_the_live_release_keeps_serving(host, more_releases, bad_runs):
    name = host.backend.get_hostname()
    runs, state = bad_runs
    run = runs[name]
    assert run.returncode != 0 and run.data, (run.stdout + run.stderr)[-3000:]
    failed = failures_of(run, name)
    assert any(BAD[name][1] in f for f in failed), failed or run.stdout[-3000:]
    if BAD[name][0] == "sick":
        # The message carries the app server's own lines: here uWSGI's log of
        # the health check that answered 500.
        message = next(f for f in failed if BAD[name][1] in f)
        log = message.split("last log lines", 1)[1]
        assert "GET /healthz" in log and "500" in log, message
    live = more_releases[name]["live"]
    assert state[name]["live"] == live
    assert state[name]["health"] == (200, live)


# A release from a git repository ------------------------------------------------


GIT_SERVER = "pyweb-app-uwsgi"
VAULT_PASSWORD = ROOT / "molecule" / "shared" / "vault-password.txt"


@pytest.fixture(scope="session")
def git_repo(all_hosts, tmp_path_factory):
    """The demo app in a repository served over SSH by one of the scenario's
    containers (no outside network): a `git` user whose only shell is
    git-shell, the deploy key's public half in its authorized_keys, a branch
    (main) and an annotated tag (v1: a tag object of its own) on one commit. The private half goes to the
    deploys in a vault-encrypted variables file, as an environment keeps it;
    the server's host key in app_source_git_known_hosts."""
    server = next(h for h in all_hosts if h.backend.get_hostname() == GIT_SERVER)
    tmp = tmp_path_factory.mktemp("git")
    key = tmp / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pyweb-deploy", "-f", str(key)], check=True)
    address = server.interface("eth0").addresses[0]
    r = server.run(
        "set -e; id git >/dev/null 2>&1 || useradd --system --home-dir /srv/git --shell /usr/bin/git-shell git; "
        "usermod -p '*' git; rm -rf /srv/git /tmp/demo-src; mkdir -p /srv/git/.ssh /tmp/demo-src; "
        "git init -q --bare -b main /srv/git/demo.git; "
        f"echo 'restrict {key.with_suffix('.pub').read_text().strip()}' > /srv/git/.ssh/authorized_keys; "
        "chmod 700 /srv/git/.ssh; chmod 600 /srv/git/.ssh/authorized_keys"
    )
    assert r.rc == 0, r.stderr
    server.ansible("copy", f"src={ROOT_DEMO}/ dest=/tmp/demo-src/", check=False)
    r = server.run(
        "set -e; cd /tmp/demo-src && git init -q -b main && git add -A && "
        "git -c user.email=ci@pyweb.test -c user.name=ci commit -qm release && "
        "git -c user.email=ci@pyweb.test -c user.name=ci tag -a v1 -m v1 && "
        "git push -q /srv/git/demo.git main v1 && chown -R git:git /srv/git && git rev-parse HEAD"
    )
    assert r.rc == 0, r.stderr
    commit = r.stdout.strip().splitlines()[-1]
    host_key = server.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2]
    # The scenario's throwaway vault password (the runs read it from the same variable).
    secret = subprocess.run(
        ["ansible-vault", "encrypt_string", "--stdin-name", "app_source_git_key"], input=key.read_text(),
        capture_output=True, text=True, check=True, env={**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(VAULT_PASSWORD)},
    ).stdout
    vault = tmp / "git-vault.yml"
    vault.write_text("---\n" + secret)
    extra = {"app_source_type": "git", "app_source_git_repo": f"ssh://git@{address}/srv/git/demo.git",
             "app_source_git_ref": "main", "app_source_git_known_hosts": f"{address} {' '.join(host_key)}"}
    return extra, vault, commit


@pytest.fixture(scope="session")
def git_deploy(bad_runs, variants, all_hosts, git_repo):
    """A release from the git repository (its branch main), then runs that
    must change nothing."""
    extra, vault, commit = git_repo
    commits = {h.backend.get_hostname(): commit for h in all_hosts}
    run = playbook("converge.yml", extra=extra, vars_files=[vault], tags="app")
    before = snapshot(all_hosts)
    # Runs that must change nothing, side by side (each only reads), each on
    # one host (the checks are the same under either server; every host costs
    # each run time): the tag and the commit of the live release (they name
    # it: nothing to build or switch); deploys refused before anything
    # changes (an unknown ref, as a user names one; an app server configured
    # otherwise than the variables say; a release check that would load
    # another module than the server) and a dry run (--check) of a release
    # that is not built yet.
    runs = {
        "tag": ("playbooks/deploy.yml", {**extra, "app_source_git_ref": "v1"}, None),
        "commit": ("playbooks/deploy.yml", {**extra, "app_source_git_ref": commit}, None),
        "unknown_ref": ("playbooks/deploy.yml", {**extra, "app_source_git_ref": "no-such-branch"}, None),
        "module_mismatch": ("playbooks/deploy.yml", {**extra, "app_wsgi_module": "demo.other:app"}, None),
        "server_drift": ("playbooks/deploy.yml", {**extra, "app_server_workers": 7}, None),
        "dry_run": ("converge.yml", None, variants["dry"]),
    }
    with ThreadPoolExecutor(len(runs)) as pool:
        done = {kind: pool.submit(playbook, book, source=source, extra=extra_vars, limit=READ_ONLY_ON[kind],
                                  check=kind == "dry_run", vars_files=[vault] if extra_vars else [],
                                  tags="app" if book == "converge.yml" else None)
                for kind, (book, extra_vars, source) in runs.items()}
        done = {kind: future.result() for kind, future in done.items()}
    return run, done, commits, before, snapshot(all_hosts)


# Which host each read-only run of git_deploy goes to.
READ_ONLY_ON = {"tag": "pyweb-app-gunicorn", "commit": "pyweb-app-uwsgi", "unknown_ref": "pyweb-app-gunicorn", "module_mismatch": "pyweb-app-gunicorn",
                "server_drift": "pyweb-app-uwsgi", "dry_run": "pyweb-app-uwsgi"}


def test_a_release_from_git_is_named_after_its_commit(host, git_deploy):
    run, _, commits, _, state = git_deploy
    assert run.returncode == 0, run.stdout[-3000:]
    name = host.backend.get_hostname()
    assert state[name]["live"] == commits[name][:12]
    assert state[name]["health"] == (200, commits[name][:12])


def test_a_tag_and_a_commit_of_the_live_release_deploy_it_again_as_it_is(git_deploy):
    """v1 and the commit's id resolve to the commit main gave: the same
    release, nothing built or switched (the next test compares the hosts)."""
    for kind in ("tag", "commit"):
        run = git_deploy[1][kind]
        assert run.returncode == 0, (kind, run.stdout[-3000:])


def test_the_deploy_key_is_readable_by_root_only(host, git_deploy):
    with host.sudo():
        key = host.file("/etc/pyweb/demo/git/deploy_key")
        assert key.exists and key.user == "root" and key.mode == 0o600
        assert host.file("/etc/pyweb/demo/git").mode == 0o700
        assert "BEGIN OPENSSH PRIVATE KEY" in key.content_string
        as_app = host.run("runuser -u demo -- cat /etc/pyweb/demo/git/deploy_key")
    assert as_app.rc != 0 and "Permission denied" in as_app.stderr, as_app


def test_the_refused_deploys_and_the_dry_run_change_nothing(host, git_deploy):
    _, _, commits, before, state = git_deploy
    name = host.backend.get_hostname()
    # Nothing built, switched or pruned, the same release healthy.
    assert state[name] == before[name]
    assert state[name]["health"] == (200, commits[name][:12])
    conf = host.file(f"/etc/pyweb/demo/{server_of(host)}.conf").content_string
    assert re.search(r"^(workers|processes) = 2$", conf, re.M), conf  # as converged


def test_an_unknown_git_ref_is_refused(git_deploy):
    unknown = git_deploy[1]["unknown_ref"]
    assert unknown.returncode != 0
    assert "has no ref 'no-such-branch'" in said(unknown), said(unknown)[-3000:]


def test_a_deploy_onto_an_app_server_configured_otherwise_is_refused(git_deploy):
    """The deploy does not bring the app server's configuration along: it says
    which file differs and which playbook applies it, before anything changes."""
    drift = git_deploy[1]["server_drift"]
    text = said(drift)
    assert drift.returncode != 0
    assert "The app server's configuration on pyweb-app-uwsgi differs" in text, text[-3000:]
    assert "uwsgi.conf" in text and "with 7 worker(s)" in text and "run playbooks/app.yml" in text, text[-3000:]


def test_a_deploy_whose_release_check_names_another_module_than_the_server_is_refused(git_deploy):
    mismatch = git_deploy[1]["module_mismatch"]
    text = said(mismatch)
    assert mismatch.returncode != 0
    assert "app_wsgi_module (demo.other:app) and app_server_wsgi_module (demo.wsgi:app) differ" in text, text[-3000:]


def test_a_dry_run_of_a_new_release_says_it_would_build_it(git_deploy):
    dry = git_deploy[1]["dry_run"]
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "is not built on pyweb-app-uwsgi: a run would build it" in said(dry), said(dry)[-3000:]


# A release from an archive on the controller --------------------------------------


@pytest.fixture(scope="session")
def archive_deploy(git_deploy, variants, all_hosts, tmp_path_factory):
    import hashlib
    import tarfile

    archive = tmp_path_factory.mktemp("archive") / "demo-v3.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(variants["v3"], arcname=".")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:12]
    run = playbook("converge.yml", extra={"app_source_type": "archive", "app_source_path": str(archive)}, tags="app")
    return run, digest, snapshot(all_hosts)


def test_a_release_from_an_archive_is_named_after_its_hash(host, archive_deploy):
    run, digest, state = archive_deploy
    assert run.returncode == 0, run.stdout[-3000:]
    assert state[host.backend.get_hostname()]["live"] == digest
    assert state[host.backend.get_hostname()]["health"] == (200, digest)


def test_only_the_configured_number_of_releases_is_kept(host, archive_deploy):
    # By now: the first, v2, v3, the git and the archive release (and the
    # refused builds); app_keep_releases is 2 in this scenario.
    state = archive_deploy[2][host.backend.get_hostname()]
    assert len(state["history"]) >= 6  # the first, v2, the rollback, v3, git, archive
    assert len(state["releases"]) == 2, state["releases"]
    assert state["live"] in state["releases"]
    assert state["history"][-2] in state["releases"]  # the previous one too


def test_a_virtualenv_goes_with_the_last_release_that_used_it(host, more_releases, bad_runs, archive_deploy):
    """The virtualenvs left are exactly those of the releases kept: the refused
    release's went when it was pruned; v3's, used by the archive of v3, stays."""
    name = host.backend.get_hostname()
    refused, state = bad_runs[1][name], archive_deploy[2][name]
    refused_venvs = set(refused["venvs"]) - set(more_releases[name]["venvs"])
    assert len(refused_venvs) == 1, refused  # built for the refused release's requirements
    assert not refused_venvs & set(state["venvs"]), state
    assert sorted(state["venvs"]) == sorted(set(state["venv_of"].values())), state
    assert more_releases[name]["venv_of"][more_releases[name]["live"]] in state["venvs"]
