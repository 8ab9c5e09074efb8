// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the IOMMU device reference accounting. Included by
 * iommu-debug-refs.c to reach its internals.
 */

#include <kunit/device.h>
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/kallsyms.h>
#include <linux/kthread.h>
#include <linux/math64.h>
#include <linux/platform_device.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>

struct iommu_debug_refs_test {
	struct device *hwdev;
	struct iommu_device *iommu;
	struct work_struct work;
};

static struct iommu_debug_refs *iommu_debug_refs_test_get(struct device *dev)
{
	struct iommu_debug_refs *refs;

	rcu_read_lock();
	refs = iommu_debug_refs_lookup(dev);
	rcu_read_unlock();
	return refs;
}

static void iommu_debug_refs_test_stats(struct iommu_debug_refs *refs,
					enum iommu_debug_refs_site site,
					struct iommu_debug_refs_stats *stats)
{
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	*stats = refs->site[site];
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
}

static int iommu_debug_refs_test_init(struct kunit *test)
{
	struct iommu_debug_refs_test *t;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	t->iommu = kunit_kzalloc(test, sizeof(*t->iommu), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t->iommu);
	/*
	 * Named after the test: the name is also the name of a driver, whose
	 * sysfs directory may outlive the test (DEBUG_KOBJECT_RELEASE)
	 */
	t->hwdev = kunit_device_register(test, test->name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, t->hwdev);
	test->priv = t;

	iommu_debug_refs_register(t->iommu, t->hwdev);
	KUNIT_ASSERT_NOT_NULL(test, iommu_debug_refs_test_get(t->hwdev));
	return 0;
}

static void iommu_debug_refs_test_exit(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;

	/* (init failed before registering) */
	if (t)
		iommu_debug_refs_unregister(t->iommu);
}

/* References taken and dropped by the callback count for its site */
static void iommu_debug_refs_test_op(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_stats stats;
	struct iommu_debug_refs_op op;
	unsigned int before = kref_read(&t->hwdev->kobj.kref);

	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_PROBE_DEVICE,
				  iommu_debug_refs_test_op);
	get_device(t->hwdev);
	get_device(t->hwdev);
	put_device(t->hwdev);
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);

	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_PROBE_DEVICE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 1);
	KUNIT_EXPECT_EQ(test, stats.errors, 0);
	KUNIT_EXPECT_EQ(test, stats.taken, 2);
	KUNIT_EXPECT_EQ(test, stats.dropped, 1);
	KUNIT_EXPECT_STREQ(test, stats.fn_name, "iommu_debug_refs_test_op");
	KUNIT_EXPECT_EQ(test, kref_read(&t->hwdev->kobj.kref), before + 1);

	/* The other sites saw nothing */
	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_OF_XLATE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls + stats.taken + stats.dropped, 0);
	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_RELEASE_DEVICE,
				    &stats);
	KUNIT_EXPECT_EQ(test, stats.calls + stats.taken + stats.dropped, 0);

	/* Outside any callback: "other" */
	put_device(t->hwdev);
	KUNIT_EXPECT_EQ(test, refs->other_dropped, 1);
	KUNIT_EXPECT_EQ(test, refs->other_taken, 0);
	KUNIT_EXPECT_EQ(test, kref_read(&t->hwdev->kobj.kref), before);
}

static void iommu_debug_refs_test_work(struct work_struct *work)
{
	struct iommu_debug_refs_test *t =
		container_of(work, struct iommu_debug_refs_test, work);

	get_device(t->hwdev);
	put_device(t->hwdev);
}

/* Another task working on the device during the callback is not counted */
static void iommu_debug_refs_test_other_task(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_stats stats;
	struct iommu_debug_refs_op op;

	INIT_WORK_ONSTACK(&t->work, iommu_debug_refs_test_work);
	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_RELEASE_DEVICE,
				  iommu_debug_refs_test_other_task);
	schedule_work(&t->work);
	flush_work(&t->work);
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);
	destroy_work_on_stack(&t->work);

	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_RELEASE_DEVICE,
				    &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 1);
	KUNIT_EXPECT_EQ(test, stats.taken, 0);
	KUNIT_EXPECT_EQ(test, stats.dropped, 0);
	KUNIT_EXPECT_EQ(test, refs->other_taken, 1);
	KUNIT_EXPECT_EQ(test, refs->other_dropped, 1);
}

/* Devices that are not watched are not counted and cost nothing */
static void iommu_debug_refs_test_unwatched(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_stats stats;
	struct iommu_debug_refs_op op;
	struct device *other;

	other = kunit_device_register(test, "iommu-debug-refs-other");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);
	KUNIT_EXPECT_NULL(test, iommu_debug_refs_test_get(other));

	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_OF_XLATE,
				  iommu_debug_refs_test_unwatched);
	get_device(other);
	put_device(other);
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);

	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_OF_XLATE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 1);
	KUNIT_EXPECT_EQ(test, stats.taken, 0);
	KUNIT_EXPECT_EQ(test, stats.dropped, 0);
	/* Dropped in the call: not a companion */
	KUNIT_EXPECT_EQ(test, refs->nr_comp, 0);
}

/* Not a tail call: the stack must show this function */
static noinline void iommu_debug_refs_test_take(struct device *dev)
{
	get_device(dev);
	barrier();
}

/*
 * Kept on another device: a companion, held (and its gets and puts by
 * anyone counted) until as many references are dropped
 */
static void iommu_debug_refs_test_companion(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_companion comp;
	struct iommu_debug_refs_op op;
	struct device *other;

	other = kunit_device_register(test, "iommu-debug-refs-companion");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);

	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_PROBE_DEVICE,
				  iommu_debug_refs_test_companion);
	iommu_debug_refs_test_take(other);
	get_device(other);
	put_device(other);
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);

	KUNIT_ASSERT_EQ(test, refs->nr_comp, 1);
	comp = refs->comp[0];
	/* Named "<test>.<name>", within the length kept */
	KUNIT_EXPECT_EQ(test, strncmp(comp.name, dev_name(other),
				      sizeof(comp.name) - 1), 0);
	KUNIT_EXPECT_PTR_EQ(test, comp.dev, other);
	KUNIT_EXPECT_EQ(test, comp.kept, 1);
	KUNIT_EXPECT_GT(test, atomic_read(&iommu_debug_refs_comps_held), 0);
	/* With its stack if iommu_debug_refs_test_take() kept one before */
	KUNIT_EXPECT_EQ(test, refs->nr_kept + refs->kept_unrecorded, 1);

	/* Outside a callback, while held: taken and dropped */
	get_device(other);
	put_device(other);
	KUNIT_EXPECT_EQ(test, refs->comp[0].taken, 1);
	KUNIT_EXPECT_EQ(test, refs->comp[0].dropped, 1);
	KUNIT_EXPECT_PTR_EQ(test, refs->comp[0].dev, other);

	/* Dropped by another callback: no longer held, nor watched */
	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_RELEASE_DEVICE,
				  iommu_debug_refs_test_companion);
	put_device(other);
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);
	KUNIT_EXPECT_EQ(test, refs->comp[0].dropped, 2);
	KUNIT_EXPECT_NULL(test, refs->comp[0].dev);

	/* Not held: not counted */
	get_device(other);
	put_device(other);
	KUNIT_EXPECT_EQ(test, refs->comp[0].taken, 1);

	/* Kept again: the same entry, and now with its stack */
	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_PROBE_DEVICE,
				  iommu_debug_refs_test_companion);
	iommu_debug_refs_test_take(other);
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);
	KUNIT_EXPECT_EQ(test, refs->nr_comp, 1);
	KUNIT_EXPECT_EQ(test, refs->comp[0].kept, 2);
	KUNIT_ASSERT_GT(test, refs->nr_kept, 0);
	KUNIT_EXPECT_EQ(test, refs->kept[refs->nr_kept - 1].comp, 0);
	KUNIT_EXPECT_EQ(test, refs->kept[refs->nr_kept - 1].site,
			IOMMU_DEBUG_REFS_PROBE_DEVICE);
	put_device(other);
	KUNIT_EXPECT_NULL(test, refs->comp[0].dev);
}

/* Errors count; a call for an unknown instance counts nowhere */
static void iommu_debug_refs_test_errors(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	static struct fwnode_handle fwnode, unknown;
	struct iommu_debug_refs_stats stats;
	struct iommu_debug_refs_op op;

	t->iommu->fwnode = &fwnode;
	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_OF_XLATE,
				  iommu_debug_refs_test_errors);
	get_device(t->hwdev);
	iommu_debug_refs_op_end(&op, NULL, &fwnode, -ENODEV);

	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_OF_XLATE,
				  iommu_debug_refs_test_errors);
	put_device(t->hwdev);
	iommu_debug_refs_op_end(&op, NULL, &unknown, 0);

	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_OF_XLATE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 1);
	KUNIT_EXPECT_EQ(test, stats.errors, 1);
	/* The failed call kept the reference it took */
	KUNIT_EXPECT_EQ(test, stats.error_leaks, 1);
	/* References are counted on the device, whoever the call was for */
	KUNIT_EXPECT_EQ(test, stats.taken, 1);
	KUNIT_EXPECT_EQ(test, stats.dropped, 1);
}

/* Counters survive unregistration and continue on the next registration */
static void iommu_debug_refs_test_rebind(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_stats stats;
	struct iommu_debug_refs_op op;
	int i;

	for (i = 0; i < 3; i++) {
		iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_PROBE_DEVICE,
					  iommu_debug_refs_test_rebind);
		get_device(t->hwdev);
		iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);
		iommu_debug_refs_unregister(t->iommu);
		KUNIT_EXPECT_PTR_EQ(test, iommu_debug_refs_test_get(t->hwdev),
				    refs);
		KUNIT_EXPECT_NULL(test, refs->iommu);
		iommu_debug_refs_register(t->iommu, t->hwdev);
	}

	KUNIT_EXPECT_EQ(test, refs->registrations, 4);
	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_PROBE_DEVICE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 3);
	KUNIT_EXPECT_EQ(test, stats.taken, 3);
	for (i = 0; i < 3; i++)
		put_device(t->hwdev);
	KUNIT_EXPECT_EQ(test, refs->other_dropped, 3);
}

/* Deleting the device removes its counters and its debugfs directory */
static void iommu_debug_refs_test_delete(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs;
	bool found = false;

	iommu_debug_refs_unregister(t->iommu);
	kunit_device_unregister(test, t->hwdev);

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	list_for_each_entry(refs, &iommu_debug_refs_list, node)
		if (refs->hwdev == t->hwdev)
			found = true;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	KUNIT_EXPECT_FALSE(test, found);
}

static int iommu_debug_refs_test_abandon_fn(void *data)
{
	struct iommu_debug_refs_op op;

	/* As a callback that oopses: its task exits before op_end() */
	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_OF_XLATE, data);
	return 0;
}

static bool iommu_debug_refs_test_has_call(struct task_struct *task)
{
	struct iommu_debug_refs_call *call;
	bool found = false;

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	list_for_each_entry(call, &iommu_debug_refs_calls, node)
		if (call->task == task)
			found = true;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	return found;
}

/*
 * A callback whose task exits without returning leaves an entry naming a
 * dead task, which the next callback frees; nothing points to its stack.
 */
static void iommu_debug_refs_test_abandoned(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_op op;
	struct task_struct *task;
	int i;

	task = kthread_create(iommu_debug_refs_test_abandon_fn,
			      iommu_debug_refs_test_abandoned,
			      "iommu-refs-test");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, task);
	get_task_struct(task);
	wake_up_process(task);
	for (i = 0; i < 250 && !READ_ONCE(task->exit_state); i++)
		msleep(20);
	KUNIT_ASSERT_NE(test, READ_ONCE(task->exit_state), 0);

	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_OF_XLATE,
				  iommu_debug_refs_test_abandoned);
	KUNIT_EXPECT_FALSE(test, iommu_debug_refs_test_has_call(task));
	/* The live call is found and counts */
	get_device(t->hwdev);
	put_device(t->hwdev);
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);
	KUNIT_EXPECT_EQ(test, refs->site[IOMMU_DEBUG_REFS_OF_XLATE].taken, 1);
	KUNIT_EXPECT_FALSE(test, iommu_debug_refs_test_has_call(current));
	put_task_struct(task);
}

/*
 * The driver's probe() and remove() as callbacks: one each, even when the
 * driver core notifies binding twice; companions kept in one, dropped in
 * the other
 */
static void iommu_debug_refs_test_driver_op(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_stats stats;
	struct device *other;

	other = kunit_device_register(test, "iommu-debug-refs-drv");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);

	iommu_debug_refs_driver_begin(t->hwdev, IOMMU_DEBUG_REFS_DRIVER_PROBE);
	iommu_debug_refs_driver_begin(t->hwdev, IOMMU_DEBUG_REFS_DRIVER_PROBE);
	get_device(t->hwdev);
	get_device(other);
	iommu_debug_refs_driver_end(t->hwdev, 0);
	KUNIT_EXPECT_FALSE(test, iommu_debug_refs_test_has_call(current));
	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_DRIVER_PROBE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 1);
	KUNIT_EXPECT_EQ(test, stats.taken, 1);
	KUNIT_ASSERT_EQ(test, refs->nr_comp, 1);
	KUNIT_EXPECT_EQ(test, refs->comp[0].kept, 1);
	KUNIT_EXPECT_PTR_EQ(test, refs->comp[0].dev, other);

	/* Not a watched device: no callback */
	iommu_debug_refs_driver_begin(other, IOMMU_DEBUG_REFS_DRIVER_REMOVE);
	KUNIT_EXPECT_FALSE(test, iommu_debug_refs_test_has_call(current));

	iommu_debug_refs_driver_begin(t->hwdev, IOMMU_DEBUG_REFS_DRIVER_REMOVE);
	put_device(other);
	put_device(t->hwdev);
	iommu_debug_refs_driver_end(t->hwdev, 0);
	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_DRIVER_REMOVE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 1);
	KUNIT_EXPECT_EQ(test, stats.dropped, 1);
	KUNIT_EXPECT_EQ(test, refs->comp[0].dropped, 1);
	KUNIT_EXPECT_NULL(test, refs->comp[0].dev);

	/* The device the IOMMU's driver binds to, when not the hardware one */
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	refs->bound = other;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	iommu_debug_refs_driver_begin(other, IOMMU_DEBUG_REFS_DRIVER_PROBE);
	KUNIT_EXPECT_TRUE(test, iommu_debug_refs_test_has_call(current));
	get_device(t->hwdev);
	put_device(t->hwdev);
	/* On the device being bound: not a companion */
	get_device(other);
	iommu_debug_refs_driver_end(other, 0);
	put_device(other);
	KUNIT_EXPECT_FALSE(test, iommu_debug_refs_test_has_call(current));
	KUNIT_EXPECT_NULL(test, refs->comp[0].dev);
	KUNIT_EXPECT_EQ(test, refs->comp[0].kept, 1);
	iommu_debug_refs_test_stats(refs, IOMMU_DEBUG_REFS_DRIVER_PROBE, &stats);
	KUNIT_EXPECT_EQ(test, stats.calls, 2);
	KUNIT_EXPECT_EQ(test, stats.taken, 2);
	KUNIT_EXPECT_EQ(test, stats.dropped, 1);
	/* Deleted: forgotten */
	iommu_debug_refs_forget_bound(other);
	KUNIT_EXPECT_NULL(test, refs->bound);
	iommu_debug_refs_driver_begin(other, IOMMU_DEBUG_REFS_DRIVER_REMOVE);
	KUNIT_EXPECT_FALSE(test, iommu_debug_refs_test_has_call(current));
}

/*
 * Reading "settle" returns once a device link deleted before has dropped
 * its reference to its supplier (its release is delayed by up to 4 s with
 * CONFIG_DEBUG_KOBJECT_RELEASE), and says so
 */
static void iommu_debug_refs_test_settle(struct kunit *test)
{
	struct device *sup, *con;
	struct device_link *link;
	struct seq_file s = {};
	unsigned int before;
	char buf[16] = {};

	sup = kunit_device_register(test, "iommu-debug-refs-supplier");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sup);
	con = kunit_device_register(test, "iommu-debug-refs-consumer");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, con);
	before = kref_read(&sup->kobj.kref);
	link = device_link_add(con, sup, DL_FLAG_STATELESS);
	KUNIT_ASSERT_NOT_NULL(test, link);
	KUNIT_EXPECT_GT(test, kref_read(&sup->kobj.kref), before);
	device_link_del(link);

	s.buf = buf;
	s.size = sizeof(buf);
	KUNIT_EXPECT_EQ(test, iommu_debug_refs_settle_show(&s, NULL), 0);
	KUNIT_EXPECT_STREQ(test, buf, "settled\n");
	KUNIT_EXPECT_EQ(test, kref_read(&sup->kobj.kref), before);
}

/*
 * A device that a callback registers is not a companion: its registration
 * keeps references on it (the driver core's lists) until it is deleted
 */
static void iommu_debug_refs_test_registered(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_op op;
	struct device *dev;
	unsigned int i;

	iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_DRIVER_PROBE,
				  iommu_debug_refs_test_registered);
	dev = kunit_device_register(test, "iommu-debug-refs-registered");
	iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	/* Its registration holds references the call took */
	KUNIT_EXPECT_GT(test, kref_read(&dev->kobj.kref), 1);
	for (i = 0; i < refs->nr_comp; i++)
		KUNIT_EXPECT_PTR_NE(test, refs->comp[i].dev, dev);
}

/* The probes are attached while a device is watched */
static void iommu_debug_refs_test_probes(struct kunit *test)
{
	KUNIT_EXPECT_GT(test, atomic_read(&iommu_debug_refs_users), 0);
	mutex_lock(&iommu_debug_refs_probe_mutex);
	KUNIT_EXPECT_TRUE(test, iommu_debug_refs_probes_on);
	mutex_unlock(&iommu_debug_refs_probe_mutex);
}

static noinline void iommu_debug_refs_test_take_drop(struct device *dev)
{
	get_device(dev);
	barrier();
	put_device(dev);
	barrier();
}

/*
 * Kept only here, so that its first reference has no stack; not folded
 * with iommu_debug_refs_test_take() (another type)
 */
static noinline struct device *iommu_debug_refs_test_keep(struct device *dev)
{
	dev = get_device(dev);
	barrier();
	return dev;
}

/*
 * A reference kept by a callback is counted at the stack of its get, from
 * the caller of get_device(), once that caller kept one before (the first
 * is counted without); one taken and dropped in the call is not.
 */
static void iommu_debug_refs_test_stacks(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	struct iommu_debug_refs_kept kept;
	struct iommu_debug_refs_op op;
	unsigned long *entries;
	unsigned int nr, nr_entries;
	char name[KSYM_SYMBOL_LEN];
	u64 unrecorded;
	int i;

	/* Its caller not known yet, also when the suite runs again */
	raw_spin_lock_irq(&iommu_debug_refs_lock);
	memset(iommu_debug_refs_callers[IOMMU_DEBUG_REFS_OF_XLATE], 0,
	       sizeof(iommu_debug_refs_callers[0]));
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	for (i = 0; i < 3; i++) {
		iommu_debug_refs_op_begin(&op, IOMMU_DEBUG_REFS_OF_XLATE,
					  iommu_debug_refs_test_stacks);
		KUNIT_EXPECT_PTR_EQ(test, iommu_debug_refs_test_keep(t->hwdev),
				    t->hwdev);
		iommu_debug_refs_test_take_drop(t->hwdev);
		iommu_debug_refs_op_end(&op, t->iommu, NULL, 0);
	}

	raw_spin_lock_irq(&iommu_debug_refs_lock);
	nr = refs->nr_kept;
	kept = refs->kept[0];
	unrecorded = refs->kept_unrecorded;
	raw_spin_unlock_irq(&iommu_debug_refs_lock);
	for (i = 0; i < 3; i++)
		put_device(t->hwdev);

	KUNIT_ASSERT_EQ(test, nr, 1);
	KUNIT_EXPECT_EQ(test, unrecorded, 1);
	KUNIT_EXPECT_EQ(test, kept.count, 2);
	KUNIT_EXPECT_EQ(test, kept.site, IOMMU_DEBUG_REFS_OF_XLATE);
	nr_entries = stack_depot_fetch(kept.stack, &entries);
	KUNIT_ASSERT_GT(test, nr_entries, 1);
	if (!IS_ENABLED(CONFIG_KALLSYMS))
		kunit_skip(test, "no KALLSYMS to name the frames");
	/* The innermost frame is the get, the next its callback */
	snprintf(name, sizeof(name), "%ps", (void *)entries[0]);
	KUNIT_EXPECT_STREQ(test, name, "iommu_debug_refs_test_keep");
	snprintf(name, sizeof(name), "%ps", (void *)entries[1]);
	KUNIT_EXPECT_STREQ(test, name, "iommu_debug_refs_test_stacks");
}

/* Reprobing refuses a device that does not exist or is not a client */
static void iommu_debug_refs_test_reprobe(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct platform_device *pdev;

	KUNIT_EXPECT_EQ(test, iommu_debug_refs_reprobe(t->iommu, t->hwdev,
						       test->name),
			-ENODEV);
	pdev = platform_device_register_simple(test->name, PLATFORM_DEVID_NONE,
					       NULL, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pdev);
	KUNIT_EXPECT_EQ(test, iommu_debug_refs_reprobe(t->iommu, t->hwdev,
						       dev_name(&pdev->dev)),
			-EINVAL);
	/* Nor the locked device or a device above it */
	KUNIT_EXPECT_EQ(test, iommu_debug_refs_reprobe(t->iommu, &pdev->dev,
						       dev_name(&pdev->dev)),
			-EINVAL);
	platform_device_unregister(pdev);
}

/* A device already deleted is not watched: nothing would let it go */
static void iommu_debug_refs_test_deleted(struct kunit *test)
{
	struct iommu_device *iommu;
	struct device *dev;
	unsigned int before;

	iommu = kunit_kzalloc(test, sizeof(*iommu), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, iommu);
	dev = kunit_device_register(test, "iommu-refs-deleted");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	get_device(dev);
	kunit_device_unregister(test, dev);
	before = kref_read(&dev->kobj.kref);

	iommu_debug_refs_register(iommu, dev);
	KUNIT_EXPECT_NULL(test, iommu_debug_refs_test_get(dev));
	KUNIT_EXPECT_EQ(test, kref_read(&dev->kobj.kref), before);
	iommu_debug_refs_unregister(iommu);
	put_device(dev);
}

/*
 * What a get_device()/put_device() pair costs on a watched device and on
 * one that is not, outside callbacks, printed; every get and put of the
 * watched one is counted, as "other", and the other device is not a
 * companion.
 */
static void iommu_debug_refs_test_cost(struct kunit *test)
{
	struct iommu_debug_refs_test *t = test->priv;
	struct iommu_debug_refs *refs = iommu_debug_refs_test_get(t->hwdev);
	const unsigned int pairs = 10000;
	u64 taken, dropped, ns[2];
	struct device *dev[2];
	unsigned int i, j;

	dev[0] = t->hwdev;
	dev[1] = kunit_device_register(test, "iommu-debug-refs-cost");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev[1]);
	taken = refs->other_taken;
	dropped = refs->other_dropped;
	for (j = 0; j < 2; j++) {
		ns[j] = ktime_get_ns();
		for (i = 0; i < pairs; i++) {
			get_device(dev[j]);
			put_device(dev[j]);
		}
		ns[j] = ktime_get_ns() - ns[j];
	}
	kunit_info(test, "get_device()+put_device(): %llu ns watched, %llu ns not watched (%u pairs each)\n",
		   div_u64(ns[0], pairs), div_u64(ns[1], pairs), pairs);
	KUNIT_EXPECT_EQ(test, refs->other_taken - taken, pairs);
	KUNIT_EXPECT_EQ(test, refs->other_dropped - dropped, pairs);
	KUNIT_EXPECT_EQ(test, refs->nr_comp, 0);
}

static struct kunit_case iommu_debug_refs_test_cases[] = {
	KUNIT_CASE(iommu_debug_refs_test_op),
	KUNIT_CASE(iommu_debug_refs_test_other_task),
	KUNIT_CASE(iommu_debug_refs_test_unwatched),
	KUNIT_CASE(iommu_debug_refs_test_companion),
	KUNIT_CASE(iommu_debug_refs_test_errors),
	KUNIT_CASE(iommu_debug_refs_test_rebind),
	KUNIT_CASE(iommu_debug_refs_test_delete),
	KUNIT_CASE(iommu_debug_refs_test_abandoned),
	KUNIT_CASE(iommu_debug_refs_test_driver_op),
	KUNIT_CASE_SLOW(iommu_debug_refs_test_settle),
	KUNIT_CASE(iommu_debug_refs_test_registered),
	KUNIT_CASE(iommu_debug_refs_test_probes),
	KUNIT_CASE(iommu_debug_refs_test_stacks),
	KUNIT_CASE(iommu_debug_refs_test_reprobe),
	KUNIT_CASE(iommu_debug_refs_test_deleted),
	KUNIT_CASE(iommu_debug_refs_test_cost),
	{}
};

static struct kunit_suite iommu_debug_refs_test_suite = {
	.name = "iommu_debug_refs",
	.init = iommu_debug_refs_test_init,
	.exit = iommu_debug_refs_test_exit,
	.test_cases = iommu_debug_refs_test_cases,
};

kunit_test_suite(iommu_debug_refs_test_suite);
