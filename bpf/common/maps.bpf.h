/* Creating a row in a shared BPF hash map, and how it can fail. */
#ifndef TRIAGE_COMMON_MAPS_BPF_H
#define TRIAGE_COMMON_MAPS_BPF_H

#define E2BIG 7   /* errno: the map is full */
#define EEXIST 17 /* errno: another CPU created the key first */

/* Whether a BPF_NOEXIST insert left the key without a row, so that what it carried is lost and
 * must be counted as dropped. A full map is the usual reason (-E2BIG), but not the only one:
 * since 6.15 the bucket lock is a resilient spinlock that gives up (-EDEADLK, -ETIMEDOUT) under
 * a storm of inserts from every CPU, and before it a program nested on the same CPU found the
 * bucket busy (-EBUSY). A fork storm past sched's proc_stats showed ~500 of 3,600 such losses
 * uncounted when only -E2BIG was. -EEXIST is a row another CPU created meanwhile: usable. */
static __always_inline bool row_not_created(long err)
{
	return err && err != -EEXIST;
}

#endif
