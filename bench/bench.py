#!/usr/bin/env python3
"""triage's overhead benchmark: workloads run with no tracer, with triage (each family alone and
all of them) and with Debian's libbpf-tools, interleaved round by round (A B C A B C ...) so that
the machine's noise hits every variant alike. Reports medians and the min-max of the per-round
ratios to the untraced run, plus triage's per-program BPF cost from bpf_stats.

    sudo tools/bench [--rounds 5] [--workloads pipe,fio,churn,stream] [--out bench/]
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("TRIAGE_BUILD_DIR", os.path.join(HERE, "..", "build"))
TRIAGE = os.path.join(BUILD, "triage")
FLOOR = os.path.join(BUILD, "bench", "bench_floor")


# ---- workloads: each returns (value, unit, higher_is_better) ----

def pipe(_ctx):
    out = subprocess.run(["taskset", "-c", "0", "perf", "bench", "sched", "pipe", "-l", "200000"],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([\d.]+)\s+usecs/op", out).group(1))


def fio(ctx):
    out = subprocess.run(["fio", "--name=randread", f"--filename={ctx['loop']}", "--direct=1", "--rw=randread",
                          "--bs=4k", "--ioengine=psync", "--runtime=5", "--time_based", "--output-format=json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["jobs"][0]["read"]["iops"]


def churn(_ctx):
    out = subprocess.run([os.path.join(BUILD, "bench", "tcp_churn"), "5"], check=True, capture_output=True,
                         text=True).stdout
    return float(out.split()[0])


def stream(ctx):
    out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(ctx["iperf_port"]), "-t", "5", "-J"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


WORKLOADS = {
    # name: (function, unit, higher is better, relevant triage family, classic tool)
    "pipe": (pipe, "usecs/op", False, "sched", ["/usr/sbin/runqlat", "600", "1"]),
    "fio": (fio, "IOPS", True, "block", ["/usr/sbin/biolatency", "600", "1"]),
    "churn": (churn, "connections/s", True, "tcp", ["/usr/sbin/tcpstates"]),
    "stream": (stream, "Gbit/s", True, "tcp", ["/usr/sbin/tcpstates"]),
}


# ---- tracers: context managers that are attached while the workload runs ----

def wait_attached(db, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("triage exited early: " + proc.stderr.read())
        with contextlib.suppress(sqlite3.Error):
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
            found = con.execute("SELECT 1 FROM meta WHERE key='attached'").fetchone()
            con.close()
            if found:
                return
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"triage did not attach in {timeout} s: " + proc.stderr.read())


@contextlib.contextmanager
def triage(families, workdir, measure=False, result=None):
    db = os.path.join(workdir, f"bench-{time.time_ns()}.db")
    args = [TRIAGE, "record", "--probes", families, "-q", "-o", db, "-d", "600"]
    if measure:
        args.append("--measure-overhead")
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_attached(db, proc)
        attach_s = time.monotonic() - started
        if attach_s > 5:
            print(f"  (triage took {attach_s:.1f} s to attach)", flush=True)
        if result is not None:
            result["attach_s"] = attach_s
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    if result is not None:
        con = sqlite3.connect(db)
        result["overhead"] = json.loads(con.execute("SELECT value FROM meta WHERE key='overhead'").fetchone()[0])
        con.close()
        result["db"] = db


@contextlib.contextmanager
def classic(commands):
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    time.sleep(2)  # libbpf-tools print nothing when attached: give them time to load
    try:
        yield
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@contextlib.contextmanager
def nothing():
    yield


def tracers_for(workload):
    _, _, _, family, tool = WORKLOADS[workload]
    all_classic = [WORKLOADS["pipe"][4], WORKLOADS["fio"][4], WORKLOADS["churn"][4]]
    tracers = {
        "none": lambda w: nothing(),
        f"triage --probes {family}": lambda w: triage(family, w),
        "triage (all families)": lambda w: triage("sched,block,tcp,oom", w),
        os.path.basename(tool[0]): lambda w: classic([tool]),
        "runqlat+biolatency+tcpstates": lambda w: classic(all_classic),
    }
    if family == "sched":
        # The least a run-queue latency tracer costs on the same hooks (bench/floor/floor.bpf.c):
        # the target for triage's sched family is within 1.2x of this row's cost.
        tracers["floor (runqlat-like minimum)"] = lambda w: classic([[FLOOR]])
    return tracers


# ---- setup of shared resources ----

@contextlib.contextmanager
def environment(workloads, workdir):
    ctx = {}
    cleanups = []
    try:
        if "fio" in workloads:
            img = os.path.join(workdir, "fio.img")
            subprocess.run(["dd", "if=/dev/urandom", f"of={img}", "bs=1M", "count=256", "status=none"], check=True)
            ctx["loop"] = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True,
                                         text=True).stdout.strip()
            cleanups.append(lambda: subprocess.run(["losetup", "-d", ctx["loop"]]))
        if "stream" in workloads:
            ctx["iperf_port"] = 5201 + os.getpid() % 1000
            server = subprocess.Popen(["iperf3", "-s", "-p", str(ctx["iperf_port"])], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            cleanups.append(server.kill)
        yield ctx
    finally:
        for c in reversed(cleanups):
            c()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workloads", default="pipe,fio,churn,stream")
    parser.add_argument("--out", default=HERE, help="directory for RESULTS.md and results.json")
    a = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    workloads = [w for w in a.workloads.split(",") if w]
    results = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "kernel": platform.release(),
               "machine": f"{os.cpu_count()} CPUs, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') >> 30} GiB",
               "rounds": a.rounds, "workloads": {}}

    with tempfile.TemporaryDirectory() as work, environment(workloads, work) as ctx:
        for w in workloads:
            fn, unit, higher, family, _ = WORKLOADS[w]
            tracers = tracers_for(w)
            values = {name: [] for name in tracers}
            for r in range(a.rounds):
                for name, make in tracers.items():
                    with make(work):
                        values[name].append(fn(ctx))
                print(f"{w} round {r + 1}: " + "  ".join(f"{n} {v[-1]:.3f}" for n, v in values.items()), flush=True)
            base = values["none"]
            rows = {}
            for name, vs in values.items():
                ratios = [v / b for v, b in zip(vs, base)]
                # Overhead in percent, positive = worse, whichever direction the unit goes.
                cost = [(r - 1) * 100 if not higher else (1 - r) * 100 for r in ratios]
                rows[name] = {"median": statistics.median(vs), "ratio_median": statistics.median(ratios),
                              "ratio_min": min(ratios), "ratio_max": max(ratios),
                              "cost_pct_median": statistics.median(cost), "values": vs}
            # One extra run with bpf_stats on for triage's per-program cost (it perturbs timing,
            # so it is not one of the compared rounds).
            cost = {}
            with triage(family, work, measure=True, result=cost):
                fn(ctx)
            results["workloads"][w] = {"unit": unit, "higher_is_better": higher, "tracers": rows,
                                       "programs": cost["overhead"].get("programs", []),
                                       "attach_s": cost.get("attach_s")}

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    md = [f"# Benchmark results\n", f"{results['date']}, kernel {results['kernel']}, {results['machine']}, "
          f"{a.rounds} interleaved rounds. Cost = how much worse than no tracer (median of per-round ratios; "
          f"range = min-max ratio).\n"]
    for w, r in results["workloads"].items():
        md.append(f"\n## {w} ({r['unit']}, {'higher' if r['higher_is_better'] else 'lower'} is better)\n")
        md.append("| tracer | median | cost | ratio range |\n|---|---|---|---|")
        for name, t in r["tracers"].items():
            md.append(f"| {name} | {t['median']:.3f} | {t['cost_pct_median']:+.1f}% | "
                      f"{t['ratio_min']:.3f}-{t['ratio_max']:.3f} |")
        md.append(f"\ntriage attached in {r['attach_s'] * 1000:.0f} ms. Per-program cost (bpf_stats):\n")
        md.append("| program | runs | ns/run |\n|---|---|---|")
        for p in r["programs"]:
            md.append(f"| {p['program']} | {p['run_cnt']} | {p['ns_per_run']:.0f} |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "RESULTS.md"), "w") as f:
        f.write(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
