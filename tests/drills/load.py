"""A bounded HTTPS load generator for the drills.

Threads send GET requests to the load balancer's port published on 127.0.0.1
(or, run in a container on the project's network, to the floating address:
`python3 load.py --help`) at a fixed total rate, each on its own keep-alive connection (SNI and Host set to
the site's name, the certificate checked against the site's CA), and record
every answer: when, status or error, latency, which app host and release
answered. A request counts as failed unless it gets a 2xx or 3xx answer:
a 5xx, a connection error or timeout, or a 429 from the per-client rate
limit (20 r/s), which the drills' 15 r/s stays under. The run is bounded in requests and in time.
"""

import argparse
import http.client
import json
import socket
import ssl
import sys
import threading
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Sample:
    t: float  # seconds since the load started
    status: int  # 0 for a connection error or timeout
    latency: float
    host: str = ""
    release: str = ""
    error: str = ""

    @property
    def failed(self):
        # Anything but a 2xx or 3xx: a 5xx, no answer, or a 429 from the rate
        # limit (the drills stay under it, so that would be a failure too).
        return not 200 <= self.status < 400


@dataclass
class Load:
    port: int
    name: str
    cafile: str
    path: str = "/"
    rate: float = 15.0  # requests per second, all threads together
    threads: int = 4
    max_seconds: float = 600.0
    max_requests: int = 60000
    timeout: float = 10.0
    address: str = "127.0.0.1"
    samples: list = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self.stale_retries = 0  # a reused connection the server had closed: retried once, as browsers do

    # -- running -----------------------------------------------------------
    def start(self):
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        for i in range(self.threads):
            th = threading.Thread(target=self._worker, args=(i,), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(self.timeout + 5)
        return self

    def now(self):
        return time.monotonic() - self.t0

    def _connect(self):
        ctx = ssl.create_default_context(cafile=self.cafile)
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
        sock = socket.create_connection((self.address, self.port), timeout=self.timeout)
        conn.sock = ctx.wrap_socket(sock, server_hostname=self.name)
        return conn

    def _one(self, conn):
        conn.request("GET", self.path, headers={"Host": self.name})
        resp = conn.getresponse()
        resp.read()
        return resp

    def _worker(self, index):
        interval = self.threads / self.rate
        next_at = time.monotonic() + interval * index / self.threads
        conn = None
        while not self._stop.is_set():
            if self.now() > self.max_seconds or len(self.samples) >= self.max_requests:
                break
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            # Behind schedule (a slow answer, a busy machine): carry on from
            # now rather than catch up in a burst, which the per-client rate
            # limit would answer with 429s that the change under test did not cause.
            next_at = max(next_at, time.monotonic()) + interval
            started = time.monotonic()
            sample = None
            for attempt in (1, 2):
                reused = conn is not None
                try:
                    if conn is None:
                        conn = self._connect()
                    resp = self._one(conn)
                    sample = Sample(started - self.t0, resp.status, time.monotonic() - started,
                                    resp.getheader("X-App-Host", ""), resp.getheader("X-App-Release", ""))
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    if conn is not None:
                        conn.close()
                    conn = None
                    if reused and attempt == 1:
                        with self._lock:
                            self.stale_retries += 1
                        continue
                    sample = Sample(started - self.t0, 0, time.monotonic() - started, error=type(exc).__name__)
                except (OSError, http.client.HTTPException) as exc:
                    if conn is not None:
                        conn.close()
                    conn = None
                    sample = Sample(started - self.t0, 0, time.monotonic() - started, error=type(exc).__name__)
                    break
            with self._lock:
                self.samples.append(sample)
        if conn is not None:
            conn.close()

    # -- figures -----------------------------------------------------------
    def window(self, start=0.0, end=float("inf")):
        return [s for s in self.samples if start <= s.t < end]

    @staticmethod
    def summary(samples):
        samples = sorted(samples, key=lambda s: s.t)
        lat = sorted(s.latency for s in samples)
        failed = [s for s in samples if s.failed]
        errors = {}
        for s in failed:
            key = s.error or str(s.status)
            errors[key] = errors.get(key, 0) + 1
        hosts, releases = {}, {}
        for s in samples:
            if not s.failed:
                hosts[s.host] = hosts.get(s.host, 0) + 1
                releases[s.release] = releases.get(s.release, 0) + 1

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {
            "requests": len(samples),
            "failed": len(failed),
            "errors": errors,
            "first_failure_s": round(failed[0].t, 2) if failed else None,
            "last_failure_s": round(failed[-1].t, 2) if failed else None,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": round(lat[-1] * 1000, 1) if lat else None,
            "by_host": hosts,
            "by_release": releases,
        }


def main():
    """Run a load for --seconds and write every sample (with the wall-clock
    start, so another process can line its events up) as JSON."""
    parser = argparse.ArgumentParser(description="Bounded HTTPS load; samples as JSON.")
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--name", required=True, help="the site's name (SNI, Host, certificate)")
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--output", required=True)
    opts = parser.parse_args()
    lo = Load(port=opts.port, name=opts.name, cafile=opts.cafile, address=opts.address, rate=opts.rate,
              timeout=opts.timeout, max_seconds=opts.seconds).start()
    time.sleep(opts.seconds)
    lo.stop()
    with open(opts.output, "w") as out:
        json.dump({"t0_wall": lo.t0_wall, "stale_retries": lo.stale_retries,
                   "samples": [asdict(s) for s in lo.samples]}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
