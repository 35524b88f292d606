#!/usr/bin/env python3
"""What a recording costs on disk per hour at -i 1 (issue #20's budget: an idle hour <= 10 MiB,
an hour of the bench's busiest workload <= 100 MiB), and how long its reports take.

Each case records one window of SECONDS, all families at -i 1. The file is a fixed part (schema,
meta, probes, the two /proc checklists) plus what every interval adds (series, histograms,
events, aggregates and their indexes, measured page by page with SQLite's dbstat); an hour is the
fixed part plus 3600 / SECONDS times the rest. (Two windows and a slope were tried first: the busy
load is not steady enough between two runs for that.) Busy = the bench's mixed
load at once: perf's context-switch pipe, fio random reads on a loop device, and the TCP
connection churn in its own network namespace (tcp_churn, as bench.py runs it).

    sudo bench/slice_budget.py [--seconds 60]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("TRIAGE_BUILD_DIR", os.path.join(HERE, "..", "build"))
TRIAGE = os.path.join(BUILD, "triage")


def busy_load(work, seconds):
    ns = f"triage-budget-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    img = os.path.join(work, "disk.img")
    subprocess.run(["truncate", "-s", "256M", img], check=True)
    loop = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True, text=True).stdout.strip()
    procs = [
        subprocess.Popen(["ip", "netns", "exec", ns, os.path.join(BUILD, "bench", "tcp_churn"), str(seconds)],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen(["timeout", str(seconds), "perf", "bench", "sched", "pipe", "-l", "100000000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(["fio", "--name=r", f"--filename={loop}", "--direct=1", "--rw=randread", "--bs=4k",
                          "--ioengine=psync", f"--runtime={seconds}", "--time_based"], stdout=subprocess.DEVNULL),
    ]

    def stop():
        for p in procs:
            p.wait()
        subprocess.run(["losetup", "-d", loop])
        subprocess.run(["ip", "netns", "delete", ns])
    return stop


def record(work, seconds, busy):
    db = os.path.join(work, f"budget-{time.time_ns()}.db")
    stop = busy_load(work, seconds + 2) if busy else None
    subprocess.run([TRIAGE, "record", "-q", "-i", "1", "-d", str(seconds), "-o", db], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if stop:
        stop()
    size = os.path.getsize(db)
    import sqlite3
    con = sqlite3.connect(db)
    per_interval = con.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name IN ('series', 'hist', 'events', 'event_blocks', 'aggregates', "
        "'series_by_stream', 'hist_by_stream', 'events_by_family', 'aggregates_by_stream', 'series_by_name', 'hist_by_name', 'aggregates_by_name')").fetchone()[0]
    con.close()
    times = {}
    for name, args in (("whole", []), ("slice", ["--from", str(seconds // 2), "--to", str(seconds // 2 + 10)])):
        t0 = time.monotonic()
        subprocess.run([TRIAGE, "report", db, "--format", "json", *args], check=True, stdout=subprocess.DEVNULL)
        times[name] = time.monotonic() - t0
    os.unlink(db)
    return size, per_interval, times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    a = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("slice_budget: needs root")
    out = {}
    with tempfile.TemporaryDirectory() as work:
        for case, busy in (("idle", False), ("busy", True)):
            size, growing, times = record(work, a.seconds, busy)
            per_s = growing / a.seconds
            hour = size - growing + 3600 * per_s
            out[case] = {"bytes": size, "interval_bytes": growing, "bytes_per_s": per_s,
                         "mib_per_hour": hour / 2**20, "report_s": times}
            print(f"{case}: {size} B in {a.seconds} s, of which intervals {growing} B -> {per_s:.0f} B/s, "
                  f"{hour / 2**20:.1f} MiB per hour at -i 1; report of {a.seconds} s: {times['whole']:.2f} s, "
                  f"10 s slice {times['slice']:.2f} s", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
