// SPDX-License-Identifier: GPL-2.0
/* The sched family: run-queue latency, D-state time and the load decomposition.
 *
 * One state machine per task (running, queued, blocked in D, sleeping). Closed spans feed per-CPU
 * histograms, per-process totals and, above the outlier threshold, the ring buffer; spans also
 * feed the additive per-CPU accumulators from which userspace integrates the load (see sched.h).
 *
 * Two hook sets; userspace loads one, chosen by trying the kernel.
 *
 * tp_btf (typed arguments, task storage) does nearly everything at sched_switch. Switch-out opens
 * a run-queue span when the task was preempted and a D span when it sleeps uninterruptibly, and
 * notes the task's sched_info.run_delay. Switch-in reads how long the task waited on run queues
 * from the scheduler's own bookkeeping (sched_info, see runq_wait_since_out()), so no program
 * runs at a wakeup at all. A D span ends at switch-in minus that run-queue wait, which is the
 * instant of the wakeup. The price: the waker of a D wait is not known in this set. A wakeup
 * program that only looked up the wakee's state to name it cost a seventh of the family's whole
 * cost (design figure S2 in bench/RESULTS.md), for a name on D outliers.
 *
 * raw_tp (untyped arguments read through CO-RE, a bounded hash map keyed by pid) keeps the
 * original machine for kernels that refuse the first set: sched_wakeup and sched_wakeup_new
 * close a D span and open a run-queue span, switch-in closes it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common/bits.bpf.h"
#include "common/core_fixes.bpf.h"
#include "common/filter.bpf.h"
#include "common/maps.bpf.h"
#include "sched/sched.h"


char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load; constant for the verifier, so unused branches are pruned. */
const volatile __u64 base_ns = 0;            /* CLOCK_MONOTONIC at open: span times are relative */
const volatile __u64 outlier_threshold_ns = 10 * 1000 * 1000;
const volatile bool switch_has_prev_state = true; /* 5.18+: sched_switch passes prev_state */

/* The family in parts, one concern each, included in the order they depend on each other; the
 * programs themselves stay here, so both sets read side by side. */
#include "sched/sched_maps.bpf.h"
#include "sched/sched_task.bpf.h"
#include "sched/sched_process.bpf.h"
#include "sched/sched_spans.bpf.h"
#include "sched/sched_run.bpf.h"
#include "sched/sched_switch.bpf.h"
#include "sched/sched_seed.bpf.h"
#include "sched/sched_stacks.bpf.h"

/* ---- tp_btf set: typed arguments, task storage, run-queue waits from the kernel's sched_info ---- */

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 state_arg = switch_has_prev_state ? ctx[3] : 0;
	struct sched_cpu_acc *acc = this_cpu_acc();
	__u64 now = now_since_base();

	struct sched_cpu_running *run;

	if (!acc)
		return 0;
	acc->switches++;
	run = this_cpu_running();
	if (prev->pid)
		switch_out_sched_info(acc, preempt, prev, switch_prev_state(prev, state_arg), now, run);
	if (next->pid) {
		begin_run(run, next, false);
		switch_in_sched_info(acc, next, now);
	} else if (run) {
		run->pid = 0;
	}
	return 0;
}

/* ---- raw_tp set: untyped arguments read through CO-RE, per-pid hash map ---- */

SEC("raw_tp/sched_switch")
int BPF_PROG(switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 state_arg = switch_has_prev_state ? ctx[3] : 0;
	on_switch(preempt, prev, next, switch_prev_state(prev, state_arg), true);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(wakeup_raw, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(wakeup_new_raw, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

/* ---- a task freed with a span still open (its last switch-out was not seen) ---- */

SEC("tp_btf/sched_process_free")
int BPF_PROG(free_btf, struct task_struct *task)
{
	forget_freed_task(task, false);
	return 0;
}

SEC("raw_tp/sched_process_free")
int BPF_PROG(free_raw, struct task_struct *task)
{
	forget_freed_task(task, true);
	return 0;
}

/* ---- seeding: tasks already queued or blocked when the probes attach ---- */

SEC("iter/task")
int seed_btf(struct bpf_iter__task *ctx)
{
	return seed_task(ctx->task, false);
}

SEC("iter/task")
int seed_raw(struct bpf_iter__task *ctx)
{
	return seed_task(ctx->task, true);
}

/* ---- kernel stacks of tasks long in D, run by userspace once per interval ---- */

SEC("iter/task")
int stacks_btf(struct bpf_iter__task *ctx)
{
	return sample_dstate_stack(ctx, false);
}

SEC("iter/task")
int stacks_raw(struct bpf_iter__task *ctx)
{
	return sample_dstate_stack(ctx, true);
}
