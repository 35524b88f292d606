/* The -p / --cgroup filters every family applies in the kernel, to the task the event is about
 * (the one that waits, submits or owns), never to whatever task happens to be current.
 * The loader fills the rodata below from RecordOptions (user/core/bpf_filter.h). */
#ifndef TRIAGE_COMMON_FILTER_BPF_H
#define TRIAGE_COMMON_FILTER_BPF_H

#include <bpf/bpf_core_read.h>

const volatile __u32 filter_tgid = 0;           /* 0: all processes */
const volatile __u64 filter_cgroup_id = 0;      /* 0: all cgroups; else kernfs id of the cgroup */
const volatile __s32 filter_cgroup_subsys = -1; /* -1: cgroup v2; else the v1 subsystem id */

static __always_inline bool filter_active(void)
{
	return filter_tgid || filter_cgroup_id;
}

/* Whether the task is in the filter's cgroup or below it, in the hierarchy the filter names. */
static __always_inline bool task_in_filter_cgroup(struct task_struct *task)
{
	struct cgroup_subsys_state *css;
	struct cgroup *cgrp;

	if (filter_cgroup_subsys < 0) {
		cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	} else {
		int ssid = filter_cgroup_subsys & 15;
		css = BPF_CORE_READ(task, cgroups, subsys[ssid]);
		cgrp = BPF_CORE_READ(css, cgroup);
	}
	for (int depth = 0; depth < 16 && cgrp; depth++) {
		if (BPF_CORE_READ(cgrp, kn, id) == filter_cgroup_id)
			return true;
		css = BPF_CORE_READ(cgrp, self.parent);
		if (!css)
			break;
		cgrp = BPF_CORE_READ(css, cgroup);
	}
	return false;
}

/* The full check; callers that see a task often cache the verdict (cgroup walks are not free). */
static __always_inline bool task_matches_filter(struct task_struct *task)
{
	if (filter_tgid && BPF_CORE_READ(task, tgid) != filter_tgid)
		return false;
	return !filter_cgroup_id || task_in_filter_cgroup(task);
}

#endif
