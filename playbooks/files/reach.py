#!/usr/bin/python3
# Managed by Ansible (pyweb): preflight's check that a cluster's hosts reach
# each other on its ports, before any of its services runs.
#
#   reach.py listen ADDRESS PORT...   listen on each port that nothing listens
#                                     on yet (at most 120 s, in the background)
#   reach.py connect JSON             JSON: [{name, address, port, what}, ...];
#                                     print, as JSON, those that do not
#                                     answer within 3 s
#   reach.py stop                     end this host's listener
import json
import os
import selectors
import signal
import socket
import sys
import time

PIDFILE = "/run/pyweb-preflight-reach.pid"


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
    # Bound before the parent returns: the other hosts connect right after.
    if os.fork():
        return
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    with open(PIDFILE, "w") as f:
        f.write(str(os.getpid()))
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            conn, _ = key.fileobj.accept()
            conn.close()
    os.unlink(PIDFILE)


def connect(targets):
    failed = []
    for t in filter(None, json.loads(targets)):
        try:
            socket.create_connection((t["address"], t["port"]), timeout=3).close()
        except OSError as err:
            failed.append(f"{t['name']} ({t['address']}) on port {t['port']} ({t['what']}): {err.strerror or err}")
    print(json.dumps({"failed": failed}))


def stop():
    try:
        with open(PIDFILE) as f:
            os.kill(int(f.read().strip()), signal.SIGTERM)
        os.unlink(PIDFILE)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "listen":
        listen(args[0], args[1:])
    elif command == "connect":
        connect(args[0])
    else:
        stop()
