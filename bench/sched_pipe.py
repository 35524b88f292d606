#!/usr/bin/env python3
"""Scheduler overhead: `perf bench sched pipe` pinned to one CPU (the context-switch worst case)
with no tracer, with `triage record --probes sched`, and with Debian's runqlat, interleaved
A B C A B C ... so that machine noise hits every variant alike. Prints medians and the min-max of
the per-round ratios, and the per-program BPF cost triage measured with bpf_stats.

    sudo bench/sched_pipe.py [--rounds 7] [--loops 200000] [--triage build/triage]
"""
import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


def pipe_usecs_per_op(loops):
    out = subprocess.run(["taskset", "-c", "0", "perf", "bench", "sched", "pipe", "-l", str(loops)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([\d.]+)\s+usecs/op", out).group(1))


def wait_attached(db, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("triage exited early: " + proc.stderr.read())
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
            if con.execute("SELECT 1 FROM meta WHERE key='attached'").fetchone():
                con.close()
                return
            con.close()
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise RuntimeError("triage did not attach")


def with_triage(triage, loops, workdir, measure=False):
    db = os.path.join(workdir, f"bench-{time.time_ns()}.db")
    args = [triage, "record", "--probes", "sched", "-q", "-o", db, "-d", "600"]
    if measure:
        args.append("--measure-overhead")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_attached(db, proc)
        value = pipe_usecs_per_op(loops)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    return value, db


def with_runqlat(loops):
    proc = subprocess.Popen(["/usr/sbin/runqlat", "600", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # runqlat prints nothing until its interval ends: give it time to attach
    try:
        return pipe_usecs_per_op(loops)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loops", type=int, default=200000)
    parser.add_argument("--triage", default=os.path.join(os.path.dirname(__file__), "..", "build", "triage"))
    parser.add_argument("--json", help="write the results here too")
    a = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sched_pipe.py: needs root")

    base, tri, rql = [], [], []
    with tempfile.TemporaryDirectory() as work:
        for r in range(a.rounds):
            base.append(pipe_usecs_per_op(a.loops))
            tri.append(with_triage(a.triage, a.loops, work)[0])
            rql.append(with_runqlat(a.loops))
            print(f"round {r + 1}: none {base[-1]:.3f}  triage {tri[-1]:.3f}  runqlat {rql[-1]:.3f} usecs/op",
                  flush=True)
        # One more triage run with bpf_stats on, for the per-program cost (it perturbs timing, so
        # it is not one of the compared rounds).
        _, db = with_triage(a.triage, a.loops, work, measure=True)
        con = sqlite3.connect(db)
        overhead = json.loads(con.execute("SELECT value FROM meta WHERE key='overhead'").fetchone()[0])
        con.close()

    def ratios(xs):
        return [x / b for x, b in zip(xs, base)]

    result = {
        "workload": f"taskset -c 0 perf bench sched pipe -l {a.loops}",
        "rounds": a.rounds,
        "median_usecs_per_op": {"none": statistics.median(base), "triage": statistics.median(tri),
                                "runqlat": statistics.median(rql)},
        "ratio_median": {"triage": statistics.median(ratios(tri)), "runqlat": statistics.median(ratios(rql))},
        "ratio_min_max": {"triage": [min(ratios(tri)), max(ratios(tri))],
                          "runqlat": [min(ratios(rql)), max(ratios(rql))]},
        "programs": overhead.get("programs", []),
    }
    m = result["median_usecs_per_op"]
    print(f"\nmedian usecs/op: none {m['none']:.3f}  triage {m['triage']:.3f}  runqlat {m['runqlat']:.3f}")
    for k in ("triage", "runqlat"):
        lo, hi = result["ratio_min_max"][k]
        print(f"{k}: +{(result['ratio_median'][k] - 1) * 100:.1f}% (per-round ratios {lo:.3f}-{hi:.3f})")
    print("per-program cost (bpf_stats):")
    for p in result["programs"]:
        print(f"  {p['program']:<28} {p['run_cnt']:>10} runs  {p['ns_per_run']:.0f} ns/run")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
