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

PIPE_MIN_S = 3.0


def pipe(ctx):
    # One `-l 200000` run lasts ~0.4 s here, and single runs spread 1.91-2.19 us/op untraced (one
    # tick, one triage sample more or less); runs of ~3 s spread 1.96-2.07. So the run is repeated
    # until PIPE_MIN_S have passed (the 3-10 s per workload), and every run has the same
    # number of ops, so the mean of their us/op is the whole span's.
    per_run = []
    started = time.monotonic()
    while not per_run or time.monotonic() - started < PIPE_MIN_S:
        out = subprocess.run(["taskset", "-c", "0", "perf", "bench", "sched", "pipe", "-l", "200000"],
                             check=True, capture_output=True, text=True).stdout
        per_run.append(float(re.search(r"([\d.]+)\s+usecs/op", out).group(1)))
    ctx["ops"] = 200000 * len(per_run)
    return sum(per_run) / len(per_run)


def fio(ctx):
    out = subprocess.run(["fio", "--name=randread", f"--filename={ctx['loop']}", "--direct=1", "--rw=randread",
                          "--bs=4k", "--ioengine=psync", "--runtime=5", "--time_based", "--output-format=json"],
                         check=True, capture_output=True, text=True).stdout
    read = json.loads(out)["jobs"][0]["read"]
    ctx["ops"] = read["total_ios"]
    return read["iops"]


def churn(ctx):
    # A fresh network namespace per run: each run leaves ~40k sockets in TIME_WAIT for 60 s, and in
    # a shared namespace they piled up round after round (port reuse, tw bucket limits), so later
    # rounds ran slower whatever the tracer. The tracepoints see every namespace alike.
    ns = f"triage-bench-{os.getpid()}-{time.time_ns()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        out = subprocess.run(["ip", "netns", "exec", ns, os.path.join(BUILD, "bench", "tcp_churn"), "5"], check=True,
                             capture_output=True, text=True).stdout
    finally:
        subprocess.run(["ip", "netns", "delete", ns])
    ctx["ops"] = float(out.split()[0]) * 5  # connections in the 5 s run
    return float(out.split()[0])


def stream(ctx):
    ctx["ops"] = None  # bytes, not operations a tracer runs at
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


# Every triage run's time to attach and peak RSS, for the userspace table.
TRIAGE_RUNS = []


def wait_with_rusage(proc, timeout):
    """Waits for proc and returns its resource usage (ru_maxrss = peak RSS in KiB)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        time.sleep(0.05)
    proc.kill()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage


@contextlib.contextmanager
def triage(families, workdir, measure=False, result=None, extra=()):
    db = os.path.join(workdir, f"bench-{time.time_ns()}.db")
    args = [TRIAGE, "record", "--probes", families, "-q", "-o", db, "-d", "600", *extra]
    if measure:
        args.append("--measure-overhead")
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    attach_s = None
    try:
        wait_attached(db, proc)
        attach_s = time.monotonic() - started
        if attach_s > 5:
            print(f"  (triage took {attach_s:.1f} s to attach)", flush=True)
        if result is not None:
            result["startup_s"] = attach_s
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        usage = wait_with_rusage(proc, 120)
        attach_ns = None
        with contextlib.suppress(Exception):
            attach_ns = int(read_db(db, "SELECT value FROM meta WHERE key='attach_ns'"))
        TRIAGE_RUNS.append({"families": families, "startup_s": attach_s, "max_rss_kib": usage.ru_maxrss,
                            "attach_s": attach_ns / 1e9 if attach_ns is not None else None})
        if result is not None:
            result["max_rss_kib"] = usage.ru_maxrss
            result["attach_s"] = attach_ns / 1e9 if attach_ns is not None else None
    if result is not None:
        con = sqlite3.connect(db)
        result["overhead"] = json.loads(con.execute("SELECT value FROM meta WHERE key='overhead'").fetchone()[0])
        con.close()
        result["db"] = db


@contextlib.contextmanager
def classic(commands):
    errs = [tempfile.TemporaryFile() for _ in commands]
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=e) for c, e in zip(commands, errs)]
    time.sleep(2)  # libbpf-tools print nothing when attached: give them time to load
    try:
        # A tool that failed to attach exits at once; measuring it would compare nothing with nothing
        # (tcpstates did that silently while tracefs was not mounted).
        for c, p, e in zip(commands, procs, errs):
            if p.poll() is not None:
                e.seek(0)
                raise RuntimeError(f"{' '.join(c)} exited ({p.returncode}) before the workload: "
                                   + e.read().decode(errors="replace")[-2000:])
        yield
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for e in errs:
            e.close()


@contextlib.contextmanager
def nothing():
    yield


SETTLE_S = 1.0

FLOOR_ROWS = {"pipe": "floor (runqlat-like minimum)", "fio": "floor (biolatency-like minimum)",
              "churn": "floor (tcplife-like minimum)"}


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
    if workload == "pipe":
        # The least a run-queue latency tracer costs on the same hooks (bench/floor/floor.bpf.c):
        # the target for triage's sched family is within 1.2x of this row's cost.
        tracers[FLOOR_ROWS[workload]] = lambda w: classic([[FLOOR]])
    if workload == "fio":
        # The least an I/O latency tracer costs on triage's issue and completion hooks, and below
        # it what the hooks cost with programs that only count.
        tracers[FLOOR_ROWS[workload]] = lambda w: classic([[FLOOR, "--block"]])
        tracers["hooks only (a counter per completion)"] = lambda w: classic([[FLOOR, "--block", "--empty"]])
    if workload == "churn":
        # The least a connection latency and lifetime tracer costs on triage's tcp hook.
        tracers[FLOOR_ROWS[workload]] = lambda w: classic([[FLOOR, "--tcp"]])
    return tracers


# ---- per-program cost of every single-purpose tracer, from bpf_stats ----

def bpf_programs():
    out = subprocess.run(["bpftool", "prog", "show", "--json"], check=True, capture_output=True, text=True).stdout
    return {p["id"]: p for p in json.loads(out)}


@contextlib.contextmanager
def bpf_stats_enabled():
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write("1")
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(old)


def program_costs(make, fn, ctx, work):
    """One more run of the workload under one tracer, with bpf_stats on (it perturbs timing, so it
    is not one of the compared rounds): the run count and run time of each program that the tracer
    loaded, over the workload only, and the operations the workload did meanwhile."""
    with bpf_stats_enabled():
        before = bpf_programs()
        with make(work):
            attached = bpf_programs()
            ctx["ops"] = None
            fn(ctx)
            done = bpf_programs()
    programs = []
    for prog_id, p in sorted(done.items()):
        if prog_id in before or prog_id not in attached:
            continue
        runs = p.get("run_cnt", 0) - attached[prog_id].get("run_cnt", 0)
        ns = p.get("run_time_ns", 0) - attached[prog_id].get("run_time_ns", 0)
        if runs:
            programs.append({"program": p.get("name", str(prog_id)), "run_cnt": runs, "run_time_ns": ns,
                             "ns_per_run": ns / runs})
    total_ns = sum(p["run_time_ns"] for p in programs)
    return {"programs": programs, "ops": ctx["ops"],
            "ns_per_op": total_ns / ctx["ops"] if ctx["ops"] else None}


def untraced_op_ns(workload, value):
    """One operation's time without a tracer, from the none row's median (None: no operations)."""
    if workload == "stream":
        return None
    return value * 1000 if workload == "pipe" else 1e9 / value


# ---- setup of shared resources ----

@contextlib.contextmanager
def environment(workloads, workdir):
    ctx = {}
    cleanups = []
    try:
        # libbpf-tools' tracepoint programs (tcpstates) find their tracepoint's id in tracefs; a
        # machine booted without it mounted makes them exit at start. triage itself needs none.
        if not os.path.isdir("/sys/kernel/tracing/events"):
            subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
            cleanups.append(lambda: subprocess.run(["umount", "/sys/kernel/tracing"]))
        if "fio" in workloads:
            # Backed by a file in tmpfs: every read goes through the block layer (what the tracers
            # hook) but never waits on this VM's shared virtual disk, whose latency swings by 2x
            # from one run to the next and drowned the tracers' cost in an earlier layout.
            img = os.path.join("/dev/shm", f"triage-bench-{os.getpid()}.img")
            cleanups.append(lambda: os.path.exists(img) and os.unlink(img))
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


# ---- userspace figures ----

def read_db(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def consumer_throughput(work, ctx, runs=3):
    """The ring-buffer consumer under the worst load we can make: every run-queue wait of the
    context-switch workload is an outlier (threshold 0), so the sched ring carries one record per
    switch. Reports delivered/lost and the consumer's events per CPU-second (its capacity)."""
    rows = []
    for _ in range(runs):
        res = {}
        started = time.monotonic()
        with triage("sched", work, result=res, extra=("--threshold-ms", "0")):
            t0 = time.monotonic()
            pipe(ctx)
            busy_s = time.monotonic() - t0
        overhead = json.loads(read_db(res["db"], "SELECT value FROM meta WHERE key='overhead'"))
        report = json.loads(subprocess.run([TRIAGE, "report", res["db"], "--format", "json"], check=True,
                                           capture_output=True, text=True).stdout)
        account = report["lost_events"]["families"]["sched"]
        delivered = read_db(res["db"], "SELECT coalesce(sum(count), 0) FROM event_blocks WHERE family='sched'")
        drain_s = overhead.get("drain_cpu_ns", 0) / 1e9
        rows.append({"produced": account["produced"], "delivered": delivered,
                     "lost": account["lost"], "workload_s": busy_s,
                     "events_per_s": delivered / busy_s if busy_s else 0,
                     "consumer_cpu_s": drain_s,
                     "events_per_cpu_s": delivered / drain_s if drain_s else 0,
                     "max_rss_kib": res["max_rss_kib"], "window_s": time.monotonic() - started})
        print(f"consumer: {rows[-1]}", flush=True)
    return rows


def render_times(work, ctx, runs=3):
    """Time to render a 1-hour recording, whole and a 60 s slice of it: a real 10-second all-family
    recording made under a mixed load, its interval rows repeated to fill 3600 s (360 copies
    shifted by 10 s)."""
    res = {}
    with triage("sched,block,tcp,oom", work, result=res):
        end = time.time() + 10
        while time.time() < end:
            pipe(ctx)
            if "loop" in ctx:
                fio(ctx)
    db = res["db"]
    con = sqlite3.connect(db)
    start = int(json.loads(con.execute("SELECT value FROM meta WHERE key='start_ns'").fetchone()[0]))
    end_ns = int(json.loads(con.execute("SELECT value FROM meta WHERE key='end_ns'").fetchone()[0]))
    span = 10_000_000_000
    copies = 360
    for k in range(1, copies):
        shift = k * span
        for table, cols in (("series", "family, name, data"), ("hist", "family, name, data"),
                            ("events", "family, kind, data"), ("aggregates", "family, name, kind, data")):
            con.execute(f"INSERT INTO {table}(t_ns, {cols}) SELECT t_ns + ?, {cols} FROM {table} "
                        f"WHERE t_ns < ?", (shift, start + span))
        con.execute("INSERT INTO event_blocks(family, layout, t_first, t_last, count, data) "
                    "SELECT family, layout, t_first + ?, t_last + ?, count, data FROM event_blocks "
                    "WHERE t_first < ?", (shift, shift, start + span))
    con.execute("UPDATE meta SET value = ? WHERE key = 'end_ns'", (str(start + copies * span),))
    con.commit()
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("series", "hist", "events", "event_blocks", "aggregates")}
    con.close()
    out = {"rows": counts, "bytes": os.path.getsize(db), "base_window_s": (end_ns - start) / 1e9}
    for fmt_ in ("text", "json", "html"):
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            subprocess.run([TRIAGE, "report", db, "--format", fmt_], check=True, stdout=subprocess.DEVNULL)
            times.append(time.monotonic() - t0)
        out[fmt_ + "_s"] = statistics.median(times)
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            subprocess.run([TRIAGE, "report", db, "--format", fmt_, "--from", "1800", "--to", "1860"], check=True,
                           stdout=subprocess.DEVNULL)
            times.append(time.monotonic() - t0)
        out[fmt_ + "_slice_60s_s"] = statistics.median(times)
    print(f"render: {out}", flush=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workloads", default="pipe,fio,churn,stream")
    parser.add_argument("--out", default=HERE, help="directory for RESULTS.md and results.json")
    parser.add_argument("--no-userspace", action="store_true", help="skip the consumer/RSS/attach/render figures")
    a = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    workloads = [w for w in a.workloads.split(",") if w]
    results = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "kernel": platform.release(),
               "machine": f"{os.cpu_count()} CPUs, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') >> 30} GiB",
               "rounds": a.rounds, "workloads": {}}

    with tempfile.TemporaryDirectory() as work, environment(sorted(set(workloads) | {"fio"}), work) as ctx:
        for w in workloads:
            fn, unit, higher, family, _ = WORKLOADS[w]
            tracers = tracers_for(w)
            values = {name: [] for name in tracers}
            names = list(tracers)
            for r in range(a.rounds):
                # Each round starts one tracer further on, and every run waits SETTLE_S after the
                # last one's tracer is gone: the kernel frees a tracer's programs and maps in
                # workers after it exits, and in a fixed order the same row would always be measured
                # in the same predecessor's aftermath.
                for name in names[r % len(names):] + names[:r % len(names)]:
                    time.sleep(SETTLE_S)
                    with tracers[name](work):
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
            # Per-program cost of each tracer that does one family's job (the combinations add
            # nothing new). triage's run also checks its own overhead report and attach time.
            cost = {}
            programs = {}
            for name, make in tracers.items():
                if name in ("none", "triage (all families)", "runqlat+biolatency+tcpstates"):
                    continue
                if name.startswith("triage"):
                    make = lambda work_: triage(family, work_, measure=True, result=cost)  # noqa: E731
                programs[name] = program_costs(make, fn, ctx, work)
            none_op_ns = untraced_op_ns(w, rows["none"]["median"])
            for p in programs.values():
                p["pct_of_untraced_op"] = (100 * p["ns_per_op"] / none_op_ns
                                           if p["ns_per_op"] is not None and none_op_ns else None)
            results["workloads"][w] = {"unit": unit, "higher_is_better": higher, "tracers": rows,
                                       "programs": programs, "triage_overhead": cost.get("overhead"),
                                       "attach_s": cost.get("attach_s"), "startup_s": cost.get("startup_s")}
        if not a.no_userspace:
            consumer = consumer_throughput(work, ctx)
            render = render_times(work, ctx)
            attach = [r["attach_s"] for r in TRIAGE_RUNS if r["attach_s"] is not None]
            startup = [r["startup_s"] for r in TRIAGE_RUNS if r["startup_s"] is not None]
            results["userspace"] = {
                "consumer": consumer,
                "render": render,
                "attach_s": {"median": statistics.median(attach), "max": max(attach), "runs": len(attach)},
                "startup_s": {"median": statistics.median(startup), "max": max(startup)},
                "max_rss_kib": {"median": statistics.median(r["max_rss_kib"] for r in TRIAGE_RUNS),
                                "max": max(r["max_rss_kib"] for r in TRIAGE_RUNS)},
            }

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    md = [f"# Benchmark results\n", f"{results['date']}, kernel {results['kernel']}, {results['machine']}, "
          f"{a.rounds} interleaved rounds. Cost = how much worse than no tracer (median of per-round ratios; "
          f"range = min-max ratio).\n"]
    for w, r in results["workloads"].items():
        md.append(f"\n## {w} ({r['unit']}, {'higher' if r['higher_is_better'] else 'lower'} is better)\n")
        floor = r["tracers"].get(FLOOR_ROWS.get(w, ""))
        md.append("| tracer | median | cost | ratio range |" + (" x floor's cost |" if floor else "")
                  + "\n|---|---|---|---|" + ("---|" if floor else ""))
        for name, t in r["tracers"].items():
            times_floor = ""
            if floor:
                times_floor = (f" {t['cost_pct_median'] / floor['cost_pct_median']:.2f} |"
                               if floor["cost_pct_median"] > 0 and name != "none" else " |")
            md.append(f"| {name} | {t['median']:.3f} | {t['cost_pct_median']:+.1f}% | "
                      f"{t['ratio_min']:.3f}-{t['ratio_max']:.3f} |" + times_floor)
        # Two different spans: loading and attaching the probes, and exec to recording (which
        # adds the /proc checklist's 200 ms CPU sample and the recording's setup).
        attach = f"{r['attach_s'] * 1000:.0f} ms" if r.get("attach_s") is not None else "(unknown)"
        startup = f"{r['startup_s'] * 1000:.0f} ms" if r.get("startup_s") is not None else "(unknown)"
        md.append(f"\nWith bpf_stats on: triage attached its probes in {attach}, {startup} from exec to recording. "
                  f"Per-program cost, one more run per tracer (BPF time per op = the tracer's program time "
                  f"over the workload's operations; where the workload is one chain of work, as pipe on one CPU "
                  f"and fio's one synchronous job are, that much of each op's time is spent in the programs, and "
                  f"the measured cost adds the hooks' dispatch and cache effects):\n")
        md.append("| tracer | program | runs | ns/run | BPF time per op |\n|---|---|---|---|---|")
        for tracer, c in r["programs"].items():
            per_op = ""
            if c.get("ns_per_op") is not None:
                per_op = f"{c['ns_per_op']:.0f} ns"
                if c.get("pct_of_untraced_op") is not None:
                    per_op += f" = {c['pct_of_untraced_op']:.1f}% of an untraced op"
            for i, p in enumerate(c["programs"]):
                md.append(f"| {tracer if i == 0 else ''} | {p['program']} | {p['run_cnt']} | {p['ns_per_run']:.0f} | "
                          f"{per_op if i == 0 else ''} |")
    u = results.get("userspace")
    if u:
        md.append("\n## Userspace\n")
        md.append("Consumer under `perf bench sched pipe` with `--threshold-ms 0` (one ring-buffer record per "
                  "run-queue wait):\n")
        md.append("| produced | delivered | lost | events/s sustained | consumer CPU | events per CPU-second | peak RSS |")
        md.append("|---|---|---|---|---|---|---|")
        for c in u["consumer"]:
            md.append(f"| {c['produced']} | {c['delivered']} | {c['lost']} | {c['events_per_s']:,.0f} | "
                      f"{c['consumer_cpu_s'] * 1000:.0f} ms | {c['events_per_cpu_s']:,.0f} | {c['max_rss_kib'] / 1024:.1f} MiB |")
        r = u["render"]
        md.append(f"\nRendering a 1-hour recording ({r['bytes'] / 1e6:.1f} MB; rows {r['rows']}): "
                  f"text {r['text_s']:.2f} s, JSON {r['json_s']:.2f} s, HTML {r['html_s']:.2f} s; a 60 s slice of it: "
                  f"text {r['text_slice_60s_s']:.2f} s, JSON {r['json_slice_60s_s']:.2f} s, "
                  f"HTML {r['html_slice_60s_s']:.2f} s (medians of 3).\n")
        md.append(f"Time to load and attach every probe of the chosen families (all triage runs of this benchmark, "
                  f"{u['attach_s']['runs']} runs): median {u['attach_s']['median'] * 1000:.0f} ms, max "
                  f"{u['attach_s']['max'] * 1000:.0f} ms; from exec to recording (adds the /proc checklist): median "
                  f"{u['startup_s']['median'] * 1000:.0f} ms, max {u['startup_s']['max'] * 1000:.0f} ms. Peak RSS: median "
                  f"{u['max_rss_kib']['median'] / 1024:.1f} MiB, max {u['max_rss_kib']['max'] / 1024:.1f} MiB.")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "RESULTS.md"), "w") as f:
        f.write(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
