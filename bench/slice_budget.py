#!/usr/bin/env python3
"""What a recording costs on disk per hour at -i 1 (issue #20's budget: an idle hour <= 10 MiB,
an hour of the bench's busiest workload <= 100 MiB), and how long its reports take.

Each case records two windows, SHORT and LONG seconds, all families at -i 1; the size grows
linearly with time after the fixed part (schema, the two /proc checklists), so the slope of the
two sizes is the cost per second and an hour is intercept + 3600 * slope. Busy = the bench's mixed
load at once: perf's context-switch pipe, fio random reads on a loop device, and the TCP
connection churn in its own network namespace (tcp_churn, as bench.py runs it).

    sudo bench/slice_budget.py [--short 20] [--long 60]
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
    times = {}
    for name, args in (("whole", []), ("slice", ["--from", str(seconds // 2), "--to", str(seconds // 2 + 10)])):
        t0 = time.monotonic()
        subprocess.run([TRIAGE, "report", db, "--format", "json", *args], check=True, stdout=subprocess.DEVNULL)
        times[name] = time.monotonic() - t0
    os.unlink(db)
    return size, times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=60)
    a = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("slice_budget: needs root")
    out = {}
    with tempfile.TemporaryDirectory() as work:
        for case, busy in (("idle", False), ("busy", True)):
            short, _ = record(work, a.short, busy)
            long_, times = record(work, a.long, busy)
            slope = (long_ - short) / (a.long - a.short)
            hour = short - slope * a.short + 3600 * slope
            out[case] = {"bytes_short": short, "bytes_long": long_, "bytes_per_s": slope,
                         "mib_per_hour": hour / 2**20, "report_s": times}
            print(f"{case}: {short} B in {a.short} s, {long_} B in {a.long} s -> {slope:.0f} B/s, "
                  f"{hour / 2**20:.1f} MiB per hour at -i 1; report of {a.long} s: {times['whole']:.2f} s, "
                  f"10 s slice {times['slice']:.2f} s", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
