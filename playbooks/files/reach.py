#!/usr/bin/python3
# Managed by Ansible (pyweb): preflight's check that a cluster's hosts reach
# each other on its ports, before any of its services runs.
#
#   reach.py listen ADDRESS PORT...   listen on each port that nothing listens
#                                     on yet (at most 60 s, in the background)
#   reach.py connect JSON             JSON: [{name, address, port, what}, ...];
#                                     print, as JSON, those that do not
#                                     answer within 3 s
#   reach.py stop                     end this login's listeners (this run's
#                                     or a cut-short run's)
import json
import os
import selectors
import signal
import socket
import sys
import time


def listen(address, ports):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockets = []
    for port in ports:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, int(port)))
        except OSError:
            # Something listens there already (a re-run): it answers instead.
            sock.close()
            continue
        sock.listen(16)
        sockets.append(sock)
    print(json.dumps({"listening": [s.getsockname()[1] for s in sockets]}))
    sys.stdout.flush()
    if not sockets:
        return
    # Bound before the parent returns (the other hosts connect right after),
    # and the child out of the login's session before then: the end of an SSH
    # session with a terminal hangs up its process group.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    ready_r, ready_w = os.pipe()
    if os.fork():
        os.close(ready_w)
        if os.read(ready_r, 1) != b"1":
            sys.exit("the listener did not start")
        return
    os.close(ready_r)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.write(ready_w, b"1")
    os.close(ready_w)
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            conn, _ = key.fileobj.accept()
            conn.close()


def connect(targets):
    failed = []
    for t in filter(None, json.loads(targets)):
        try:
            socket.create_connection((t["address"], t["port"]), timeout=3).close()
        except OSError as err:
            failed.append(f"{t['name']} ({t['address']}) on port {t['port']} ({t['what']}): {err.strerror or err}")
    print(json.dumps({"failed": failed}))


def stop():
    """End this login's listeners (of this run or of one that was cut short)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != os.getuid() or int(pid) == os.getpid():
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if len(args) > 2 and args[1].endswith(b"/reach.py") and args[2] == b"listen":
            try:
                os.kill(int(pid), signal.SIGTERM)
            except OSError:
                pass


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "listen":
        listen(args[0], args[1:])
    elif command == "connect":
        connect(args[0])
    else:
        stop()
