// SPDX-License-Identifier: GPL-2.0-only
/*
 * IOMMU device reference accounting (CONFIG_IOMMU_DEBUG_REFS)
 *
 * IOMMU drivers look up their own device in of_xlate() and probe_device()
 * and must drop the reference the lookup returns. This counts, per IOMMU
 * hardware device, the references taken and dropped on it by each of those
 * driver callbacks, without any change to the drivers, and shows the counts
 * in debugfs. See Documentation/iommu/debug-refs.rst.
 *
 * References are seen through the driver core's device_get and device_put
 * trace events, whose probes are attached only while a device is watched.
 * The probes run with preemption disabled, so everything they touch is
 * protected by a raw spinlock.
 *
 * A reference a callback takes and has not dropped when it returns is
 * kept: its stack, recorded by the probe, is saved in the stack depot when
 * the callback returns and counted per call site ("stacks" in debugfs).
 * Which get a put undoes is not known, so a put inside the callback undoes
 * the newest get of the same device, and a reference kept on purpose (until
 * release_device(), or by a device link) counts as kept too: a leak is a
 * site whose kept count grows with every bind cycle.
 */

#define pr_fmt(fmt) "iommu-debug-refs: " fmt

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/hashtable.h>
#include <linux/iommu.h>
#include <linux/kallsyms.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
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
#include <linux/workqueue.h>
#include <trace/events/device.h>

#include "iommu-debug-refs.h"

#define IOMMU_DEBUG_REFS_FN_LEN	96
/* References one callback can keep with their stacks; more are counted */
#define IOMMU_DEBUG_REFS_CALL_REFS	8
#define IOMMU_DEBUG_REFS_STACK_DEPTH	16
/* Call sites recorded per IOMMU device; more are counted */
#define IOMMU_DEBUG_REFS_SITES_MAX	32

static const char * const iommu_debug_refs_site_names[] = {
	[IOMMU_DEBUG_REFS_OF_XLATE] = "of_xlate",
	[IOMMU_DEBUG_REFS_PROBE_DEVICE] = "probe_device",
	[IOMMU_DEBUG_REFS_RELEASE_DEVICE] = "release_device",
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
	u64 count;
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
	u64 registrations;
	u64 other_taken;
	u64 other_dropped;
	struct iommu_debug_refs_stats site[IOMMU_DEBUG_REFS_NR_SITES];
	unsigned int nr_kept;
	u64 kept_unrecorded;	/* kept, stack not recorded */
	struct iommu_debug_refs_kept kept[IOMMU_DEBUG_REFS_SITES_MAX];
};

/*
 * A driver callback in progress, on iommu_debug_refs_calls from
 * iommu_debug_refs_op_begin() to iommu_debug_refs_op_end(). Allocated, not
 * on the caller's stack, so that a callback that oopses leaves no pointer
 * to a dead stack: the entry stays, naming a task that exited, and is
 * freed by the next iommu_debug_refs_op_begin().
 */
struct iommu_debug_refs_call {
	struct list_head node;
	struct task_struct *task;	/* holds a reference */
	enum iommu_debug_refs_site site;
	unsigned long taken;
	unsigned long dropped;
	/*
	 * The references taken and not dropped yet, newest last, written
	 * only by the task itself: the watched device (compared, never
	 * dereferenced) and the stack from the caller of get_device()
	 */
	unsigned int nr_refs;
	unsigned long unrecorded;	/* taken beyond refs[], not dropped */
	struct {
		struct device *dev;
		unsigned int nr_entries;
		unsigned long entries[IOMMU_DEBUG_REFS_STACK_DEPTH];
	} refs[IOMMU_DEBUG_REFS_CALL_REFS];
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
static struct dentry *iommu_debug_refs_dir;

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
 * A reference taken on @dev by the callback @call: record the stack from
 * @caller, the caller of get_device(), outwards.
 */
static void iommu_debug_refs_call_get(struct iommu_debug_refs_call *call,
				      struct device *dev, unsigned long caller)
{
	unsigned long *entries;
	unsigned int i, n;

	unsigned long trace[IOMMU_DEBUG_REFS_STACK_DEPTH + 8];

	if (call->nr_refs == IOMMU_DEBUG_REFS_CALL_REFS) {
		call->unrecorded++;
		return;
	}
	n = stack_trace_save(trace, ARRAY_SIZE(trace), 0);
	/* Without the frames of the probe and of the trace event */
	for (i = 0; i < n && trace[i] != caller; i++)
		;
	if (i == n)
		i = 0;
	n = min_t(unsigned int, n - i, IOMMU_DEBUG_REFS_STACK_DEPTH);
	entries = call->refs[call->nr_refs].entries;
	memcpy(entries, trace + i, n * sizeof(*entries));
	call->refs[call->nr_refs].dev = dev;
	call->refs[call->nr_refs].nr_entries = n;
	call->nr_refs++;
}

/* A reference dropped on @dev by @call: it undoes the newest get of @dev */
static void iommu_debug_refs_call_put(struct iommu_debug_refs_call *call,
				      struct device *dev)
{
	int i;

	if (call->unrecorded) {
		call->unrecorded--;
		return;
	}
	for (i = (int)call->nr_refs - 1; i >= 0; i--) {
		if (call->refs[i].dev != dev)
			continue;
		memmove(&call->refs[i], &call->refs[i + 1],
			(call->nr_refs - i - 1) * sizeof(call->refs[0]));
		call->nr_refs--;
		return;
	}
}

/*
 * Account a reference taken or dropped on @dev if it is watched: to the
 * driver callback that the current task is running, if any, and to "other"
 * otherwise (another task, interrupt context, or no callback in progress).
 */
static void iommu_debug_refs_count(struct device *dev, bool get,
				   unsigned long caller)
{
	struct iommu_debug_refs_call *call, *cur = NULL;
	struct iommu_debug_refs *refs;
	unsigned long flags;

	rcu_read_lock();
	refs = iommu_debug_refs_lookup(dev);
	if (!refs)
		goto out;

	raw_spin_lock_irqsave(&iommu_debug_refs_lock, flags);
	if (in_task()) {
		/* Newest first: a nested callback wins */
		list_for_each_entry(call, &iommu_debug_refs_calls, node) {
			if (call->task == current) {
				cur = call;
				break;
			}
		}
	}
	if (cur && get) {
		refs->site[cur->site].taken++;
		cur->taken++;
	} else if (cur) {
		refs->site[cur->site].dropped++;
		cur->dropped++;
	} else if (get) {
		refs->other_taken++;
	} else {
		refs->other_dropped++;
	}
	raw_spin_unlock_irqrestore(&iommu_debug_refs_lock, flags);
	/* Only this task writes its call's references */
	if (cur && get)
		iommu_debug_refs_call_get(cur, dev, caller);
	else if (cur)
		iommu_debug_refs_call_put(cur, dev);
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

static void iommu_debug_refs_call_free(struct iommu_debug_refs_call *call)
{
	put_task_struct(call->task);
	kfree(call);
}

/**
 * iommu_debug_refs_op_begin() - Start accounting a driver callback
 * @op: accounting state, on the caller's stack
 * @site: which callback is about to be called
 * @fn: the driver function about to be called
 *
 * From now until iommu_debug_refs_op_end(), references the current task
 * takes or drops on any watched IOMMU device count for @site. Must be
 * called where the caller may sleep. Without memory, the call is counted
 * but its references count as "other".
 */
void iommu_debug_refs_op_begin(struct iommu_debug_refs_op *op,
			       enum iommu_debug_refs_site site, const void *fn)
{
	struct iommu_debug_refs_call *call, *tmp;
	LIST_HEAD(dead);

	op->site = site;
	op->fn = fn;
	op->call = kzalloc_obj(*op->call);
	if (op->call) {
		op->call->task = get_task_struct(current);
		op->call->site = site;
	}

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	/* Callbacks whose task exited without returning (an oops) */
	list_for_each_entry_safe(call, tmp, &iommu_debug_refs_calls, node)
		if (READ_ONCE(call->task->exit_state))
			list_move(&call->node, &dead);
	if (op->call)
		list_add(&op->call->node, &iommu_debug_refs_calls);
	raw_spin_unlock_irq(&iommu_debug_refs_lock);

	list_for_each_entry_safe(call, tmp, &dead, node) {
		pr_warn("%s callback of task %d did not return\n",
			iommu_debug_refs_site_names[call->site],
			task_pid_nr(call->task));
		iommu_debug_refs_call_free(call);
	}
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

/* Count the references @call kept, with their stacks saved in @stacks */
static void iommu_debug_refs_keep(struct iommu_debug_refs_call *call,
				  const depot_stack_handle_t *stacks)
{
	struct iommu_debug_refs_kept *kept;
	struct iommu_debug_refs *refs;
	unsigned int i, j;

	lockdep_assert_held(&iommu_debug_refs_lock);
	for (i = 0; i < call->nr_refs; i++) {
		/* Still watched? The device may be gone: not dereferenced */
		refs = iommu_debug_refs_lookup(call->refs[i].dev);
		if (!refs)
			continue;
		for (j = 0; j < refs->nr_kept; j++) {
			kept = &refs->kept[j];
			if (kept->stack == stacks[i] && kept->site == call->site)
				break;
		}
		if (j == refs->nr_kept) {
			if (!stacks[i] || j == IOMMU_DEBUG_REFS_SITES_MAX) {
				refs->kept_unrecorded++;
				continue;
			}
			kept = &refs->kept[refs->nr_kept++];
			kept->stack = stacks[i];
			kept->site = call->site;
		}
		kept->count++;
	}
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
 * error leaks.
 */
void iommu_debug_refs_op_end(struct iommu_debug_refs_op *op,
			     const struct iommu_device *iommu,
			     const struct fwnode_handle *fwnode, int err)
{
	struct iommu_debug_refs_call *call = op->call;
	depot_stack_handle_t stacks[IOMMU_DEBUG_REFS_CALL_REFS];
	struct iommu_debug_refs_stats *stats;
	struct iommu_debug_refs *refs;
	char fn_name[IOMMU_DEBUG_REFS_FN_LEN];
	unsigned int i;

	/* Named and saved here, not under the raw spinlock */
	snprintf(fn_name, sizeof(fn_name), "%ps", op->fn);
	for (i = 0; call && i < call->nr_refs; i++)
		stacks[i] = stack_depot_save(call->refs[i].entries,
					     call->refs[i].nr_entries,
					     GFP_KERNEL);
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	if (call) {
		list_del(&call->node);
		iommu_debug_refs_keep(call, stacks);
	}
	refs = iommu_debug_refs_find(iommu, fwnode);
	if (refs) {
		stats = &refs->site[op->site];
		stats->calls++;
		if (err)
			stats->errors++;
		if (err && call && call->taken > call->dropped)
			stats->error_leaks += call->taken - call->dropped;
		if (call)
			refs->kept_unrecorded += call->unrecorded;
		if (stats->fn != op->fn) {
			stats->fn = op->fn;
			strscpy(stats->fn_name, fn_name);
		}
	}
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	if (call)
		iommu_debug_refs_call_free(call);
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

		seq_printf(s, "%s.fn %s\n", name,
			   site[i].fn ? site[i].fn_name : "-");
		seq_printf(s, "%s.calls %llu\n", name, site[i].calls);
		seq_printf(s, "%s.errors %llu\n", name, site[i].errors);
		seq_printf(s, "%s.taken %llu\n", name, site[i].taken);
		seq_printf(s, "%s.dropped %llu\n", name, site[i].dropped);
		seq_printf(s, "%s.error_leaks %llu\n", name,
			   site[i].error_leaks);
	}
	seq_printf(s, "other.taken %llu\n", other_taken);
	seq_printf(s, "other.dropped %llu\n", other_dropped);
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
	struct iommu_debug_refs_kept *kept;
	unsigned int i, nr;
	u64 unrecorded;
	char *buf;

	kept = kmalloc_array(IOMMU_DEBUG_REFS_SITES_MAX, sizeof(*kept),
			     GFP_KERNEL);
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!kept || !buf) {
		kfree(kept);
		kfree(buf);
		return -ENOMEM;
	}
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	nr = refs->nr_kept;
	memcpy(kept, refs->kept, nr * sizeof(*kept));
	unrecorded = refs->kept_unrecorded;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);

	sort(kept, nr, sizeof(*kept), iommu_debug_refs_kept_cmp, NULL);
	for (i = 0; i < nr; i++) {
		buf[0] = '\0';
		stack_depot_snprint(kept[i].stack, buf, PAGE_SIZE, 4);
		seq_printf(s, "%s: %llu references kept, taken at:\n%s\n",
			   iommu_debug_refs_site_names[kept[i].site],
			   kept[i].count, buf);
	}
	if (unrecorded)
		seq_printf(s, "unrecorded: %llu references kept\n", unrecorded);
	kfree(buf);
	kfree(kept);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(iommu_debug_refs_stacks);

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
	list_del(&refs->node);
	hash_del_rcu(&refs->hw_key.node);
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

static int iommu_debug_refs_notify(struct notifier_block *nb,
				   unsigned long action, void *data)
{
	struct device *dev = data;

	/*
	 * Also when it is gone: an IOMMU registered on it after deletion
	 * started (by its driver's remove()) must not pin it
	 */
	if ((action == BUS_NOTIFY_DEL_DEVICE ||
	     action == BUS_NOTIFY_REMOVED_DEVICE) &&
	    iommu_debug_refs_watched(dev))
		iommu_debug_refs_remove(dev);
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
 * from elsewhere than the driver have been dropped: device links are
 * released from a workqueue. Userspace reads it before comparing counters,
 * instead of sleeping.
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
			debugfs_create_file("reprobe", 0200, refs->dir, refs,
					    &iommu_debug_refs_reprobe_fops);
		}
	}

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	list_add_tail(&refs->node, &iommu_debug_refs_list);
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
	/* Without it, references are counted but their stacks are not */
	stack_depot_init();
	/* Also before the mutex, which device deletion takes */
	if (iommu_debug_refs_users_get()) {
		dev_info(hwdev, "IOMMU references not counted: no trace events\n");
		return;
	}

	mutex_lock(&iommu_debug_refs_mutex);
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
