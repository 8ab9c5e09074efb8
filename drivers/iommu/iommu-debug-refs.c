// SPDX-License-Identifier: GPL-2.0-only
/*
 * IOMMU device reference accounting (CONFIG_IOMMU_DEBUG_REFS)
 *
 * Counts, per IOMMU hardware device, the references IOMMU driver callbacks
 * (of_xlate, probe_device, release_device, the driver's probe() and
 * remove()) take and drop on it, the stacks of those they keep and the
 * other devices ("companions") they keep references on, without any change
 * to the drivers; see Documentation/iommu/debug-refs.rst.
 *
 * References are seen through the driver core's device_get and device_put
 * trace events, whose probes are attached only while a device is watched
 * and run with preemption disabled: what they touch is protected by a raw
 * spinlock, or read under RCU. A get's stack is walked only when a
 * reference its caller took was kept in the same kind of callback before
 * (walking costs more than the rest); see the documentation for what
 * that leaves without a stack.
 */

#define pr_fmt(fmt) "iommu-debug-refs: " fmt

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/hashtable.h>
#include <linux/iommu.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/platform_device.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/stackdepot.h>
#include <linux/stacktrace.h>
#include <linux/string.h>
#include <linux/workqueue.h>
/* The driver core's device_get and device_put events */
#include "../base/trace.h"

#include "iommu-debug-refs.h"

#define IOMMU_DEBUG_REFS_FN_LEN	96
/* References one callback can keep with their stacks; more are counted */
#define IOMMU_DEBUG_REFS_CALL_REFS	16
#define IOMMU_DEBUG_REFS_STACK_DEPTH	8
/* Call sites recorded per IOMMU device; more are counted */
#define IOMMU_DEBUG_REFS_SITES_MAX	64
/* Companion devices counted per IOMMU device; more are counted together */
#define IOMMU_DEBUG_REFS_COMPANIONS	16
/* Callers of get_device() whose references get stacks, per site */
#define IOMMU_DEBUG_REFS_CALLERS	32
#define IOMMU_DEBUG_REFS_NAME_LEN	64

static const char * const iommu_debug_refs_site_names[] = {
	[IOMMU_DEBUG_REFS_OF_XLATE] = "of_xlate",
	[IOMMU_DEBUG_REFS_PROBE_DEVICE] = "probe_device",
	[IOMMU_DEBUG_REFS_RELEASE_DEVICE] = "release_device",
	[IOMMU_DEBUG_REFS_DRIVER_PROBE] = "driver_probe",
	[IOMMU_DEBUG_REFS_DRIVER_REMOVE] = "driver_remove",
};

struct iommu_debug_refs_stats {
	u64 calls;
	u64 errors;
	u64 taken;
	u64 dropped;
	u64 error_leaks;
	const void *fn;
	char fn_name[IOMMU_DEBUG_REFS_FN_LEN];
};

/* References kept by the callbacks, taken at one stack */
struct iommu_debug_refs_kept {
	depot_stack_handle_t stack;
	enum iommu_debug_refs_site site;
	int comp;		/* on companion comp[@comp], or -1 */
	u64 count;
};

/*
 * Another device a callback kept references on. Held references: kept
 * plus taken minus dropped; while there are, gets and puts on @dev by
 * anyone are counted (taken outside callbacks, dropped unless a get of the
 * same callback is undone).
 */
struct iommu_debug_refs_companion {
	char name[IOMMU_DEBUG_REFS_NAME_LEN];
	struct device *dev;	/* while held: compared, never dereferenced */
	u64 kept;
	u64 taken;
	u64 dropped;
};

struct iommu_debug_refs;

/* A watched device, in iommu_debug_refs_devs */
struct iommu_debug_refs_key {
	struct hlist_node node;
	struct device *dev;
	struct iommu_debug_refs *refs;
};

/*
 * One per IOMMU hardware device, from its first iommu_device_register() until
 * the device is deleted, so that the counters survive unbind and rebind.
 */
struct iommu_debug_refs {
	struct list_head node;
	struct rcu_head rcu;
	struct device *hwdev;		/* holds a reference */
	struct dentry *dir;
	struct iommu_debug_refs_key hw_key;
	struct iommu_debug_refs_key parent_key;	/* while parent is set */

	/* Protected by iommu_debug_refs_lock */
	struct iommu_device *iommu;	/* while registered */
	struct device *parent;		/* while registered, holds a reference */
	/*
	 * The parent as registered last, the device the IOMMU driver binds
	 * to when it is not @hwdev: compared, never dereferenced, forgotten
	 * when it is deleted.
	 */
	struct device *bound;
	u64 registrations;
	u64 other_taken;
	u64 other_dropped;
	struct iommu_debug_refs_stats site[IOMMU_DEBUG_REFS_NR_SITES];
	unsigned int nr_kept;
	u64 kept_unrecorded;	/* kept, stack not recorded */
	struct iommu_debug_refs_kept kept[IOMMU_DEBUG_REFS_SITES_MAX];
	unsigned int nr_comp;
	u64 comp_unrecorded;	/* kept on companions beyond comp[] */
	struct iommu_debug_refs_companion comp[IOMMU_DEBUG_REFS_COMPANIONS];
};

/*
 * A driver callback in progress, on iommu_debug_refs_calls from
 * iommu_debug_refs_op_begin() to iommu_debug_refs_op_end(). Allocated, not
 * on the caller's stack, so that a callback that oopses leaves no pointer
 * to a dead stack: the entry stays, naming a task that exited, and is
 * freed by the next iommu_debug_refs_op_begin().
 */
struct iommu_debug_refs_call {
	struct list_head node;		/* read under RCU by the probes */
	struct rcu_head rcu;
	struct task_struct *task;	/* holds a reference */
	enum iommu_debug_refs_site site;
	/*
	 * For probe() and remove(), the device the driver binds to, when
	 * it is not watched: the references on it are the driver core's
	 * (its children's, ...), not companions. Compared, never dereferenced.
	 */
	struct device *self;
	unsigned long taken;
	unsigned long dropped;
	/*
	 * The references taken and not dropped yet, newest last, written
	 * only by the task itself: the device (compared, never dereferenced),
	 * its name when it is not watched, the caller of get_device() and,
	 * when it is one of iommu_debug_refs_callers, the stack from there
	 */
	unsigned int nr_refs;
	/* taken on watched devices and companions beyond refs[], not dropped */
	unsigned long unrecorded;
	struct {
		struct device *dev;
		/* on a device registered in the callback: see call_get() */
		bool born;
		char name[IOMMU_DEBUG_REFS_NAME_LEN];
		unsigned long caller;
		unsigned int nr_entries;
		unsigned long entries[IOMMU_DEBUG_REFS_STACK_DEPTH];
	} refs[IOMMU_DEBUG_REFS_CALL_REFS];
};

/* The IOMMU driver binding to or unbinding from a watched device */
struct iommu_debug_refs_driver_op {
	struct list_head node;
	struct device *dev;		/* compared, never dereferenced */
	struct device *hwdev;		/* the same, or the one it is bound for */
	struct task_struct *task;	/* holds a reference */
	struct iommu_debug_refs_op op;
};

struct iommu_debug_refs_bus {
	struct list_head node;
	const struct bus_type *bus;
	struct notifier_block nb;
};

/* Serialises registration, unregistration and device deletion */
static DEFINE_MUTEX(iommu_debug_refs_mutex);
/*
 * Protects the list of watched buses. Never held with the mutex above:
 * the bus notifier takes that one under the bus's notifier lock.
 */
static DEFINE_MUTEX(iommu_debug_refs_bus_mutex);
/*
 * Protects the lists, the hash of watched devices (written under it, read
 * under RCU) and the counters. Taken by the trace event probes, which run
 * with preemption disabled: a raw spinlock, also under PREEMPT_RT.
 */
static DEFINE_RAW_SPINLOCK(iommu_debug_refs_lock);
static LIST_HEAD(iommu_debug_refs_list);
static LIST_HEAD(iommu_debug_refs_calls);
static LIST_HEAD(iommu_debug_refs_buses);
static DEFINE_HASHTABLE(iommu_debug_refs_devs, 4);
/* Callers of get_device() whose references callbacks kept: see the top */
static unsigned long iommu_debug_refs_callers[IOMMU_DEBUG_REFS_NR_SITES]
					      [IOMMU_DEBUG_REFS_CALLERS];
static struct dentry *iommu_debug_refs_dir;
/* Under iommu_debug_refs_mutex */
static LIST_HEAD(iommu_debug_refs_driver_ops);
/*
 * Callbacks in progress, and companions held: while both are zero, a get
 * or put on a device that is not in iommu_debug_refs_devs is not looked
 * at; while only companions are held, it is compared with them under RCU.
 */
static atomic_t iommu_debug_refs_calls_nr = ATOMIC_INIT(0);
static atomic_t iommu_debug_refs_comps_held = ATOMIC_INIT(0);

/*
 * The trace event probes are attached while iommu_debug_refs_users is not
 * zero: from the first registration of an IOMMU device until the last one
 * is deleted. Detaching waits for a work item, so that device deletion,
 * which runs under the bus notifier lock, does not take the tracepoint
 * and CPU hotplug locks.
 */
static DEFINE_MUTEX(iommu_debug_refs_probe_mutex);
static atomic_t iommu_debug_refs_users = ATOMIC_INIT(0);
static bool iommu_debug_refs_probes_on;

/* The accounting of the watched device @dev, or NULL; under RCU or the lock */
static struct iommu_debug_refs *iommu_debug_refs_lookup(struct device *dev)
{
	struct iommu_debug_refs_key *key;

	hash_for_each_possible_rcu(iommu_debug_refs_devs, key, node,
				   (unsigned long)dev,
				   lockdep_is_held(&iommu_debug_refs_lock))
		if (key->dev == dev)
			return key->refs;
	return NULL;
}

static bool iommu_debug_refs_watched(struct device *dev)
{
	bool watched;

	rcu_read_lock();
	watched = iommu_debug_refs_lookup(dev);
	rcu_read_unlock();
	return watched;
}

static void iommu_debug_refs_watch(struct iommu_debug_refs_key *key,
				   struct iommu_debug_refs *refs,
				   struct device *dev)
{
	lockdep_assert_held(&iommu_debug_refs_lock);
	key->dev = dev;
	key->refs = refs;
	hash_add_rcu(iommu_debug_refs_devs, &key->node, (unsigned long)dev);
}

/*
 * Whether references taken by @caller in a callback of @site get their
 * stacks, under the lock; with @learn, they do from now on if there is
 * room.
 */
static bool iommu_debug_refs_caller_known(enum iommu_debug_refs_site site,
					  unsigned long caller, bool learn)
{
	unsigned long *callers = iommu_debug_refs_callers[site];
	unsigned int i;

	lockdep_assert_held(&iommu_debug_refs_lock);
	for (i = 0; i < IOMMU_DEBUG_REFS_CALLERS && callers[i]; i++)
		if (callers[i] == caller)
			return true;
	if (learn && i < IOMMU_DEBUG_REFS_CALLERS)
		callers[i] = caller;
	return false;
}

/*
 * A reference taken on @dev by the callback @call: record @caller, the
 * caller of get_device(), with @stack the stack from there outwards, and
 * the name of @dev when it is not @watched (a companion, if the callback
 * keeps it). Beyond
 * refs[], only references on @tracked devices (watched, or companions
 * held) are counted. A device not registered yet when its first reference
 * is recorded (device_add() takes one before it adds the device) is one
 * the callback registers: the references it keeps on it (those of the
 * driver core's lists, for its registration) are not a companion's.
 */
static void iommu_debug_refs_call_get(struct iommu_debug_refs_call *call,
				      struct device *dev, bool watched,
				      bool tracked, unsigned long caller,
				      bool stack)
{
	unsigned long trace[IOMMU_DEBUG_REFS_STACK_DEPTH + 8];
	unsigned int i, j, n = 0;
	const char *name;
	bool born;

	if (call->nr_refs == IOMMU_DEBUG_REFS_CALL_REFS) {
		if (tracked)
			call->unrecorded++;
		return;
	}
	if (stack) {
		n = stack_trace_save(trace, ARRAY_SIZE(trace), 0);
		/* Without the frames of the probe and of the trace event */
		for (i = 0; i < n && trace[i] != caller; i++)
			;
		if (i == n)
			i = 0;
		n = min_t(unsigned int, n - i, IOMMU_DEBUG_REFS_STACK_DEPTH);
		memcpy(call->refs[call->nr_refs].entries, trace + i,
		       n * sizeof(trace[0]));
	}
	born = !device_is_registered(dev);
	for (j = 0; j < call->nr_refs && !born; j++)
		born = call->refs[j].dev == dev && call->refs[j].born;
	call->refs[call->nr_refs].dev = dev;
	call->refs[call->nr_refs].caller = caller;
	call->refs[call->nr_refs].nr_entries = n;
	call->refs[call->nr_refs].born = born;
	/* Valid: the caller of get_device() holds a reference */
	name = watched ? NULL : dev_name(dev);
	strscpy(call->refs[call->nr_refs].name, name ? name : "");
	call->nr_refs++;
}

/*
 * A reference dropped on @dev by @call: it undoes the newest get of @dev
 * by @call (the others stay born if it was), or on a @tracked device one
 * of those beyond refs[]. Returns whether there was one.
 */
static bool iommu_debug_refs_call_put(struct iommu_debug_refs_call *call,
				      struct device *dev, bool tracked)
{
	int i, found = -1;

	for (i = (int)call->nr_refs - 1; i >= 0; i--) {
		if (call->refs[i].dev != dev)
			continue;
		if (found < 0)
			found = i;
		else if (call->refs[found].born)
			call->refs[i].born = true;
	}
	if (found >= 0) {
		memmove(&call->refs[found], &call->refs[found + 1],
			(call->nr_refs - found - 1) * sizeof(call->refs[0]));
		call->nr_refs--;
		return true;
	}
	if (tracked && call->unrecorded) {
		call->unrecorded--;
		return true;
	}
	return false;
}

/*
 * Whether the current task runs a callback, without the lock: under RCU,
 * which protects the list of callbacks in progress
 */
static bool iommu_debug_refs_in_call(void)
{
	struct iommu_debug_refs_call *call;

	/* Acquire: the companions of a callback that ended are seen */
	if (!in_task() || !atomic_read_acquire(&iommu_debug_refs_calls_nr))
		return false;
	list_for_each_entry_rcu(call, &iommu_debug_refs_calls, node)
		if (call->task == current)
			return true;
	return false;
}

/* The callback the current task is running, or NULL */
static struct iommu_debug_refs_call *iommu_debug_refs_current(void)
{
	struct iommu_debug_refs_call *call;

	lockdep_assert_held(&iommu_debug_refs_lock);
	if (!in_task())
		return NULL;
	/* Newest first: a nested callback wins */
	list_for_each_entry(call, &iommu_debug_refs_calls, node)
		if (call->task == current)
			return call;
	return NULL;
}

/*
 * The companion entry that holds references on @dev, or NULL; with @refsp,
 * *@refsp becomes the instance whose entry it is.
 */
static struct iommu_debug_refs_companion *
iommu_debug_refs_companion_of(struct device *dev,
			      struct iommu_debug_refs **refsp)
{
	struct iommu_debug_refs *refs;
	unsigned int i;

	lockdep_assert_held(&iommu_debug_refs_lock);
	list_for_each_entry(refs, &iommu_debug_refs_list, node) {
		for (i = 0; i < refs->nr_comp; i++) {
			if (refs->comp[i].dev == dev) {
				if (refsp)
					*refsp = refs;
				return &refs->comp[i];
			}
		}
	}
	return NULL;
}

/*
 * Whether @dev may be a companion held, without the lock: under RCU, which
 * protects the list; an entry that starts being held meanwhile is missed.
 */
static bool iommu_debug_refs_companion_held(struct device *dev)
{
	struct iommu_debug_refs *refs;
	unsigned int i, nr;

	if (!atomic_read(&iommu_debug_refs_comps_held))
		return false;
	list_for_each_entry_rcu(refs, &iommu_debug_refs_list, node) {
		nr = READ_ONCE(refs->nr_comp);
		for (i = 0; i < nr; i++)
			if (READ_ONCE(refs->comp[i].dev) == dev)
				return true;
	}
	return false;
}

/* Stop watching @comp once the references it held are all dropped */
static void iommu_debug_refs_companion_settle(struct iommu_debug_refs_companion *comp)
{
	lockdep_assert_held(&iommu_debug_refs_lock);
	if (comp->dev && comp->kept + comp->taken <= comp->dropped) {
		WRITE_ONCE(comp->dev, NULL);
		atomic_dec(&iommu_debug_refs_comps_held);
	}
}

/*
 * Account a reference taken or dropped on @dev: on a watched device, to
 * the driver callback that the current task is running, if any, and to
 * "other" otherwise (another task, interrupt context, or no callback in
 * progress); on a companion held, as taken or dropped; and, on any device
 * but an IOMMU client, in the record of the current task's callback.
 */
static void iommu_debug_refs_count(struct device *dev, bool get,
				   unsigned long caller)
{
	struct iommu_debug_refs_companion *comp = NULL;
	struct iommu_debug_refs_call *cur;
	struct iommu_debug_refs *refs;
	bool undone = false, record, stack = false;
	unsigned long flags;

	rcu_read_lock();
	refs = iommu_debug_refs_lookup(dev);
	if (!refs && !iommu_debug_refs_in_call() &&
	    !iommu_debug_refs_companion_held(dev))
		goto out;

	raw_spin_lock_irqsave(&iommu_debug_refs_lock, flags);
	cur = iommu_debug_refs_current();
	if (!refs)
		comp = iommu_debug_refs_companion_of(dev, NULL);
	if (cur && !get)
		undone = iommu_debug_refs_call_put(cur, dev, refs || comp);
	if (refs && cur && get) {
		refs->site[cur->site].taken++;
		cur->taken++;
	} else if (refs && cur) {
		refs->site[cur->site].dropped++;
		cur->dropped++;
	} else if (refs && get) {
		refs->other_taken++;
	} else if (refs) {
		refs->other_dropped++;
	} else if (comp && get && !cur) {
		comp->taken++;
	} else if (comp && !get && !undone) {
		comp->dropped++;
		iommu_debug_refs_companion_settle(comp);
	}
	/*
	 * The device is alive: the caller of get_device() holds a reference.
	 * IOMMU clients are not companions.
	 */
	record = cur && get &&
		 (refs || comp || (!dev->iommu && dev != cur->self));
	if (record)
		stack = iommu_debug_refs_caller_known(cur->site, caller, false);
	raw_spin_unlock_irqrestore(&iommu_debug_refs_lock, flags);
	/* Only this task writes its call's references */
	if (record)
		iommu_debug_refs_call_get(cur, dev, refs, refs || comp, caller,
					  stack);
out:
	rcu_read_unlock();
}

static void iommu_debug_refs_device_get(void *data, struct device *dev,
					unsigned long caller)
{
	iommu_debug_refs_count(dev, true, caller);
}

static void iommu_debug_refs_device_put(void *data, struct device *dev,
					unsigned long caller)
{
	iommu_debug_refs_count(dev, false, caller);
}

/* Attach the probes, if not attached yet, for one more watched device */
static int iommu_debug_refs_users_get(void)
{
	int ret = 0;

	mutex_lock(&iommu_debug_refs_probe_mutex);
	if (!iommu_debug_refs_probes_on) {
		ret = register_trace_device_get(iommu_debug_refs_device_get,
						NULL);
		if (!ret) {
			ret = register_trace_device_put(iommu_debug_refs_device_put,
							NULL);
			if (ret)
				unregister_trace_device_get(iommu_debug_refs_device_get,
							    NULL);
		}
		iommu_debug_refs_probes_on = !ret;
	}
	if (!ret)
		atomic_inc(&iommu_debug_refs_users);
	mutex_unlock(&iommu_debug_refs_probe_mutex);
	return ret;
}

static void iommu_debug_refs_probes_off(struct work_struct *work)
{
	mutex_lock(&iommu_debug_refs_probe_mutex);
	if (iommu_debug_refs_probes_on && !atomic_read(&iommu_debug_refs_users)) {
		unregister_trace_device_put(iommu_debug_refs_device_put, NULL);
		unregister_trace_device_get(iommu_debug_refs_device_get, NULL);
		iommu_debug_refs_probes_on = false;
	}
	mutex_unlock(&iommu_debug_refs_probe_mutex);
}

static DECLARE_WORK(iommu_debug_refs_probes_off_work,
		    iommu_debug_refs_probes_off);

/* One watched device fewer: detach the probes after the last one */
static void iommu_debug_refs_users_put(void)
{
	if (atomic_dec_and_test(&iommu_debug_refs_users))
		schedule_work(&iommu_debug_refs_probes_off_work);
}

static void iommu_debug_refs_call_free_rcu(struct rcu_head *head)
{
	struct iommu_debug_refs_call *call =
		container_of(head, struct iommu_debug_refs_call, rcu);

	put_task_struct(call->task);
	kfree(call);
}

/* After a grace period: the probes look for their task's call under RCU */
static void iommu_debug_refs_call_free(struct iommu_debug_refs_call *call)
{
	call_rcu(&call->rcu, iommu_debug_refs_call_free_rcu);
}

/**
 * iommu_debug_refs_op_begin() - Start accounting a driver callback
 * @op: accounting state, kept by the caller until the callback returns
 * @site: which callback is about to be called
 * @fn: the driver function about to be called
 *
 * From now until iommu_debug_refs_op_end(), references the current task
 * takes or drops on any watched IOMMU device count for @site, and those it
 * keeps on other devices count as companions. Must be called where the
 * caller may sleep. Without memory, the call is counted but its references
 * count as "other".
 */
void iommu_debug_refs_op_begin(struct iommu_debug_refs_op *op,
			       enum iommu_debug_refs_site site, const void *fn)
{
	struct iommu_debug_refs_call *call, *tmp;

	op->site = site;
	op->fn = fn;
	/* The references are written as they are taken */
	op->call = kmalloc_obj(*op->call);
	if (op->call) {
		memset(op->call, 0, offsetof(struct iommu_debug_refs_call, refs));
		op->call->task = get_task_struct(current);
		op->call->site = site;
	}

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	/* Callbacks whose task exited without returning (an oops) */
	list_for_each_entry_safe(call, tmp, &iommu_debug_refs_calls, node) {
		if (!READ_ONCE(call->task->exit_state))
			continue;
		list_del_rcu(&call->node);
		atomic_dec(&iommu_debug_refs_calls_nr);
		pr_warn("%s callback of task %d did not return\n",
			iommu_debug_refs_site_names[call->site],
			task_pid_nr(call->task));
		iommu_debug_refs_call_free(call);
	}
	if (op->call) {
		atomic_inc(&iommu_debug_refs_calls_nr);
		list_add_rcu(&op->call->node, &iommu_debug_refs_calls);
	}
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
}

static struct iommu_debug_refs *
iommu_debug_refs_find(const struct iommu_device *iommu,
		      const struct fwnode_handle *fwnode)
{
	struct iommu_debug_refs *refs;

	lockdep_assert_held(&iommu_debug_refs_lock);
	list_for_each_entry(refs, &iommu_debug_refs_list, node) {
		if (!refs->iommu)
			continue;
		if (iommu ? refs->iommu == iommu :
			    fwnode && refs->iommu->fwnode == fwnode)
			return refs;
	}
	return NULL;
}

/*
 * Give entry @i of @refs, which holds nothing, to the device named @name:
 * what was counted for the previous one goes.
 */
static void iommu_debug_refs_companion_reuse(struct iommu_debug_refs *refs,
					     unsigned int i, const char *name)
{
	struct iommu_debug_refs_companion *comp = &refs->comp[i];
	unsigned int j, n = 0;

	lockdep_assert_held(&iommu_debug_refs_lock);
	for (j = 0; j < refs->nr_kept; j++)
		if (refs->kept[j].comp != i)
			refs->kept[n++] = refs->kept[j];
	refs->nr_kept = n;
	comp->kept = 0;
	comp->taken = 0;
	comp->dropped = 0;
	strscpy(comp->name, name);
}

/*
 * A reference on @dev, named @name, kept by a callback for *@refsp: count
 * it for its companion entry, which watches @dev from now on. That is the
 * entry that holds @dev already, for any instance (*@refsp becomes that
 * one), else the entry of @name, a new one, or, when all are in use, one
 * that holds nothing any more. Returns the entry's index, or -1 when there
 * is none.
 */
static int iommu_debug_refs_companion_keep(struct iommu_debug_refs **refsp,
					   struct device *dev,
					   const char *name)
{
	struct iommu_debug_refs_companion *comp;
	struct iommu_debug_refs *refs;
	unsigned int i;

	comp = iommu_debug_refs_companion_of(dev, refsp);
	refs = *refsp;
	if (comp) {
		i = comp - refs->comp;
		goto found;
	}
	for (i = 0; i < refs->nr_comp; i++)
		if (!refs->comp[i].dev && !strcmp(refs->comp[i].name, name))
			goto found;
	if (refs->nr_comp < IOMMU_DEBUG_REFS_COMPANIONS) {
		i = refs->nr_comp;
		strscpy(refs->comp[i].name, name);
		WRITE_ONCE(refs->nr_comp, i + 1);
		goto found;
	}
	for (i = 0; i < refs->nr_comp; i++)
		if (!refs->comp[i].dev)
			break;
	if (i == refs->nr_comp)
		return -1;
	iommu_debug_refs_companion_reuse(refs, i, name);
found:
	comp = &refs->comp[i];
	comp->kept++;
	if (!comp->dev) {
		atomic_inc(&iommu_debug_refs_comps_held);
		WRITE_ONCE(comp->dev, dev);
	}
	return i;
}

/* Stop watching the companions of @refs */
static void iommu_debug_refs_companions_drop(struct iommu_debug_refs *refs)
{
	unsigned int i;

	lockdep_assert_held(&iommu_debug_refs_lock);
	for (i = 0; i < refs->nr_comp; i++) {
		if (refs->comp[i].dev) {
			WRITE_ONCE(refs->comp[i].dev, NULL);
			atomic_dec(&iommu_debug_refs_comps_held);
		}
	}
}

/*
 * Count the references @call kept, with their stacks saved in @stacks: for
 * the watched device they were taken on, or, on any other device, as a
 * companion of @op_refs (the instance the callback was for, or NULL),
 * unless @skip says the callback registered that device.
 */
static void iommu_debug_refs_keep(struct iommu_debug_refs_call *call,
				  struct iommu_debug_refs *op_refs,
				  const depot_stack_handle_t *stacks,
				  const bool *skip)
{
	struct iommu_debug_refs_kept *kept;
	struct iommu_debug_refs *refs;
	unsigned int i, j;
	int comp;

	lockdep_assert_held(&iommu_debug_refs_lock);
	for (i = 0; i < call->nr_refs; i++) {
		/* Still watched? The device may be gone: not dereferenced */
		refs = iommu_debug_refs_lookup(call->refs[i].dev);
		comp = -1;
		if (!refs && op_refs && call->refs[i].name[0]) {
			if (skip[i])
				continue;
			refs = op_refs;
			comp = iommu_debug_refs_companion_keep(&refs,
							       call->refs[i].dev,
							       call->refs[i].name);
			if (comp < 0) {
				refs->comp_unrecorded++;
				continue;
			}
		}
		if (!refs)
			continue;
		for (j = 0; j < refs->nr_kept; j++) {
			kept = &refs->kept[j];
			if (kept->stack == stacks[i] &&
			    kept->site == call->site && kept->comp == comp)
				break;
		}
		if (j == refs->nr_kept) {
			/* Its caller's next references get their stacks */
			if (!stacks[i])
				iommu_debug_refs_caller_known(call->site,
							      call->refs[i].caller,
							      true);
			if (!stacks[i] || j == IOMMU_DEBUG_REFS_SITES_MAX) {
				refs->kept_unrecorded++;
				continue;
			}
			kept = &refs->kept[refs->nr_kept++];
			kept->stack = stacks[i];
			kept->site = call->site;
			kept->comp = comp;
		}
		kept->count++;
	}
}

/*
 * Finish @op for the instance registered as @iommu, or with @fwnode, or on
 * the watched device @hwdev: see iommu_debug_refs_op_end().
 */
static void iommu_debug_refs_finish(struct iommu_debug_refs_op *op,
				    const struct iommu_device *iommu,
				    const struct fwnode_handle *fwnode,
				    struct device *hwdev, int err)
{
	struct iommu_debug_refs_call *call = op->call;
	depot_stack_handle_t stacks[IOMMU_DEBUG_REFS_CALL_REFS];
	bool skip[IOMMU_DEBUG_REFS_CALL_REFS];
	struct iommu_debug_refs_stats *stats, *rename = NULL;
	struct iommu_debug_refs *refs;
	char fn_name[IOMMU_DEBUG_REFS_FN_LEN];
	unsigned int i;

	/* Saved here, not under the raw spinlock */
	for (i = 0; call && i < call->nr_refs; i++) {
		stacks[i] = 0;
		if (call->refs[i].nr_entries)
			stacks[i] = stack_depot_save(call->refs[i].entries,
						     call->refs[i].nr_entries,
						     GFP_KERNEL);
		skip[i] = call->refs[i].name[0] && call->refs[i].born;
	}
	/* The accounting is freed after a grace period */
	rcu_read_lock();
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	if (hwdev) {
		refs = iommu_debug_refs_lookup(hwdev);
		if (refs && refs->hwdev != hwdev)
			refs = NULL;
	} else {
		refs = iommu_debug_refs_find(iommu, fwnode);
	}
	if (call) {
		list_del_rcu(&call->node);
		iommu_debug_refs_keep(call, refs, stacks, skip);
		/* Companions held before the count of callbacks drops */
		smp_mb__before_atomic();
		atomic_dec(&iommu_debug_refs_calls_nr);
	}
	if (refs) {
		stats = &refs->site[op->site];
		stats->calls++;
		if (err)
			stats->errors++;
		/* (a failed probe()'s devres is released after it ends) */
		if (err && call && call->taken > call->dropped &&
		    op->site != IOMMU_DEBUG_REFS_DRIVER_PROBE)
			stats->error_leaks += call->taken - call->dropped;
		if (call)
			refs->kept_unrecorded += call->unrecorded;
		if (stats->fn != op->fn)
			rename = stats;
	}
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	/*
	 * Named when it changed, not under the raw spinlock; the function and
	 * its name change together
	 */
	if (rename) {
		snprintf(fn_name, sizeof(fn_name), "%ps", op->fn);
		raw_spin_lock_irq(&iommu_debug_refs_lock);
		rename->fn = op->fn;
		strscpy(rename->fn_name, fn_name);
		raw_spin_unlock_irq(&iommu_debug_refs_lock);
	}
	rcu_read_unlock();
	if (call)
		iommu_debug_refs_call_free(call);
}

/**
 * iommu_debug_refs_op_end() - Finish accounting a driver callback
 * @op: accounting state passed to iommu_debug_refs_op_begin()
 * @iommu: the IOMMU instance the callback was for, or NULL if unknown
 * @fwnode: firmware node of that instance, used when @iommu is NULL
 * @err: the callback's error code, 0 on success
 *
 * Counts the call, and the error if any, for the instance. A failed call
 * that took more references than it dropped leaked them: they count as
 * error leaks. References the call kept on devices other than the
 * instance's own and its clients count for the instance as companions.
 */
void iommu_debug_refs_op_end(struct iommu_debug_refs_op *op,
			     const struct iommu_device *iommu,
			     const struct fwnode_handle *fwnode, int err)
{
	iommu_debug_refs_finish(op, iommu, fwnode, NULL, err);
}

static int iommu_debug_refs_show(struct seq_file *s, void *unused)
{
	struct iommu_debug_refs *refs = s->private;
	struct iommu_debug_refs_stats site[IOMMU_DEBUG_REFS_NR_SITES];
	u64 registrations, other_taken, other_dropped;
	char parent[64] = "-";
	unsigned int parent_refcount = 0;
	bool registered;
	int i;

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	registered = refs->iommu;
	registrations = refs->registrations;
	other_taken = refs->other_taken;
	other_dropped = refs->other_dropped;
	memcpy(site, refs->site, sizeof(site));
	if (refs->parent) {
		strscpy(parent, dev_name(refs->parent), sizeof(parent));
		parent_refcount = kref_read(&refs->parent->kobj.kref);
	}
	raw_spin_unlock_irq(&iommu_debug_refs_lock);

	seq_printf(s, "device %s\n", dev_name(refs->hwdev));
	seq_printf(s, "bus %s\n", refs->hwdev->bus->name);
	seq_printf(s, "registered %d\n", registered);
	seq_printf(s, "registrations %llu\n", registrations);
	seq_printf(s, "refcount %u\n", kref_read(&refs->hwdev->kobj.kref));
	seq_printf(s, "parent %s\n", parent);
	seq_printf(s, "parent_refcount %u\n", parent_refcount);
	for (i = 0; i < IOMMU_DEBUG_REFS_NR_SITES; i++) {
		const char *name = iommu_debug_refs_site_names[i];

		/* The driver's own probe() and remove() came later */
		if (i == IOMMU_DEBUG_REFS_DRIVER_PROBE) {
			seq_printf(s, "other.taken %llu\n", other_taken);
			seq_printf(s, "other.dropped %llu\n", other_dropped);
		}
		seq_printf(s, "%s.fn %s\n", name,
			   site[i].fn ? site[i].fn_name : "-");
		seq_printf(s, "%s.calls %llu\n", name, site[i].calls);
		seq_printf(s, "%s.errors %llu\n", name, site[i].errors);
		seq_printf(s, "%s.taken %llu\n", name, site[i].taken);
		seq_printf(s, "%s.dropped %llu\n", name, site[i].dropped);
		seq_printf(s, "%s.error_leaks %llu\n", name,
			   site[i].error_leaks);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iommu_debug_refs);

static int iommu_debug_refs_kept_cmp(const void *a, const void *b)
{
	const struct iommu_debug_refs_kept *ka = a, *kb = b;

	if (ka->count != kb->count)
		return ka->count < kb->count ? 1 : -1;
	return ka->site - kb->site;
}

/* The references kept per stack, the most kept first */
static int iommu_debug_refs_stacks_show(struct seq_file *s, void *unused)
{
	struct iommu_debug_refs *refs = s->private;
	struct iommu_debug_refs_companion *comp;
	struct iommu_debug_refs_kept *kept;
	unsigned int i, nr;
	u64 unrecorded;
	char *buf;

	kept = kmalloc_array(IOMMU_DEBUG_REFS_SITES_MAX, sizeof(*kept),
			     GFP_KERNEL);
	comp = kmalloc_array(IOMMU_DEBUG_REFS_COMPANIONS, sizeof(*comp),
			     GFP_KERNEL);
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!kept || !comp || !buf) {
		kfree(kept);
		kfree(comp);
		kfree(buf);
		return -ENOMEM;
	}
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	nr = refs->nr_kept;
	memcpy(kept, refs->kept, nr * sizeof(*kept));
	memcpy(comp, refs->comp, refs->nr_comp * sizeof(*comp));
	unrecorded = refs->kept_unrecorded;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);

	sort(kept, nr, sizeof(*kept), iommu_debug_refs_kept_cmp, NULL);
	for (i = 0; i < nr; i++) {
		buf[0] = '\0';
		stack_depot_snprint(kept[i].stack, buf, PAGE_SIZE, 4);
		seq_printf(s, "%s: %llu references kept",
			   iommu_debug_refs_site_names[kept[i].site],
			   kept[i].count);
		if (kept[i].comp >= 0)
			seq_printf(s, " on %s", comp[kept[i].comp].name);
		seq_printf(s, ", taken at:\n%s\n", buf);
	}
	if (unrecorded)
		seq_printf(s, "unrecorded: %llu references kept\n", unrecorded);
	kfree(buf);
	kfree(comp);
	kfree(kept);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iommu_debug_refs_stacks);

/* The companions: references held, kept by callbacks, taken, dropped */
static int iommu_debug_refs_companions_show(struct seq_file *s, void *unused)
{
	struct iommu_debug_refs *refs = s->private;
	struct iommu_debug_refs_companion *comp;
	unsigned int i, nr;
	u64 unrecorded;

	comp = kmalloc_array(IOMMU_DEBUG_REFS_COMPANIONS, sizeof(*comp),
			     GFP_KERNEL);
	if (!comp)
		return -ENOMEM;
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	nr = refs->nr_comp;
	memcpy(comp, refs->comp, nr * sizeof(*comp));
	unrecorded = refs->comp_unrecorded;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);

	for (i = 0; i < nr; i++)
		seq_printf(s, "%s held %lld kept %llu taken %llu dropped %llu\n",
			   comp[i].name,
			   (s64)(comp[i].kept + comp[i].taken - comp[i].dropped),
			   comp[i].kept, comp[i].taken, comp[i].dropped);
	if (unrecorded)
		seq_printf(s, "unrecorded: %llu references kept\n", unrecorded);
	kfree(comp);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iommu_debug_refs_companions);

/*
 * Writing a client's name releases it from the IOMMU and probes it again:
 * see iommu_debug_refs_reprobe(). The instance stays registered meanwhile:
 * the device lock of the device its driver is bound to is held, and the
 * driver unregisters it in its remove(), under that lock.
 */
static ssize_t iommu_debug_refs_reprobe_write(struct file *file,
					      const char __user *ubuf,
					      size_t count, loff_t *ppos)
{
	struct iommu_debug_refs *refs = file->private_data;
	struct device *bound;
	struct iommu_device *iommu;
	char name[64], *p;
	int ret;

	if (*ppos || !count || count >= sizeof(name))
		return -EINVAL;
	if (copy_from_user(name, ubuf, count))
		return -EFAULT;
	name[count] = '\0';
	p = strim(name);
	if (!*p)
		return -EINVAL;

	/* The parent changes under the mutex; the probes take the lock */
	mutex_lock(&iommu_debug_refs_mutex);
	bound = get_device(refs->parent ? refs->parent : refs->hwdev);
	mutex_unlock(&iommu_debug_refs_mutex);
	device_lock(bound);
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	iommu = refs->iommu;
	/* Registered again meanwhile, under another device */
	if (iommu && (refs->parent ? refs->parent : refs->hwdev) != bound)
		iommu = ERR_PTR(-EBUSY);
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	if (IS_ERR_OR_NULL(iommu))
		ret = iommu ? PTR_ERR(iommu) : -ENODEV;
	else
		ret = iommu_debug_refs_reprobe(iommu, bound, p);
	device_unlock(bound);
	put_device(bound);
	return ret ? ret : count;
}

static const struct file_operations iommu_debug_refs_reprobe_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = iommu_debug_refs_reprobe_write,
};

static void iommu_debug_refs_free(struct iommu_debug_refs *refs)
{
	debugfs_remove_recursive(refs->dir);
	put_device(refs->hwdev);
	kfree_rcu(refs, rcu);
	iommu_debug_refs_users_put();
}

/* The hardware device is going away: drop everything kept for it */
static void iommu_debug_refs_remove(struct device *dev)
{
	struct iommu_debug_refs *refs;
	struct device *parent;

	mutex_lock(&iommu_debug_refs_mutex);
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	refs = iommu_debug_refs_lookup(dev);
	if (!refs || refs->hwdev != dev) {
		raw_spin_unlock_irq(&iommu_debug_refs_lock);
		mutex_unlock(&iommu_debug_refs_mutex);
		return;
	}
	list_del_rcu(&refs->node);
	hash_del_rcu(&refs->hw_key.node);
	iommu_debug_refs_companions_drop(refs);
	parent = refs->parent;
	if (parent)
		hash_del_rcu(&refs->parent_key.node);
	refs->parent = NULL;
	refs->iommu = NULL;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	mutex_unlock(&iommu_debug_refs_mutex);

	put_device(parent);
	/* Outside the mutex: debugfs removal waits for readers */
	iommu_debug_refs_free(refs);
}

/*
 * The hardware device of the IOMMU whose driver binds to @dev, another
 * device (see struct iommu_debug_refs), or NULL. Under RCU.
 */
static struct device *iommu_debug_refs_bound_for(struct device *dev)
{
	struct iommu_debug_refs *refs;

	list_for_each_entry_rcu(refs, &iommu_debug_refs_list, node)
		if (READ_ONCE(refs->bound) == dev)
			return refs->hwdev;
	return NULL;
}

/* @dev is being deleted: no IOMMU driver binds to it any more */
static void iommu_debug_refs_forget_bound(struct device *dev)
{
	struct iommu_debug_refs *refs;
	bool bound;

	rcu_read_lock();
	bound = iommu_debug_refs_bound_for(dev);
	rcu_read_unlock();
	if (!bound)
		return;
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	list_for_each_entry(refs, &iommu_debug_refs_list, node)
		if (refs->bound == dev)
			WRITE_ONCE(refs->bound, NULL);
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
}

/*
 * The IOMMU driver starts binding to (@site DRIVER_PROBE) or unbinding
 * from (DRIVER_REMOVE) @dev: if an IOMMU was registered on @dev before, or
 * by a driver bound to @dev, account the driver's probe() or remove() as a
 * callback until it is done.
 */
static void iommu_debug_refs_driver_begin(struct device *dev,
					  enum iommu_debug_refs_site site)
{
	struct iommu_debug_refs_driver_op *op, *d, *tmp;
	struct iommu_debug_refs *refs;
	struct device *hwdev = NULL;
	const void *fn = NULL;

	rcu_read_lock();
	refs = iommu_debug_refs_lookup(dev);
	if (refs && refs->hwdev == dev)
		hwdev = dev;
	else
		hwdev = iommu_debug_refs_bound_for(dev);
	rcu_read_unlock();
	if (!hwdev)
		return;

	mutex_lock(&iommu_debug_refs_mutex);
	list_for_each_entry_safe(d, tmp, &iommu_debug_refs_driver_ops, node) {
		/* Left by a task that exited in probe() or remove(): never used */
		if (READ_ONCE(d->task->exit_state)) {
			list_del(&d->node);
			put_task_struct(d->task);
			kfree(d);
		} else if (d->dev == dev && d->task == current) {
			/* Bound again before the end (DEBUG_TEST_DRIVER_REMOVE) */
			mutex_unlock(&iommu_debug_refs_mutex);
			return;
		}
	}
	mutex_unlock(&iommu_debug_refs_mutex);

	if (dev_is_platform(dev) && dev->driver) {
		struct platform_driver *drv = to_platform_driver(dev->driver);

		if (site == IOMMU_DEBUG_REFS_DRIVER_PROBE)
			fn = drv->probe;
		else
			fn = drv->remove;
	} else if (dev->bus) {
		if (site == IOMMU_DEBUG_REFS_DRIVER_PROBE)
			fn = dev->bus->probe;
		else
			fn = dev->bus->remove;
	}
	op = kzalloc_obj(*op);
	if (!op)
		return;
	op->dev = dev;
	op->hwdev = hwdev;
	op->task = get_task_struct(current);
	iommu_debug_refs_op_begin(&op->op, site, fn);
	/* Only this task reads it, in its own gets */
	if (op->op.call && dev != hwdev)
		op->op.call->self = dev;

	mutex_lock(&iommu_debug_refs_mutex);
	list_add(&op->node, &iommu_debug_refs_driver_ops);
	mutex_unlock(&iommu_debug_refs_mutex);
}

/* The driver is done binding to or unbinding from @dev, with @err */
static void iommu_debug_refs_driver_end(struct device *dev, int err)
{
	struct iommu_debug_refs_driver_op *d, *found = NULL;

	/* The task's own entry, if any, keeps the list from being empty */
	if (list_empty(&iommu_debug_refs_driver_ops))
		return;
	mutex_lock(&iommu_debug_refs_mutex);
	list_for_each_entry(d, &iommu_debug_refs_driver_ops, node) {
		if (d->dev == dev && d->task == current) {
			list_del(&d->node);
			found = d;
			break;
		}
	}
	mutex_unlock(&iommu_debug_refs_mutex);
	if (!found)
		return;
	/* The accounting is looked up, and used, under the raw spinlock */
	iommu_debug_refs_finish(&found->op, NULL, NULL, found->hwdev, err);
	put_task_struct(found->task);
	kfree(found);
}

static int iommu_debug_refs_notify(struct notifier_block *nb,
				   unsigned long action, void *data)
{
	struct device *dev = data;

	switch (action) {
	case BUS_NOTIFY_DEL_DEVICE:
	case BUS_NOTIFY_REMOVED_DEVICE:
		/*
		 * Also when it is gone: an IOMMU registered on it after
		 * deletion started (by its driver's remove()) must not pin it
		 */
		if (iommu_debug_refs_watched(dev))
			iommu_debug_refs_remove(dev);
		if (action == BUS_NOTIFY_DEL_DEVICE)
			iommu_debug_refs_forget_bound(dev);
		break;
	case BUS_NOTIFY_BIND_DRIVER:
		iommu_debug_refs_driver_begin(dev, IOMMU_DEBUG_REFS_DRIVER_PROBE);
		break;
	case BUS_NOTIFY_UNBIND_DRIVER:
		iommu_debug_refs_driver_begin(dev, IOMMU_DEBUG_REFS_DRIVER_REMOVE);
		break;
	case BUS_NOTIFY_BOUND_DRIVER:
	case BUS_NOTIFY_UNBOUND_DRIVER:
		iommu_debug_refs_driver_end(dev, 0);
		break;
	case BUS_NOTIFY_DRIVER_NOT_BOUND:
		iommu_debug_refs_driver_end(dev, -ENODEV);
		break;
	}
	return NOTIFY_DONE;
}

/* Deletion of the hardware device is seen through its bus's notifier */
static int iommu_debug_refs_watch_bus(const struct bus_type *bus)
{
	struct iommu_debug_refs_bus *b;
	int ret = 0;

	lockdep_assert_not_held(&iommu_debug_refs_mutex);
	mutex_lock(&iommu_debug_refs_bus_mutex);
	list_for_each_entry(b, &iommu_debug_refs_buses, node)
		if (b->bus == bus)
			goto out;

	b = kzalloc_obj(*b);
	if (!b) {
		ret = -ENOMEM;
		goto out;
	}
	b->bus = bus;
	b->nb.notifier_call = iommu_debug_refs_notify;
	ret = bus_register_notifier(bus, &b->nb);
	if (ret) {
		kfree(b);
		goto out;
	}
	/* Never unregistered: buses that IOMMUs sit on are built in */
	list_add(&b->node, &iommu_debug_refs_buses);
out:
	mutex_unlock(&iommu_debug_refs_bus_mutex);
	return ret;
}

/*
 * Reading "settle" returns once the references dropped after an unbind
 * from elsewhere than the driver have been dropped: those of the device
 * links deleted, which are released from a workqueue. Userspace reads it
 * before comparing counters, instead of sleeping.
 */
static int iommu_debug_refs_settle_show(struct seq_file *s, void *unused)
{
	device_link_wait_removal();
	seq_puts(s, "settled\n");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iommu_debug_refs_settle);

static struct dentry *iommu_debug_refs_root(void)
{
	struct dentry *iommu_dir;

	if (iommu_debug_refs_dir)
		return iommu_debug_refs_dir;

	iommu_dir = debugfs_lookup("iommu", NULL);
	if (!iommu_dir)
		iommu_dir = debugfs_create_dir("iommu", NULL);
	else
		dput(iommu_dir);
	if (IS_ERR(iommu_dir))
		return iommu_dir;
	iommu_debug_refs_dir = debugfs_create_dir("refs", iommu_dir);
	if (!IS_ERR(iommu_debug_refs_dir))
		debugfs_create_file("settle", 0444, iommu_debug_refs_dir, NULL,
				    &iommu_debug_refs_settle_fops);
	return iommu_debug_refs_dir;
}

static struct iommu_debug_refs *iommu_debug_refs_create(struct device *hwdev)
{
	struct iommu_debug_refs *refs;
	struct dentry *root;

	lockdep_assert_held(&iommu_debug_refs_mutex);
	refs = kzalloc_obj(*refs);
	if (!refs)
		return NULL;
	/* Taken before the device is watched, so not counted */
	refs->hwdev = get_device(hwdev);

	root = iommu_debug_refs_root();
	if (!IS_ERR(root)) {
		refs->dir = debugfs_create_dir(dev_name(hwdev), root);
		if (!IS_ERR(refs->dir)) {
			debugfs_create_file("counters", 0444, refs->dir, refs,
					    &iommu_debug_refs_fops);
			debugfs_create_file("stacks", 0444, refs->dir, refs,
					    &iommu_debug_refs_stacks_fops);
			debugfs_create_file("companions", 0444, refs->dir,
					    refs, &iommu_debug_refs_companions_fops);
			debugfs_create_file("reprobe", 0200, refs->dir, refs,
					    &iommu_debug_refs_reprobe_fops);
		}
	}

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	list_add_tail_rcu(&refs->node, &iommu_debug_refs_list);
	iommu_debug_refs_watch(&refs->hw_key, refs, hwdev);
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	return refs;
}

/**
 * iommu_debug_refs_register() - Start watching an IOMMU instance
 * @iommu: the instance being registered
 * @hwdev: the device passed to iommu_device_register(), may be NULL
 *
 * Watches @hwdev, or the parent of the instance's sysfs device when @hwdev
 * is NULL, and the parent of the sysfs device (the device the driver is
 * bound to) too when it is a different device. Counters are created on the
 * first registration of @hwdev and kept until @hwdev is deleted.
 */
void iommu_debug_refs_register(struct iommu_device *iommu,
			       struct device *hwdev)
{
	struct device *parent = iommu->dev ? iommu->dev->parent : NULL;
	struct iommu_debug_refs *refs;
	struct device *bound;
	bool created = false;

	if (!hwdev)
		hwdev = parent;
	if (!hwdev)
		return;
	/* Not added, or deleted: no notifier would drop the reference */
	if (!device_is_registered(hwdev)) {
		dev_info(hwdev, "IOMMU references not counted: device not registered\n");
		return;
	}
	/* Before the mutex: see iommu_debug_refs_bus_mutex */
	if (!hwdev->bus || iommu_debug_refs_watch_bus(hwdev->bus)) {
		dev_info(hwdev, "IOMMU references not counted: no bus to watch\n");
		return;
	}
	/*
	 * The bus of the device the driver is bound to, for its binds; not
	 * one a module registered, which could go with the notifier on it
	 */
	if (parent && parent != hwdev &&
	    (!parent->bus || is_module_address((unsigned long)parent->bus) ||
	     iommu_debug_refs_watch_bus(parent->bus)))
		dev_info(hwdev, "IOMMU driver's probe() and remove() not counted: no bus to watch\n");
	/* Without it, references are counted but their stacks are not */
	stack_depot_init();
	/* Also before the mutex, which device deletion takes */
	if (iommu_debug_refs_users_get()) {
		dev_info(hwdev, "IOMMU references not counted: no trace events\n");
		return;
	}

	mutex_lock(&iommu_debug_refs_mutex);
	bound = parent != hwdev ? parent : NULL;
	/* Watch the driver's own device too, unless it is watched already */
	if (parent == hwdev || (parent && iommu_debug_refs_watched(parent)))
		parent = NULL;
	rcu_read_lock();
	refs = iommu_debug_refs_lookup(hwdev);
	rcu_read_unlock();
	if (!refs) {
		refs = iommu_debug_refs_create(hwdev);
		created = refs;
	}
	/* A second instance on the same device is not counted separately */
	if (!refs || refs->hwdev != hwdev || refs->iommu)
		goto out;

	get_device(parent);
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	refs->iommu = iommu;
	refs->parent = parent;
	if (bound)
		WRITE_ONCE(refs->bound, bound);
	refs->registrations++;
	if (parent)
		iommu_debug_refs_watch(&refs->parent_key, refs, parent);
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
out:
	mutex_unlock(&iommu_debug_refs_mutex);
	/* A new device keeps the probes until it is deleted */
	if (!created)
		iommu_debug_refs_users_put();
}

/**
 * iommu_debug_refs_unregister() - Stop counting calls for an IOMMU instance
 * @iommu: the instance being unregistered
 *
 * The counters of its hardware device stay, so that the next registration
 * continues them.
 */
void iommu_debug_refs_unregister(struct iommu_device *iommu)
{
	struct iommu_debug_refs *refs;
	struct device *parent = NULL;

	mutex_lock(&iommu_debug_refs_mutex);
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	refs = iommu_debug_refs_find(iommu, NULL);
	if (refs) {
		parent = refs->parent;
		if (parent)
			hash_del_rcu(&refs->parent_key.node);
		refs->parent = NULL;
		refs->iommu = NULL;
	}
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	/* The next registration may add parent_key again: no reader left */
	if (parent)
		synchronize_rcu();
	mutex_unlock(&iommu_debug_refs_mutex);
	/* No longer watched, so not counted */
	put_device(parent);
}

#ifdef CONFIG_IOMMU_DEBUG_REFS_KUNIT_TEST
#include "iommu-debug-refs-kunit.c"
#endif
