#!/usr/bin/env python3
"""Drills on the local stack (`make up` first): zero-downtime deploy and
rollback (of the demo, then of the Django example), adding a third app and
taking it off again (state: absent) under load on the others, losing an app host, reloading and restarting the app server on
every host in turn, backup and restore, losing the load balancer that holds
the floating address, and a catalogue of bad inputs.

Load goes only to the load balancer's port published on 127.0.0.1, or, for
the failover drills, from a container on the project's own docker network to
the floating address; always bounded in requests and time
(tests/drills/load.py). Each drill prints its figures
next to its target and all of them go to tests/drills/results/drills.json.
The exit status is 1 when a drill misses its target.

    make drills                      # all of them
    make drills DRILLS="deploy loss" # some

DRILLS_INVENTORY names another stack's inventory directory (the stack
scenario's verify runs them on its own converge that way): the hosts come
from its hosts file's groups, the HTTPS port, network and image from the
first load balancer's container.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "molecule" / "shared"))
import web  # noqa: E402
from playbook_runner import ansible_playbook, said  # noqa: E402
from load import Load, Sample  # noqa: E402

INVENTORY = Path(os.environ.get("DRILLS_INVENTORY") or ROOT / "inventory" / "local")
# The file with the groups: an environment's hosts.yml, or the one a Molecule
# scenario links into its inventory as `hosts`.
HOSTS_FILE = next(p for p in (INVENTORY / "hosts.yml", INVENTORY / "hosts") if p.exists())
TOPOLOGY = yaml.safe_load(HOSTS_FILE.read_text())["all"]
GROUPS = {g: list((v or {}).get("hosts") or {}) for g, v in TOPOLOGY["children"].items()}
LBS, APPS, DBS = GROUPS["loadbalancers"], GROUPS["app"], GROUPS["db"]
LB = LBS[0]
ALL = list(dict.fromkeys(h for hosts in GROUPS.values() for h in hosts))
FLOATING = TOPOLOGY["vars"]["stack_floating_address"]
RESULTS = HERE / "results"
WORK = RESULTS / "work"
NAME = "pyweb.localhost"
# The second app of the local environment (the Django example, apps/shop).
SHOP = "shop.pyweb.localhost"
# Read from the first load balancer's container by check_stack(): the port it
# publishes HTTPS on (127.0.0.1), its docker network and its image.
PORT, NETWORK, IMAGE = 0, "", ""
MEDIA = "/srv/demo/shared/media"
CA = RESULTS / "ca.pem"


# -- helpers ------------------------------------------------------------------


def log(msg):
    print(f"[drills {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, timeout=1200, check=False):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def sh(container, script, check=True):
    return run(["docker", "exec", container, "sh", "-c", script], timeout=120, check=check).stdout.strip()


def playbook(name, *args, inventory=INVENTORY, logname=None):
    """One of the project's playbooks; its output goes to results/logs/."""
    return ansible_playbook(name, *args, inventory=inventory, timeout=1200,
                            log=RESULTS / "logs" / f"{logname or Path(name).stem}.log")


def get(path, **kw):
    return web.request(PORT, path, NAME, cafile=str(CA), **kw)


def live_release(app, name="demo"):
    return sh(app, f"basename $(readlink /srv/{name}/current)")


def load(**kw):
    return Load(port=PORT, name=NAME, cafile=str(CA), **kw)


def new_release_source(tag, broken=False):
    """A copy of the demo app that differs from the live one (so it is a new
    release); `broken` makes its health check fail."""
    src = WORK / f"release-{tag}-{uuid.uuid4().hex[:6]}"
    shutil.copytree(ROOT / "apps" / "demo", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (src / "demo" / "DRILL").write_text(f"{tag} {time.time()}\n")
    if broken:
        init = src / "demo" / "__init__.py"
        init.write_text(init.read_text().replace(
            'return jsonify(status="ok", release=release, host=host)',
            'return jsonify(status="broken on purpose", release=release, host=host), 503'))
    return src


def demo_pid(app):
    return sh(app, "systemctl show -p MainPID --value demo.service")


def new_shop_source(tag):
    """A copy of the Django example that differs from the live one."""
    src = WORK / f"shop-{tag}-{uuid.uuid4().hex[:6]}"
    shutil.copytree(ROOT / "apps" / "shop", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (src / "shop" / "DRILL").write_text(f"{tag} {time.time()}\n")
    return src


def check_stack():
    global PORT, NETWORK, IMAGE
    missing = [c for c in ALL if run(["docker", "inspect", "-f", "{{.State.Running}}", c]).stdout.strip() != "true"]
    if missing:
        sys.exit(f"The stack of {INVENTORY} is not up ({', '.join(missing)} not running): run `make up` first.")
    PORT = int(run(["docker", "port", LB, "443/tcp"], check=True).stdout.split()[0].rsplit(":", 1)[1])
    NETWORK = run(["docker", "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", LB],
                  check=True).stdout.split()[0]
    IMAGE = run(["docker", "inspect", "-f", "{{.Config.Image}}", LB], check=True).stdout.strip()
    RESULTS.mkdir(parents=True, exist_ok=True)
    # Each app's certificate has a throwaway CA of its own (selfsigned mode).
    CA.write_text(sh(LB, "cat /etc/ssl/pyweb/*/chain.pem") + "\n")
    status, _, _ = get("/healthz")
    if status != 200:
        sys.exit(f"https://127.0.0.1:{PORT}/healthz answers {status}: run `make up` first.")


def under_load(action, settle=3.0, **kw):
    """Run action() while the load runs; return (load, action's result, (start, end))."""
    lo = load(**kw).start()
    time.sleep(settle)
    t1 = lo.now()
    result = action(lo)
    t2 = lo.now()
    time.sleep(settle)
    lo.stop()
    return lo, result, (round(t1, 2), round(t2, 2))


def verdict(figures, ok):
    figures["passed"] = bool(ok)
    return figures


# -- drills -------------------------------------------------------------------


def drill_deploy():
    """A new release rolled across the app hosts under load, then rolled back."""
    before = {a: live_release(a) for a in APPS}
    src = new_release_source("deploy")
    lo, proc, (t1, t2) = under_load(lambda lo: playbook("playbooks/deploy.yml", "-e", "deploy_app=demo",
                                                        "-e", f"app_source_path={src}"))
    after = {a: live_release(a) for a in APPS}
    new = set(after.values())
    tail = Load.summary(lo.window(t2 + 1))
    deploy = {
        "deploy_seconds": proc.seconds, "deploy_rc": proc.returncode, **Load.summary(lo.samples),
        "releases_before": before, "releases_after": after, "releases_answering_at_the_end": tail["by_release"],
        "stale_keepalive_retries": lo.stale_retries, "deploy_window_s": [t1, t2],
    }
    lo2, proc2, (t3, t4) = under_load(lambda lo: playbook("playbooks/rollback.yml", "-e", "deploy_app=demo"))
    back = {a: live_release(a) for a in APPS}
    rollback = {"rollback_seconds": proc2.seconds, "rollback_rc": proc2.returncode, **Load.summary(lo2.samples),
                "releases_after": back, "stale_keepalive_retries": lo2.stale_retries}
    ok = (proc.returncode == 0 and deploy["failed"] == 0 and len(new) == 1 and new != set(before.values())
          and set(tail["by_release"]) == new and proc2.returncode == 0 and rollback["failed"] == 0 and back == before)
    return verdict({"target": "0 failed requests during the deploy and the rollback; the new release answers at the end",
                    "deploy": deploy, "rollback": rollback}, ok)


def drill_second_app():
    """The second app (the Django example) deployed, then rolled back, under load on both apps."""
    demo_before = {a: (live_release(a), demo_pid(a)) for a in APPS}
    before = {a: live_release(a, "shop") for a in APPS}
    src = new_shop_source("deploy")
    # Both loads come from one client: together under the per-client rate limit (20 r/s).
    demo = load(rate=8.0).start()
    shop = Load(port=PORT, name=SHOP, cafile=str(CA), path="/healthz", rate=8.0).start()
    time.sleep(3)
    proc = playbook("playbooks/deploy.yml", "-e", "deploy_app=shop", "-e", f"app_source_path={src}", logname="deploy-shop")
    after = {a: live_release(a, "shop") for a in APPS}
    status, _, body = web.request(PORT, "/healthz", SHOP, cafile=str(CA))
    answering = web.json_body(body).get("release") if status == 200 else None
    proc2 = playbook("playbooks/rollback.yml", "-e", "deploy_app=shop", logname="rollback-shop")
    back = {a: live_release(a, "shop") for a in APPS}
    time.sleep(3)
    demo.stop()
    shop.stop()
    demo_after = {a: (live_release(a), demo_pid(a)) for a in APPS}
    figures = {
        "deploy_seconds": proc.seconds, "deploy_rc": proc.returncode, "rollback_seconds": proc2.seconds,
        "rollback_rc": proc2.returncode, "shop_releases_before": before, "shop_releases_after": after,
        "shop_release_answering_after_the_deploy": answering, "shop_releases_after_the_rollback": back,
        "shop_load": Load.summary(shop.samples), "demo_load": Load.summary(demo.samples),
        # The first app's release and app server (its main process) untouched.
        "demo_release_and_server_untouched": demo_after == demo_before,
    }
    new = set(after.values())
    ok = (proc.returncode == 0 and proc2.returncode == 0 and len(new) == 1 and new != set(before.values())
          and answering in new and back == before and demo_after == demo_before
          and figures["shop_load"]["failed"] == 0 and figures["demo_load"]["failed"] == 0
          and figures["shop_load"]["requests"] > 0 and figures["demo_load"]["requests"] > 0)
    return verdict({"target": "0 failed requests on either app while the second deploys and rolls back; "
                              "the first app's release and app server untouched", **figures}, ok)


# A third app, added to the environment's list for the add-app drill: the
# demo's code under another name, on a port of its own.
BLOG = "blog.pyweb.localhost"
BLOG_PORT = 8200


def environment_apps():
    """The environment's stack_apps as written (their templates unrendered:
    Ansible renders them in the extra vars as it does in group_vars)."""
    for f in sorted((INVENTORY / "group_vars" / "all").glob("*.yml")):
        data = yaml.safe_load(f.read_text()) or {}
        if "stack_apps" in data:
            return data["stack_apps"]
    sys.exit(f"{INVENTORY}/group_vars/all sets no stack_apps: the add-app drill adds to the environment's list")


def apps_vars(tag, extra_app):
    """An extra-vars file: the environment's apps and one more (mode 0600: it
    holds the new app's generated secrets; the drill deletes it)."""
    path = WORK / f"apps-{tag}.yml"
    path.write_text(yaml.safe_dump({"stack_apps": environment_apps() + [extra_app]}))
    path.chmod(0o600)
    return path


def blog_request(path="/healthz"):
    """GET through the load balancer as blog.pyweb.localhost: (status,
    release), or (None, the error) when the load balancer refuses the name."""
    try:
        status, _, body = web.request(PORT, path, BLOG, cafile=str(RESULTS / "ca-blog.pem"))
        return status, web.json_body(body).get("release") if status == 200 else None
    except (OSError, ValueError) as e:
        return None, type(e).__name__


def blog_on_hosts():
    """On each app host: the blog's server units, its port in the firewall,
    its files; on the database host its database."""
    state = {a: sh(a, "ls /etc/systemd/system/blog.socket /etc/systemd/system/blog.service 2>/dev/null | wc -l;"
                      f" nft list ruleset | grep -c 'dport {BLOG_PORT} ' || true;"
                      " test -d /srv/blog/shared && echo kept || echo gone").split("\n") for a in APPS}
    primary = db_primary()
    state["db"] = sh(primary, "runuser -u postgres -- psql -tAc \"SELECT count(*) FROM pg_database WHERE datname = 'blog'\"")
    return state


def drill_add_app():
    """A third app added to the inventory, then removed (state: absent), under load on the first two."""
    demo_before = {a: (live_release(a), demo_pid(a)) for a in APPS}
    shop_before = {a: live_release(a, "shop") for a in APPS}
    src = WORK / f"blog-{uuid.uuid4().hex[:6]}"
    shutil.copytree(ROOT / "apps" / "demo", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    blog = {"name": "blog", "domains": [BLOG], "port": BLOG_PORT, "wsgi_module": "demo.wsgi:app",
            "server": "gunicorn", "source_path": str(src),
            "secret_key": uuid.uuid4().hex + uuid.uuid4().hex, "db_password": uuid.uuid4().hex}
    added, removed = apps_vars("add", blog), apps_vars("remove", {"name": "blog", "state": "absent"})
    # The tiers an app touches: its database and role (postgresql: the db
    # tag's etcd and pgBackRest have nothing to do for it), the app hosts'
    # openings, its server, release and site, its certificate and the load
    # balancers' site; the app tier for this app only.
    tiers = ("--tags", "postgresql,firewall,app,web", "-e", "deploy_app=blog")
    demo = load(rate=8.0).start()
    shop = Load(port=PORT, name=SHOP, cafile=str(CA), path="/healthz", rate=8.0).start()
    time.sleep(3)
    try:
        proc = playbook(SITE, *tiers, "-e", f"@{added}", logname="add-app")
        (RESULTS / "ca-blog.pem").write_text(sh(LB, "cat /etc/ssl/pyweb/blog/chain.pem", check=False) + "\n")
        serving = blog_request()
        on_hosts = blog_on_hosts()
        proc2 = playbook(SITE, *tiers, "-e", f"@{removed}", logname="remove-app")
        refused = blog_request()
        gone = blog_on_hosts()
    finally:
        time.sleep(3)
        demo.stop()
        shop.stop()
        added.unlink()
        removed.unlink()
    demo_after = {a: (live_release(a), demo_pid(a)) for a in APPS}
    shop_after = {a: live_release(a, "shop") for a in APPS}
    figures = {
        "add_seconds": proc.seconds, "add_rc": proc.returncode, "remove_seconds": proc2.seconds,
        "remove_rc": proc2.returncode, "blog_answers_after_the_add": serving,
        # The load balancers no longer give its certificate for its name (the
        # local environment answers unknown names with the first app's site).
        "blog_request_after_the_removal": refused,
        # [server units, firewall rules for its port, /srv/blog] per app host; its database.
        "blog_on_the_hosts_after_the_add": on_hosts, "blog_on_the_hosts_after_the_removal": gone,
        "demo_load": Load.summary(demo.samples), "shop_load": Load.summary(shop.samples),
        "demo_release_and_server_untouched": demo_after == demo_before, "shop_release_untouched": shop_after == shop_before,
    }
    ok = (proc.returncode == 0 and proc2.returncode == 0 and serving[0] == 200 and serving[1]
          and refused[0] is None
          and all(on_hosts[a] == ["2", "1", "kept"] for a in APPS) and on_hosts["db"] == "1"
          and all(gone[a] == ["0", "0", "kept"] for a in APPS) and gone["db"] == "1"
          and demo_after == demo_before and shop_after == shop_before
          and figures["demo_load"]["failed"] == 0 and figures["shop_load"]["failed"] == 0
          and figures["demo_load"]["requests"] > 0 and figures["shop_load"]["requests"] > 0)
    return verdict({"target": "the new app serves after the add and is refused after the removal (its server, site "
                              "and port gone, its files and database kept); 0 failed requests on the other two "
                              "apps, whose releases and servers are untouched", **figures}, ok)


def drill_loss(mode="stop", victim=None, first=5.0, down_for=15.0):
    """An app host is stopped (systemd shuts it down) under load, then comes back."""
    victim = victim or APPS[-1]

    def lose(lo):
        t_stop = lo.now()
        run(["docker", mode, victim], check=True)
        gone = lo.now()
        time.sleep(down_for)
        t_start = lo.now()
        run(["docker", "start", victim], check=True)
        back = None
        while lo.now() - t_start < 180:
            if any(s.host == victim for s in lo.window(t_start)):
                back = min(s.t for s in lo.window(t_start) if s.host == victim)
                break
            time.sleep(0.5)
        time.sleep(3)
        return t_stop, gone, t_start, back

    lo, (t_stop, gone, t_start, back), _ = under_load(lose)
    figures = {
        "how": f"docker {mode} {victim}",
        "docker_stop_seconds": round(gone - t_stop, 1),
        "first_seconds": first,
        "in_first_seconds": Load.summary(lo.window(t_stop, t_stop + first)),
        "after_first_seconds_while_down": Load.summary(lo.window(t_stop + first, t_start)),
        "while_coming_back": Load.summary(lo.window(t_start)),
        "back_in_pool_after_start_s": round(back - t_start, 1) if back else None,
        "total": Load.summary(lo.samples),
    }
    ok = (figures["after_first_seconds_while_down"]["failed"] == 0 and figures["while_coming_back"]["failed"] == 0
          and back is not None)
    return verdict({"target": f"0 failed requests after the first {first:g} s and while the host returns; "
                              "the host back in the pool", **figures}, ok)


def drill_loss_kill():
    """An app host is killed (no shutdown at all) under load, then comes back."""
    return drill_loss(mode="kill")


def drill_reload():
    """Graceful reload (SIGHUP), then restart, of the app server on every app host in turn."""
    out = {}
    for how in ("reloaded", "restarted"):
        lo, proc, _ = under_load(lambda lo, how=how: playbook(
            "playbooks/app_restart.yml", "-e", f"app_restart_state={how}", "-e", "deploy_app=demo",
            logname=f"app_restart-{how}"))
        out[how] = {"seconds": proc.seconds, "rc": proc.returncode, **Load.summary(lo.samples),
                    "stale_keepalive_retries": lo.stale_retries}
    ok = all(v["rc"] == 0 and v["failed"] == 0 for v in out.values())
    return verdict({"target": "0 failed requests", **out}, ok)


def holders():
    return [lb for lb in LBS if f"inet {FLOATING}/" in run(["docker", "exec", lb, "ip", "-4", "-o", "addr", "show"]).stdout]


def drill_failover(mode="stop", down_for=15.0, seconds=45.0, grace=3.0):
    """The load balancer holding the floating address is stopped under load, then comes back.

    The load runs in a container on the project's network against the
    floating address, as clients reach the site once DNS points at it."""
    deadline = time.monotonic() + 30
    while len(holders()) != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    start_holders = holders()
    if len(start_holders) != 1:
        return verdict({"target": "one load balancer holds the floating address", "holders": start_holders}, False)
    holder = start_holders[0]
    other = next(lb for lb in LBS if lb != holder)
    client, output = f"pyweb-drill-client-{mode}", RESULTS / f"failover-{mode}.json"
    output.unlink(missing_ok=True)
    run(["docker", "rm", "-f", client])
    run(["docker", "run", "-d", "--name", client, "--label", "project=pyweb", "--network", NETWORK,
         "-v", f"{HERE}:/drills:ro", "-v", f"{RESULTS}:/out", IMAGE,
         "python3", "/drills/load.py", "--address", FLOATING, "--name", NAME, "--cafile", "/out/ca.pem",
         "--seconds", str(seconds), "--timeout", "5", "--output", f"/out/{output.name}"], check=True)
    time.sleep(8)
    t_stop = time.time()
    stopping = subprocess.Popen(["docker", mode, holder], stdout=subprocess.DEVNULL)
    took_over = None
    while time.time() - t_stop < 20:
        if f"inet {FLOATING}/" in run(["docker", "exec", other, "ip", "-4", "-o", "addr", "show"]).stdout:
            took_over = time.time() - t_stop
            break
        time.sleep(0.1)
    stopping.wait(60)
    time.sleep(max(0.0, t_stop + down_for - time.time()))
    t_start = time.time()
    run(["docker", "start", holder], check=True)
    run(["docker", "wait", client], timeout=seconds + 60)
    logs = run(["docker", "logs", client]).stderr
    run(["docker", "rm", "-f", client])
    if not output.exists():
        return verdict({"target": "the load ran", "client_log": logs[-2000:]}, False)
    data = json.loads(output.read_text())
    samples = [Sample(**s) for s in data["samples"]]
    stop, back = t_stop - data["t0_wall"], t_start - data["t0_wall"]
    failed = [s for s in samples if s.failed]
    # How long requests kept failing: from the first failed request's start to
    # the last one's. A request caught in flight by the move counts once,
    # however long its client then waits (its wait is reported apart).
    errors_s = round(max(s.t for s in failed) - min(s.t for s in failed), 2) if failed else 0.0
    longest_wait = round(max(s.latency for s in failed), 2) if failed else 0.0
    rejoined = "Entering BACKUP STATE" in sh(holder, "journalctl -b -u keepalived --no-pager", check=False)
    figures = {
        "how": f"docker {mode} {holder} (it held {FLOATING}); {other} takes over",
        "address_moved_after_s": round(took_over, 2) if took_over is not None else None,
        # Requests that ended before the stop; one in flight at the stop belongs to it.
        "before": Load.summary([s for s in samples if s.t + s.latency < stop]),
        "from_the_stop": Load.summary([s for s in samples if s.t + s.latency >= stop and s.t < back]),
        "while_it_comes_back": Load.summary([s for s in samples if s.t >= back]),
        "errors_span_s": errors_s,
        "longest_failed_wait_s": longest_wait,
        "failed_later_than_grace": sum(1 for s in failed if s.t >= stop + grace),
        "stale_keepalive_retries": data["stale_retries"],
        "returned_as_backup": rejoined, "holders_at_the_end": holders(),
    }
    ok = (took_over is not None and figures["before"]["failed"] == 0 and errors_s < grace
          and figures["failed_later_than_grace"] == 0 and rejoined and figures["holders_at_the_end"] == [other]
          and figures["while_it_comes_back"]["requests"] > 0)
    return verdict({"target": f"under {grace:g} s of errors after the stop, none later (nor while it returns); "
                              "it rejoins as a backup and the address stays put", **figures}, ok)


def drill_failover_kill():
    """The load balancer holding the floating address is killed (no shutdown) under load, then comes back."""
    # No last advert: the other notices after about 3 missed adverts (3.x s).
    return drill_failover(mode="kill", grace=5.0)


def db_primary():
    """The database host that takes writes (with a cluster, its primary)."""
    return next((h for h in DBS if sh(h, "runuser -u postgres -- psql -XtAc 'SELECT pg_is_in_recovery()'", check=False) == "f"),
                None)


def psql(sql):
    return sh(db_primary(), f'runuser -u postgres -- psql -d demo -XtAc "{sql}"')


def drill_backup():
    """A note and an upload through the site, backup.yml, both lost, restore.yml."""
    text = f"drill-{uuid.uuid4().hex}"
    get("/notes", method="POST", headers={"Content-Type": "application/json"}, body=json.dumps({"body": text}))
    data = os.urandom(64 * 1024)
    name = f"drill-{uuid.uuid4().hex}.bin"
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    get("/upload", method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, body=body)
    holder = next(a for a in APPS if sh(a, f"test -f {MEDIA}/{name} && echo yes", check=False) == "yes")
    rows = "SELECT count(*) || ':' || md5(string_agg(id || body, ',' ORDER BY id)) FROM notes"
    rows_before = psql(rows)
    file_sum = sh(holder, f"sha256sum {MEDIA}/{name} | cut -d' ' -f1")

    backup = playbook("playbooks/backup.yml")
    psql(f"DELETE FROM notes WHERE body = '{text}'")
    sh(holder, f"rm {MEDIA}/{name}")
    lost = psql(f"SELECT count(*) FROM notes WHERE body = '{text}'")
    targets = ",".join(DBS + [holder])
    refused = playbook("playbooks/restore.yml", "--limit", targets, logname="restore-refused")
    restore = playbook("playbooks/restore.yml", "--limit", targets, "-e", "backup_restore_force=true")
    rows_after = psql(rows)
    file_after = sh(holder, f"sha256sum {MEDIA}/{name} 2>/dev/null | cut -d' ' -f1", check=False)
    status, _, served = get(f"/media/{name}")
    figures = {
        "backup_seconds": backup.seconds, "restore_seconds": restore.seconds,
        "lost_before_restore": lost == "0", "restore_without_force_refused": refused.returncode != 0
        and "backup_restore_force=true" in said(refused),
        "rows_equal": rows_after == rows_before, "file_equal": file_after == file_sum,
        "served_after_restore": status == 200 and served == data,
    }
    ok = backup.returncode == 0 and restore.returncode == 0 and all(
        figures[k] for k in ("lost_before_restore", "restore_without_force_refused", "rows_equal", "file_equal",
                             "served_after_restore"))
    return verdict({"target": "rows and files byte-equal after the restore", **figures}, ok)


# -- the database cluster -------------------------------------------------------


def post_note(prefix):
    """One note written through the site, with an id of its own: (the id, the answer's status, 0 for none)."""
    note = f"{prefix}-{uuid.uuid4().hex}"
    try:
        status, _, _ = get("/notes", method="POST", headers={"Content-Type": "application/json"},
                           body=json.dumps({"body": note}), timeout=10)
    except OSError:
        status = 0
    return note, status


class Writer:
    """Notes written through the site (POST /notes) at a fixed rate, each
    with an id of its own: every write the site acknowledged (201) is kept,
    and when each failed one started and ended."""

    def __init__(self, rate=6.0, threads=3):
        self.interval = threads / rate
        self.threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(threads)]
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked, self.failed = [], []  # ids; (start, end) of each failed write
        self.t0 = time.monotonic()

    def now(self):
        return time.monotonic() - self.t0

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)

    def _worker(self):
        while not self.stop_event.is_set():
            began = self.now()
            note, status = post_note("dbdrill")
            with self.lock:
                if status == 201:
                    self.acked.append(note)
                else:
                    self.failed.append((began, self.now(), status))
            time.sleep(max(0.0, self.interval - (self.now() - began)))

    def failed_seconds(self, since=0.0):
        """From the first failed write's start to the last one's end (0: none failed)."""
        failed = [f for f in self.failed if f[0] >= since]
        return round(max(f[1] for f in failed) - min(f[0] for f in failed), 1) if failed else 0.0

    def failures(self, since=0.0):
        """Each failed write since `since`: its start and end (seconds after `since`) and its answer (0: none)."""
        return [[round(b - since, 1), round(e - since, 1), status] for b, e, status in self.failed if b >= since]

    def lost(self, primary):
        """The acknowledged ids that the database does not hold."""
        return sorted(set(self.acked) - notes_like(primary, "dbdrill-", check=True))


def db_standbys(primary):
    """The members streaming from the primary, and how (name: sync_state)."""
    out = sh(primary, "runuser -u postgres -- psql -XtAc "
                      "\"SELECT application_name || ' ' || sync_state FROM pg_stat_replication WHERE state = 'streaming'\"",
             check=False)
    return dict(line.split() for line in out.splitlines() if line.strip())


def wait_for_standby(primary, name, timeout=180):
    """Seconds until `name` streams from the primary as its synchronous standby (None: not within timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if db_standbys(primary).get(name) == "sync":
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    return None


def after_member_loss(writer, primary, member, killed):
    """What both loss drills measure once the writes stop: the writes that
    failed after the kill, the acknowledged ones the primary lacks, and how
    long the killed member, started again, takes to stream as the
    synchronous standby."""
    writer.stop()
    lost = writer.lost(primary)
    figures = {"acknowledged": len(writer.acked), "failed_writes": len(writer.failed),
               "failed_seconds": writer.failed_seconds(killed), "lost": len(lost), "lost_ids": lost[:5],
               "failures_after_kill": writer.failures(killed)}
    run(["docker", "start", member], check=True)
    figures["rejoined_as_sync_standby_s"] = wait_for_standby(primary, member)
    return figures


def drill_db_switchover():
    """The database's primary handed over to its standby (db_switchover.yml) while notes are written through the site."""
    old = db_primary()
    writer = Writer().start()
    time.sleep(5)
    started = writer.now()
    switch = playbook("playbooks/db_switchover.yml")
    time.sleep(5)
    writer.stop()
    new = db_primary()
    lost = writer.lost(new)
    figures = {"from": old, "to": new, "playbook_seconds": switch.seconds, "acknowledged": len(writer.acked),
               "failed_writes": len(writer.failed), "failed_seconds": writer.failed_seconds(started),
               "lost": len(lost), "old_primary_streams": db_standbys(new).get(old),
               "failures_after_start": writer.failures(started)}
    ok = (switch.returncode == 0 and new != old and figures["failed_seconds"] <= 5 and not lost
          and figures["old_primary_streams"] == "sync")
    return verdict({"target": "at most 5 s of failed writes, none acknowledged lost, the old primary a standby", **figures}, ok)


def lock_ttl(member):
    """The cluster's leader lock TTL in seconds, as Patroni's dynamic configuration holds it."""
    code = ("import json, socket, urllib.request; a = socket.gethostbyname(socket.gethostname());"
            " print(json.load(urllib.request.urlopen(f'http://{a}:8008/config'))['ttl'])")
    return int(sh(member, f'python3 -c "{code}"'))


def leads_etcd(member):
    """Whether `member`'s etcd is the etcd cluster's leader."""
    status = json.loads(sh(member, "etcdctl --endpoints http://127.0.0.1:2379 endpoint status -w json"))[0]["Status"]
    return status["header"]["member_id"] == status["leader"]


# When the killed primary also led etcd, the leader lock's lease outlives it
# longer: the other members wait one to two election timeouts
# (etcd_election_timeout, 1 s) before they elect a leader, which gives every
# lease its whole TTL again. Up to 3 s more than when a follower dies (the
# dbcluster scenario's test_failover.py allows the same).
ETCD_LEADER_LOSS = 3


def drill_db_loss(down_for=30.0):
    """The database's primary killed (docker kill) while notes are written through the site, then started again."""
    old = db_primary()
    # A killed primary's lock expires after its TTL: the floor of this
    # window (Debian 13's Patroni 4 takes 20 s at least; Debian 12's 3.0 the
    # role's 9 s, under the 15 s).
    led_etcd = leads_etcd(old)
    target = lock_ttl(old) + 5 + (ETCD_LEADER_LOSS if led_etcd else 0)
    writer = Writer().start()
    time.sleep(5)
    killed = writer.now()
    run(["docker", "kill", old], check=True)
    time.sleep(down_for)
    new = db_primary()
    figures = {"killed": old, "killed_host_led_etcd": led_etcd, "new_primary": new,
               **after_member_loss(writer, new, old, killed)}
    ok = (new != old and figures["failed_seconds"] <= target and not figures["lost"]
          and figures["rejoined_as_sync_standby_s"] is not None)
    bound = "the leader lock's TTL + 5 s" + (f", + {ETCD_LEADER_LOSS} s as it also led etcd" if led_etcd else "")
    return verdict({"target": f"at most {target} s of failed writes ({bound}), none acknowledged "
                              "lost, the old primary back as a standby on its own", **figures}, ok)


def firing(alert):
    """The hosts (instances) the monitoring host's Prometheus fires `alert` for."""
    monitor = (GROUPS.get("monitoring") or [None])[0]
    # Prometheus listens on the monitoring host's private address (ansible_host here).
    address = next((h["ansible_host"] for g in TOPOLOGY["children"].values() for n, h in ((g or {}).get("hosts") or {}).items()
                    if n == monitor and h and "ansible_host" in h), None)
    code = ("import json, urllib.request;"
            f" a = json.load(urllib.request.urlopen('http://{address}:9090/api/v1/alerts'));"
            f" print(' '.join(x['labels'].get('instance', x['labels'].get('scope', '-')) for x in a['data']['alerts']"
            f" if x['labels']['alertname'] == '{alert}' and x['state'] == 'firing'))")
    return sh(monitor, f'python3 -c "{code}"', check=False).split() if monitor else []


def drill_db_standby_loss(timeout=240.0):
    """The database's standby killed while notes are written through the site: the primary goes on alone, the alert fires."""
    primary = db_primary()
    (standby,) = [h for h in DBS if h != primary]
    # An alert still firing from an earlier drill (a member down) would be
    # taken for this one's: wait until it has resolved.
    settle = time.monotonic()
    while firing("DatabaseNoStandby") and time.monotonic() - settle < timeout:
        time.sleep(2)
    writer = Writer().start()
    time.sleep(5)
    killed = writer.now()
    run(["docker", "kill", standby], check=True)
    fired = None
    while writer.now() - killed < timeout:
        if firing("DatabaseNoStandby"):
            fired = round(writer.now() - killed, 1)
            break
        time.sleep(2)
    time.sleep(5)
    figures = {"killed": standby, "primary": primary, "alert_fired_after_s": fired,
               **after_member_loss(writer, primary, standby, killed)}
    ok = (figures["failed_seconds"] <= 15 and not figures["lost"] and fired is not None
          and figures["rejoined_as_sync_standby_s"] is not None)
    return verdict({"target": "writes go on within 15 s, none acknowledged lost, DatabaseNoStandby fires, the standby "
                              "back on its own", **figures}, ok)


def post_notes(prefix, count):
    """Notes written through the site, one after the other: the ids it acknowledged."""
    written = [post_note(prefix) for _ in range(count)]
    return [note for note, status in written if status == 201]


def notes_like(host, prefix, port=5432, check=False):
    """The ids of the notes whose id starts with `prefix` that `host`'s database holds."""
    out = sh(host, f"runuser -u postgres -- psql -p {port} -d demo -XtAc \"SELECT body FROM notes WHERE body LIKE '{prefix}%'\"",
             check=check)
    return set(out.split())


def clean_copy(host, target, timeline, prefix, port=5499):
    """The notes on a copy restored beside `host`'s own data (its own
    directory and port, archiving off): the archive's state at `target` on
    `timeline`, as an operator fetches rows a restore went back past."""
    copy = "/var/lib/postgresql/pyweb-pitr-copy"
    bin_dir = "/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n1)/bin"
    restore = sh(host, f"rm -rf {copy} && runuser -u postgres -- pgbackrest --stanza=pyweb --pg1-path={copy} --type=time "
                       f"--target='{target}' --target-timeline={timeline} --target-action=promote --archive-mode=off restore "
                       "&& echo restored", check=False)
    started = sh(host, f"runuser -u postgres -- {bin_dir}/pg_ctl -D {copy} -w -t 300 -l /tmp/pyweb-pitr-copy.log "
                       f"-o \"-p {port} -c listen_addresses='' -c synchronous_standby_names=''\" start >/dev/null && echo started",
                 check=False)
    held = set()
    for _ in range(60):
        if sh(host, f"runuser -u postgres -- psql -p {port} -XtAc 'SELECT pg_is_in_recovery()'", check=False) == "f":
            held = notes_like(host, prefix, port)
            break
        time.sleep(2)
    sh(host, f"runuser -u postgres -- {bin_dir}/pg_ctl -D {copy} -m immediate stop; rm -rf {copy}", check=False)
    return restore.endswith("restored") and started == "started", held


def drill_db_pitr():
    """Point-in-time recovery of the database: notes A, the time noted, notes B, the table dropped, restore.yml to the noted time."""
    prefix = f"pitr-{uuid.uuid4().hex[:8]}"
    a = post_notes(f"{prefix}-a", 20)
    time.sleep(1.5)
    noted = psql("SELECT now()")
    time.sleep(1.5)
    b = post_notes(f"{prefix}-b", 20)
    time.sleep(1.0)
    before_drop = psql("SELECT now()")
    timeline = psql("SELECT timeline_id FROM pg_control_checkpoint()")
    time.sleep(1.0)
    old = db_primary()
    # The mistake, and the archive holding everything up to it.
    sh(old, 'runuser -u postgres -- psql -d demo -XtAc "DROP TABLE notes"')
    archived = sh(old, "runuser -u postgres -- pgbackrest --stanza=pyweb check && echo archived", check=False)
    restore = playbook("playbooks/restore.yml", "--limit", ",".join(DBS), "-e",
                       json.dumps({"restore_target_time": noted, "backup_restore_force": True}), logname="restore-pitr")
    primary = db_primary()
    held = notes_like(primary, prefix) if primary else set()
    others = [h for h in DBS if h != primary]
    standby_s = [wait_for_standby(primary, h) for h in others] if primary else [None]
    written_after = post_notes(f"{prefix}-c", 3)
    copy_ok, copy_held = clean_copy(others[0] if others else DBS[0], before_drop, timeline, prefix) if primary else (False, set())
    figures = {
        "notes_a": len(a), "notes_b": len(b), "restored_to": noted, "archived_before_the_restore": archived.endswith("archived"),
        "restore_seconds": restore.seconds, "restore_rc": restore.returncode, "primary_after": primary,
        "a_back": len(held & set(a)), "b_back": len(held & set(b)), "standbys_streaming_after_s": standby_s,
        "written_through_the_site_after": len(written_after),
        "clean_copy_to_before_the_drop": {"restored": copy_ok, "a": len(copy_held & set(a)), "b": len(copy_held & set(b))},
    }
    ok = (restore.returncode == 0 and figures["archived_before_the_restore"] and len(a) == 20 and len(b) == 20
          and figures["a_back"] == len(a) and figures["b_back"] == 0 and None not in standby_s
          and len(written_after) == 3 and copy_ok and figures["clean_copy_to_before_the_drop"]["a"] == len(a)
          and figures["clean_copy_to_before_the_drop"]["b"] == len(b))
    return verdict({"target": "restored to the noted time: every note A back, no note B, the standbys streaming, the "
                              "site writing; a clean copy to just before the drop holds A and B",
                    **figures}, ok)


# -- bad inputs ----------------------------------------------------------------


def snapshot():
    """What a run could change: each host's /etc, firewall ruleset (less the
    per-source SSH rate sets' elements), live release and the main PIDs of
    its services (a restart changes them)."""
    state = {}
    script = ("tar -C / --exclude=etc/hosts --exclude=etc/hostname --exclude=etc/resolv.conf -cf - etc 2>/dev/null"
              " | sha256sum | cut -c1-16;"
              # The per-source SSH rate sets fill and empty with every new
              # connection (Ansible's own): their elements are not a change.
              " nft -s list ruleset 2>/dev/null | sed '/_rate_v[46] {$/,/^\\t}$/d' | sha256sum | cut -c1-16;"
              " readlink /srv/demo/current 2>/dev/null || echo -;"
              " for s in nginx demo postgresql@15-main keepalived prometheus; do systemctl show -p MainPID --value $s 2>/dev/null; done")
    for c in ALL:
        etc, nft, current, *pids = sh(c, script).split("\n")
        state[c] = {"etc": etc, "nftables": nft, "release": current, "pids": pids}
    return state


def variant_inventory(tag, edit):
    """A copy of the inventory whose hosts file is changed by edit(data); the
    rest (group_vars, generated secrets, a scenario's connection settings) is
    shared."""
    d = WORK / f"inventory-{tag}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    data = yaml.safe_load(HOSTS_FILE.read_text())
    edit(data)
    (d / "hosts.yml").write_text(yaml.safe_dump(data))
    for entry in INVENTORY.iterdir():
        if entry.name != HOSTS_FILE.name:
            os.symlink(entry, d / entry.name)
    return d


def groups_of(data):
    return data["all"]["children"]


def set_host_var(data, group, host, **host_vars):
    hosts = groups_of(data)[group]["hosts"]
    hosts[host] = {**(hosts[host] or {}), **host_vars}


def empty_db(data):
    groups_of(data)["db"]["hosts"] = {}


def ghost_host(data):
    groups_of(data)["app"]["hosts"]["pyweb-ghost"] = None


def no_group(data):
    del groups_of(data)["backup"]


def bad_address(data):
    set_host_var(data, "app", APPS[-1], stack_address="10.0.0.300")


def same_priority(data):
    for lb in LBS:
        set_host_var(data, "loadbalancers", lb, stack_vrrp_priority=200)


SITE = "site.yml"
# name, playbook, extra arguments, inventory edit, what the message must say.
# One case per kind of check (argument specs, choices, secrets, names, groups,
# addresses, reachability, ports, the floating address, VRRP, monitoring
# jobs, a playbook's own input, a release's health): the variants of each
# (other types, other secrets) are pytest's, on the controller (tests/).
CATALOGUE = [
    ("wrong type (a word for an int)", SITE, ["-e", "nginx_worker_connections=lots"], None,
     "nginx_worker_connections"),
    ("unknown app server", SITE, ["-e", "stack_app_server=waitress"], None,
     "server must be one of gunicorn, uwsgi; got 'waitress'"),
    ("missing secret", SITE, ["-e", "stack_db_password="], None,
     "The secret stack_db_password is missing or shorter than 16 characters"),
    ("malformed domain", SITE, ["-e", "stack_domain=shop..example"], None, "stack_domain a lower-case DNS name"),
    ("missing group", SITE, [], no_group, "The inventory has no group 'backup'"),
    ("empty group", SITE, [], empty_db, "The group 'db' holds 0 host(s)"),
    ("malformed host address", SITE, [], bad_address, "'10.0.0.300', which is not an IP address"),
    ("unreachable host", SITE, [], ghost_host, "pyweb-ghost"),
    ("port clash", SITE, ["-e", "stack_app_port=22"], None, "ssh and app-server on port 22"),
    ("floating address outside the load balancers' network", SITE, ["-e", "stack_floating_address=10.99.0.100"],
     None, "The floating address '10.99.0.100' (stack_floating_address) must be a free IPv4 address"),
    ("duplicate VRRP priorities", SITE, [], same_priority, "Two load balancers have the same VRRP priority"),
    ("scrape job naming a group the inventory lacks", SITE,
     ["-e", json.dumps({"stack_monitoring_jobs": [{"name": "cache", "exporter": "node", "groups": ["cache"]}]})], None,
     "scrape the groups cache, which the inventory does not have"),
    ("unknown restart state", "playbooks/app_restart.yml", ["-e", "app_restart_state=bounced"], None,
     "app_restart_state"),
    ("a release that fails its health check", "playbooks/deploy.yml", [], "broken-release",
     f"failed its health check on {APPS[0]}"),
]


# The cases only real hosts can show (a host that does not answer, a release
# that fails its health check, a playbook's own input), with one of each kind
# of check on the way (a secret, a host's address, the argument specs): the
# stack scenario runs these (--bad-inputs real-hosts), since pytest runs every
# check of the catalogue on placeholder hosts (tests/test_preflight_hosts.py);
# make drills runs them all.
REAL_HOSTS = {"missing secret", "malformed host address", "unreachable host", "wrong type (a word for an int)",
              "unknown restart state", "a release that fails its health check"}
BAD_INPUTS = {"all": [c[0] for c in CATALOGUE], "real-hosts": [c[0] for c in CATALOGUE if c[0] in REAL_HOSTS]}
CHOSEN_BAD_INPUTS = BAD_INPUTS["all"]


def failure_lines(proc, count=4):
    """The last lines of a run that say why it stopped (its log is under
    results/logs/, which a CI machine does not keep)."""
    lines = [line.strip() for line in (proc.stdout + proc.stderr).splitlines()
             if line.lstrip().startswith(("fatal:", "failed:", "ERROR", "[ERROR]", "UNREACHABLE", "msg:"))
             or "FAILED!" in line or "UNREACHABLE!" in line]
    return [line[:400] for line in lines[-count:]] or (proc.stdout + proc.stderr).strip().splitlines()[-count:]


def drill_bad_inputs():
    """Bad inputs: each refused with a message naming it, nothing changed on
    the hosts. The cases run side by side (each only reads the hosts, or,
    for the broken release, changes what it then puts back): the hosts are
    compared before and after all of them, so a change names the run, not
    the case."""
    before = snapshot()
    served_before = get("/healthz")[0]
    runs, allowed = [], set()
    for i, (name, book, args, edit, expect) in enumerate(CATALOGUE, 1):
        if name not in CHOSEN_BAD_INPUTS:
            continue
        inventory = INVENTORY
        if edit == "broken-release":
            # A 10 s health check (60 s by default): the refusal, not the wait, is the point.
            args = ["-e", "deploy_app=demo", "-e", f"app_source_path={new_release_source('broken', broken=True)}",
                    "-e", "app_healthcheck_timeout=10"]
            # The host that tried the release restarted its app server twice
            # (onto it, and back): its PID may change, nothing else may.
            allowed.add((APPS[0], "pids"))
        elif edit:
            inventory = variant_inventory(i, edit)
        runs.append((i, name, book, args, inventory, expect))
    started = time.monotonic()
    # Four at a time: more only wait for the two cores.
    with ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda r: playbook(r[2], *r[3], inventory=r[4], logname=f"bad-input-{r[0]:02d}"), runs))
    after = snapshot()
    changed = sorted(f"{h}:{k}" for h in before for k in before[h]
                     if before[h][k] != after[h][k] and (h, k) not in allowed)
    status, headers, _ = get("/")
    releases = {a: live_release(a) for a in APPS}
    serving = status == 200 and releases == {a: before[a]["release"].rsplit("/", 1)[1] for a in APPS}
    cases = []
    for (i, name, book, args, _, expect), proc in zip(runs, procs):
        case = {"case": name, "playbook": book, "args": args, "rc": proc.returncode, "seconds": proc.seconds,
                "message_found": expect in said(proc), "expected": expect}
        case["passed"] = proc.returncode != 0 and case["message_found"]
        cases.append(case)
        log(f"  bad input {i:2d} {'ok  ' if case['passed'] else 'FAIL'} {name} ({proc.seconds} s)"
            + ("" if case["message_found"] else f" - message not found: {expect!r}; it said: {failure_lines(proc)}"))
    log(f"  after all: changed on the hosts: {changed or 'nothing'}; serving the same releases: {serving}")
    ok = (served_before == 200 and len(cases) == len(CHOSEN_BAD_INPUTS) and all(c["passed"] for c in cases)
          and not changed and serving)
    return verdict({"target": "each fails naming the problem; nothing changes on the hosts; the live release serves",
                    "cases": cases, "count": len(cases), "passed_count": sum(c["passed"] for c in cases),
                    "side_by_side_seconds": round(time.monotonic() - started, 1),
                    "changed_on_hosts": changed, "still_serving": serving}, ok)


DRILLS = {
    "deploy": drill_deploy,
    "second-app": drill_second_app,
    "add-app": drill_add_app,
    "loss": drill_loss,
    "kill": drill_loss_kill,
    "reload": drill_reload,
    "backup": drill_backup,
    "failover": drill_failover,
    "failover-kill": drill_failover_kill,
    "db-switchover": drill_db_switchover,
    "db-loss": drill_db_loss,
    "db-standby-loss": drill_db_standby_loss,
    "db-pitr": drill_db_pitr,
    "bad-inputs": drill_bad_inputs,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("drills", nargs="*", choices=[*DRILLS, []], help="which drills (all by default)")
    parser.add_argument("--output", default=str(RESULTS / "drills.json"))
    parser.add_argument("--bad-inputs", choices=list(BAD_INPUTS), default="all",
                        help="the whole catalogue, or the cases only real hosts can show (the stack scenario's)")
    opts = parser.parse_args()
    global CHOSEN_BAD_INPUTS
    CHOSEN_BAD_INPUTS = BAD_INPUTS[opts.bad_inputs]
    chosen = opts.drills or list(DRILLS)
    check_stack()
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(), "drills": {}}
    for name in chosen:
        log(f"{name}: {DRILLS[name].__doc__.strip().splitlines()[0]}")
        started = time.monotonic()
        result = DRILLS[name]()
        result["seconds"] = round(time.monotonic() - started, 1)
        report["drills"][name] = result
        log(f"{name}: {'PASSED' if result['passed'] else 'MISSED ITS TARGET'} ({result['seconds']} s)")
        for key, value in result.items():
            if key != "cases":
                print(f"    {key}: {json.dumps(value)}", flush=True)
    Path(opts.output).write_text(json.dumps(report, indent=1))
    log(f"figures written to {opts.output}")
    missed = [n for n, r in report["drills"].items() if not r["passed"]]
    if missed:
        log(f"missed their target: {', '.join(missed)}")
        return 1
    return 0


def machine():
    cpus = os.cpu_count()
    mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    return f"{platform.node()}: {cpus} cores, {mem} GiB, {platform.platform()}"


if __name__ == "__main__":
    sys.exit(main())
