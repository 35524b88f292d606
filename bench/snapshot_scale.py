#!/usr/bin/env python3
"""How long `triage snapshot` takes on a busy box: 2,000 extra processes and 10,000 TCP sockets
(5,000 loopback connections, both ends), median of several runs, compared with the same machine
at rest.
    sudo python3 bench/snapshot_scale.py [--processes 2000] [--connections 5000] [--runs 5]
"""
import argparse
import os
import resource
import socket
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRIAGE = os.path.join(os.environ.get("TRIAGE_BUILD_DIR", os.path.join(HERE, "..", "build")), "triage")


def time_snapshot(runs):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run([TRIAGE, "snapshot", "--format", "json"], check=True, stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
    return statistics.median(times), min(times), max(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--processes", type=int, default=2000)
    p.add_argument("--connections", type=int, default=5000)
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 2 fds per connection

    at_rest = time_snapshot(a.runs)
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(a.processes)]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    clients, servers = [], []
    for _ in range(a.connections):
        c = socket.create_connection(listener.getsockname())
        clients.append(c)
        servers.append(listener.accept()[0])
    try:
        busy = time_snapshot(a.runs)
    finally:
        for s in clients + servers:
            s.close()
        for sp in sleepers:
            sp.kill()
        for sp in sleepers:
            sp.wait()
    print(f"triage snapshot, median of {a.runs} (min-max), 200 ms of it is the per-CPU sample:")
    print(f"  at rest:                                  {at_rest[0] * 1000:.0f} ms ({at_rest[1] * 1000:.0f}-{at_rest[2] * 1000:.0f})")
    print(f"  +{a.processes} processes, +{2 * a.connections} sockets: {busy[0] * 1000:.0f} ms ({busy[1] * 1000:.0f}-{busy[2] * 1000:.0f})")


if __name__ == "__main__":
    main()
