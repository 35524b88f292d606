#!/usr/bin/env python3
"""A/B of the recorder's own cost between two triage binaries, interleaved round by round, under
the mixed load of slice_budget.py (context-switch pipe, fio random reads, TCP churn): triage's
userspace CPU over the window (meta overhead.user_cpu_ns, all its threads) and the BPF programs'
run time (bpf_stats, --measure-overhead), each as a share of the machine's CPU time, plus the
recording's size. Medians and ranges; the machine is noisy, so compare the two columns.

    sudo bench/ab_user_cost.py OLD_TRIAGE NEW_TRIAGE [--rounds 3] [--seconds 20]
"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slice_budget import busy_load  # noqa: E402


def one(binary, work, seconds):
    db = os.path.join(work, f"ab-{os.getpid()}-{len(os.listdir(work))}.db")
    stop = busy_load(work, seconds + 2)
    subprocess.run([binary, "record", "-q", "-i", "1", "-d", str(seconds), "--measure-overhead", "-o", db], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop()
    con = sqlite3.connect(db)
    meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
    con.close()
    o = meta["overhead"]
    machine_ns = (meta["end_ns"] - meta["start_ns"]) * meta["ncpu"]
    row = {"user_pct": 100 * o.get("user_cpu_ns", 0) / machine_ns,
           "bpf_pct": 100 * o.get("bpf_run_ns", 0) / machine_ns if o.get("measured") else None,
           "bytes": os.path.getsize(db)}
    os.unlink(db)
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=20)
    a = p.parse_args()
    rows = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as work:
        for r in range(a.rounds):
            order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
            for name in order:
                rows[name].append(one(getattr(a, name), work, a.seconds))
                print(f"round {r + 1} {name}: {rows[name][-1]}", flush=True)
    for name, rs in rows.items():
        for key in ("user_pct", "bpf_pct", "bytes"):
            vals = [x[key] for x in rs if x[key] is not None]
            if vals:
                print(f"{name} {key}: median {statistics.median(vals):.4g} (range {min(vals):.4g}-{max(vals):.4g})")


if __name__ == "__main__":
    main()
