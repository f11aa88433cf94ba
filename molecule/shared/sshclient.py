"""SSH from this machine (the controller) to a scenario's hosts, as an
operator does: the key the servers were created with (create.yml keeps it
beside Molecule's inventory), no agent, no password prompt, a new connection
each time (no shared master)."""

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path


def keys():
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory" / ".secrets" / "ssh"


def options():
    d = keys()
    return ["-i", str(d / "id_ed25519"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={d / 'known_hosts'}", "-o", "StrictHostKeyChecking=accept-new",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=10"]


def run(user, address, *command, extra=()):
    """ssh user@address command; the finished process (rc 255: no login)."""
    return subprocess.run(["ssh", *options(), *extra, f"{user}@{address}", *command],
                          capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def tunnel(user, address, target, port):
    """ssh -L from a free port of 127.0.0.1 to target:port, through address;
    yields the local port once it accepts connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    proc = subprocess.Popen(["ssh", "-N", *options(), "-o", "ExitOnForwardFailure=yes",
                             "-L", f"127.0.0.1:{local}:{target}:{port}", f"{user}@{address}"])
    try:
        for _ in range(100):
            assert proc.poll() is None, f"ssh -L exited with {proc.returncode}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", local)) == 0:
                    break
            time.sleep(0.2)
        yield local
    finally:
        proc.terminate()
        proc.wait(10)
