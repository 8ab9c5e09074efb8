// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test IOMMU driver: IOMMU instances and client devices described in device
 * tree (an overlay and an OF changeset), on any architecture, configured
 * through the real firmware path (of_xlate(), probe_device(),
 * release_device()), which reproduces real drivers' patterns and injects
 * the leaks they had. See Documentation/iommu/test-iommu.rst.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/iommu.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/of.h>
#include <linux/of_platform.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/string.h>

#define TEST_IOMMU_MAX_INSTANCES	4
#define TEST_IOMMU_MAX_CLIENTS		1000

static unsigned int instances = 2;
module_param(instances, uint, 0444);
MODULE_PARM_DESC(instances, "number of IOMMU instances (1-4, default 2)");

static unsigned int clients = 4;
module_param(clients, uint, 0444);
MODULE_PARM_DESC(clients, "client devices per instance (0-1000, default 4)");

static unsigned int fixed;
module_param(fixed, uint, 0444);
MODULE_PARM_DESC(fixed,
		 "how many of the instances, the last ones, cannot be unbound (suppress_bind_attrs, default 0)");

static bool dual;
module_param(dual, bool, 0444);
MODULE_PARM_DESC(dual, "add a client of the first two instances, dual0 (default off)");

static bool warn_on_release;
module_param(warn_on_release, bool, 0444);
MODULE_PARM_DESC(warn_on_release,
		 "WARN once when a client is released, to test that the selftests fail on a kernel warning");

enum test_iommu_inject {
	TEST_IOMMU_INJECT_NONE,
	TEST_IOMMU_INJECT_XLATE_LEAK,
	TEST_IOMMU_INJECT_PROBE_LEAK,
	TEST_IOMMU_INJECT_RELEASE_LEAK,
	TEST_IOMMU_INJECT_PROBE_ERROR_LEAK,
	TEST_IOMMU_INJECT_EXTRA_PUT,
	TEST_IOMMU_INJECT_XLATE_ERROR_LEAK,
	TEST_IOMMU_INJECT_COMPANION_LEAK,
	TEST_IOMMU_INJECT_DRIVER_PROBE_LEAK,
	TEST_IOMMU_INJECT_OTHER_LEAK,
	TEST_IOMMU_INJECT_ALLOC_FAIL_LEAK,
	TEST_IOMMU_INJECT_NR,
};

static const char * const test_iommu_inject_names[] = {
	[TEST_IOMMU_INJECT_NONE] = "none",
	[TEST_IOMMU_INJECT_XLATE_LEAK] = "xlate_leak",
	[TEST_IOMMU_INJECT_PROBE_LEAK] = "probe_leak",
	[TEST_IOMMU_INJECT_RELEASE_LEAK] = "release_leak",
	[TEST_IOMMU_INJECT_PROBE_ERROR_LEAK] = "probe_error_leak",
	[TEST_IOMMU_INJECT_EXTRA_PUT] = "extra_put",
	[TEST_IOMMU_INJECT_XLATE_ERROR_LEAK] = "xlate_error_leak",
	[TEST_IOMMU_INJECT_COMPANION_LEAK] = "companion_leak",
	[TEST_IOMMU_INJECT_DRIVER_PROBE_LEAK] = "driver_probe_leak",
	[TEST_IOMMU_INJECT_OTHER_LEAK] = "other_leak",
	[TEST_IOMMU_INJECT_ALLOC_FAIL_LEAK] = "alloc_fail_leak",
};

/* Per instance, for the module's lifetime: survives unbind and rebind */
struct test_iommu_inst {
	struct device_node *np;
	struct device_node *companion_np;
	unsigned int np_held;		/* their references when applied */
	unsigned int companion_np_held;
	struct device *dev;		/* the instance's platform device */
	struct device *companion;	/* its companion's */
	struct dentry *dir;
	struct mutex lock;		/* serialises changes of @inject */
	enum test_iommu_inject inject;
	atomic_t leaked;		/* references leaked, to give back */
	atomic_t companion_leaked;	/* on the companion */
	/* by other_leak, on the device of each instance */
	atomic_t other_leaked[TEST_IOMMU_MAX_INSTANCES];
	atomic_t extra_puts;		/* references put too often */
	atomic_t reserve;		/* reference taken for the extra put */
};

/* Bound instance */
struct test_iommu {
	struct iommu_device iommu;
	struct test_iommu_inst *inst;
	struct device *companion;	/* from probe() until remove() */
};

/* Per probed client */
struct test_iommu_client {
	struct device *iommu_dev;	/* reference from probe_device() */
};

static struct test_iommu_inst test_iommu_insts[TEST_IOMMU_MAX_INSTANCES];
static struct device_node *test_iommu_bus;	/* /test-iommus */
static unsigned int test_iommu_bus_held;
static struct platform_device *test_iommu_bus_pdev;
static struct of_changeset test_iommu_ocs;
static struct dentry *test_iommu_dir;
static int test_iommu_ovcs_id;

static struct test_iommu_inst *test_iommu_inst_of(struct device_node *np)
{
	for (unsigned int i = 0; i < instances; i++)
		if (test_iommu_insts[i].np == np)
			return &test_iommu_insts[i];
	return NULL;
}

static enum test_iommu_inject test_iommu_inject(struct test_iommu_inst *inst)
{
	return READ_ONCE(inst->inject);
}

static int test_iommu_attach_identity(struct iommu_domain *domain,
				      struct device *dev,
				      struct iommu_domain *old)
{
	return 0;
}

static const struct iommu_domain_ops test_iommu_identity_ops = {
	.attach_dev = test_iommu_attach_identity,
};

static struct iommu_domain test_iommu_identity_domain = {
	.type = IOMMU_DOMAIN_IDENTITY,
	.ops = &test_iommu_identity_ops,
};

static int test_iommu_of_xlate(struct device *dev,
			       const struct of_phandle_args *args)
{
	struct test_iommu_inst *inst = test_iommu_inst_of(args->np);
	struct platform_device *pdev;
	int ret;

	if (!inst)
		return -ENODEV;
	/* As the real drivers do: find our own device */
	pdev = of_find_device_by_node(args->np);
	if (!pdev)
		return -ENODEV;
	switch (test_iommu_inject(inst)) {
	case TEST_IOMMU_INJECT_XLATE_ERROR_LEAK:
		/* An error path that forgets the put */
		atomic_inc(&inst->leaked);
		return -EINVAL;
	case TEST_IOMMU_INJECT_XLATE_LEAK:
		ret = iommu_fwspec_add_ids(dev, args->args, args->args_count);
		atomic_inc(&inst->leaked);
		return ret;
	default:
		break;
	}
	ret = iommu_fwspec_add_ids(dev, args->args, args->args_count);
	put_device(&pdev->dev);
	return ret;
}

/*
 * Look up the devices of the IOMMUs of @dev other than @np, as drivers do
 * whose clients have several IOMMUs, and forget to drop them: leaked on
 * those instances' devices, given back by @inst.
 */
static void test_iommu_leak_others(struct device *dev, struct device_node *np,
				   struct test_iommu_inst *inst)
{
	struct of_phandle_args args;
	struct platform_device *pdev;

	for (int i = 0; !of_parse_phandle_with_args(dev->of_node, "iommus",
						    "#iommu-cells", i, &args);
	     i++) {
		struct test_iommu_inst *other = test_iommu_inst_of(args.np);

		if (other && args.np != np) {
			pdev = of_find_device_by_node(args.np);
			if (pdev)
				atomic_inc(&inst->other_leaked[other - test_iommu_insts]);
		}
		of_node_put(args.np);
	}
}

static struct iommu_device *test_iommu_probe_device(struct device *dev)
{
	struct iommu_fwspec *fwspec = dev_iommu_fwspec_get(dev);
	struct device_node *np = to_of_node(fwspec->iommu_fwnode);
	struct test_iommu_client *client;
	struct platform_device *pdev;
	struct test_iommu *ti;

	pdev = of_find_device_by_node(np);
	if (!pdev)
		return ERR_PTR(-ENODEV);
	ti = platform_get_drvdata(pdev);
	if (!ti) {
		put_device(&pdev->dev);
		return ERR_PTR(-ENODEV);
	}

	switch (test_iommu_inject(ti->inst)) {
	case TEST_IOMMU_INJECT_PROBE_ERROR_LEAK:
		/* An error path that forgets the put */
		atomic_inc(&ti->inst->leaked);
		return ERR_PTR(-ENODEV);
	case TEST_IOMMU_INJECT_PROBE_LEAK:
		/* A second lookup without its put */
		if (of_find_device_by_node(np))
			atomic_inc(&ti->inst->leaked);
		break;
	case TEST_IOMMU_INJECT_COMPANION_LEAK:
		/* A lookup of another device without its put */
		if (of_find_device_by_node(ti->inst->companion_np))
			atomic_inc(&ti->inst->companion_leaked);
		break;
	case TEST_IOMMU_INJECT_OTHER_LEAK:
		/* The client's other IOMMUs, looked up and never dropped */
		test_iommu_leak_others(dev, np, ti->inst);
		break;
	default:
		break;
	}

	client = kzalloc_obj(*client);
	if (!client) {
		/* Only an allocation failure takes this path: fail-nth does */
		if (test_iommu_inject(ti->inst) == TEST_IOMMU_INJECT_ALLOC_FAIL_LEAK)
			atomic_inc(&ti->inst->leaked);
		else
			put_device(&pdev->dev);
		return ERR_PTR(-ENOMEM);
	}
	client->iommu_dev = &pdev->dev;
	dev_iommu_priv_set(dev, client);
	return &ti->iommu;
}

static void test_iommu_release_device(struct device *dev)
{
	struct test_iommu_client *client = dev_iommu_priv_get(dev);
	struct device *iommu_dev = client->iommu_dev;
	struct test_iommu_inst *inst;

	WARN_ONCE(warn_on_release, "test-iommu: warning injected by warn_on_release\n");
	inst = test_iommu_inst_of(iommu_dev->of_node);
	switch (inst ? test_iommu_inject(inst) : TEST_IOMMU_INJECT_NONE) {
	case TEST_IOMMU_INJECT_RELEASE_LEAK:
		atomic_inc(&inst->leaked);
		break;
	case TEST_IOMMU_INJECT_EXTRA_PUT:
		/*
		 * One put too many, once: it drops the reference taken when
		 * the injection was set, so the device is never freed.
		 */
		if (atomic_xchg(&inst->reserve, 0)) {
			atomic_inc(&inst->extra_puts);
			put_device(iommu_dev);
		}
		fallthrough;
	default:
		put_device(iommu_dev);
	}
	kfree(client);
}

static const struct iommu_ops test_iommu_ops = {
	.owner = THIS_MODULE,
	.identity_domain = &test_iommu_identity_domain,
	/* Identity only: no translation to test */
	.default_domain = &test_iommu_identity_domain,
	.probe_device = test_iommu_probe_device,
	.release_device = test_iommu_release_device,
	.device_group = generic_device_group,
	.of_xlate = test_iommu_of_xlate,
};

static int test_iommu_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct platform_device *companion;
	struct test_iommu *ti;
	int ret;

	ti = devm_kzalloc(dev, sizeof(*ti), GFP_KERNEL);
	if (!ti)
		return -ENOMEM;
	ti->inst = test_iommu_inst_of(dev->of_node);
	if (!ti->inst)
		return -ENODEV;
	/* Kept until remove() */
	companion = of_find_device_by_node(ti->inst->companion_np);
	if (companion)
		ti->companion = &companion->dev;
	if (test_iommu_inject(ti->inst) == TEST_IOMMU_INJECT_DRIVER_PROBE_LEAK) {
		/* A second lookup without its put */
		if (of_find_device_by_node(ti->inst->companion_np))
			atomic_inc(&ti->inst->companion_leaked);
	}
	platform_set_drvdata(pdev, ti);

	ret = iommu_device_sysfs_add(&ti->iommu, dev, NULL, "%s",
				     dev_name(dev));
	if (ret)
		goto err_companion;
	ret = iommu_device_register(&ti->iommu, &test_iommu_ops, dev);
	if (ret) {
		iommu_device_sysfs_remove(&ti->iommu);
		goto err_companion;
	}
	return 0;

err_companion:
	put_device(ti->companion);
	return ret;
}

static void test_iommu_remove(struct platform_device *pdev)
{
	struct test_iommu *ti = platform_get_drvdata(pdev);

	/* Clients are released while the sysfs device still exists */
	iommu_device_unregister(&ti->iommu);
	iommu_device_sysfs_remove(&ti->iommu);
	put_device(ti->companion);
	platform_set_drvdata(pdev, NULL);
}

static const struct of_device_id test_iommu_of_match[] = {
	{ .compatible = "linux,test-iommu" },
	{}
};
MODULE_DEVICE_TABLE(of, test_iommu_of_match);

static struct platform_driver test_iommu_driver = {
	.driver = {
		.name = "test-iommu",
		.of_match_table = test_iommu_of_match,
	},
	.probe = test_iommu_probe,
	.remove = test_iommu_remove,
};

/* The @fixed instances, as drivers that set suppress_bind_attrs */
static const struct of_device_id test_iommu_fixed_of_match[] = {
	{ .compatible = "linux,test-iommu-fixed" },
	{}
};

static struct platform_driver test_iommu_fixed_driver = {
	.driver = {
		.name = "test-iommu-fixed",
		.of_match_table = test_iommu_fixed_of_match,
		.suppress_bind_attrs = true,
	},
	.probe = test_iommu_probe,
	.remove = test_iommu_remove,
};

/* Give back what the injections took: the clean state again */
static void test_iommu_restore(struct test_iommu_inst *inst)
{
	int n;

	for (n = atomic_xchg(&inst->leaked, 0); n > 0; n--)
		put_device(inst->dev);
	for (n = atomic_xchg(&inst->companion_leaked, 0); n > 0; n--)
		put_device(inst->companion);
	for (int i = 0; i < instances; i++)
		for (n = atomic_xchg(&inst->other_leaked[i], 0); n > 0; n--)
			put_device(test_iommu_insts[i].dev);
	/* The extra put dropped the reserve; an unused one goes now */
	if (atomic_xchg(&inst->reserve, 0))
		put_device(inst->dev);
	atomic_set(&inst->extra_puts, 0);
}

static ssize_t test_iommu_inject_read(struct file *file, char __user *buf,
				      size_t count, loff_t *ppos)
{
	struct test_iommu_inst *inst = file->private_data;
	const char *name = test_iommu_inject_names[test_iommu_inject(inst)];
	char tmp[32];
	int len;

	len = scnprintf(tmp, sizeof(tmp), "%s\n", name);
	return simple_read_from_buffer(buf, count, ppos, tmp, len);
}

static ssize_t test_iommu_inject_write(struct file *file,
				       const char __user *buf, size_t count,
				       loff_t *ppos)
{
	struct test_iommu_inst *inst = file->private_data;
	char tmp[32];
	int mode;

	if (count >= sizeof(tmp))
		return -EINVAL;
	if (copy_from_user(tmp, buf, count))
		return -EFAULT;
	tmp[count] = '\0';
	mode = sysfs_match_string(test_iommu_inject_names, strim(tmp));
	if (mode < 0)
		return mode;

	mutex_lock(&inst->lock);
	WRITE_ONCE(inst->inject, TEST_IOMMU_INJECT_NONE);
	/* Any write ends the previous injection's effects */
	test_iommu_restore(inst);
	if (mode == TEST_IOMMU_INJECT_EXTRA_PUT) {
		get_device(inst->dev);
		atomic_set(&inst->reserve, 1);
	}
	WRITE_ONCE(inst->inject, mode);
	mutex_unlock(&inst->lock);
	return count;
}

/*
 * An instance that cannot be unbound holds the module through its clients:
 * writing anything to its "release" file unbinds it, as unloading would,
 * so that the module can be unloaded.
 */
static ssize_t test_iommu_release_write(struct file *file,
					const char __user *buf, size_t count,
					loff_t *ppos)
{
	struct test_iommu_inst *inst = file->private_data;

	device_release_driver(inst->dev);
	return count;
}

static const struct file_operations test_iommu_release_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = test_iommu_release_write,
};

static const struct file_operations test_iommu_inject_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = test_iommu_inject_read,
	.write = test_iommu_inject_write,
	.llseek = default_llseek,
};

/* test-iommu.dtso, built into the module */
extern u8 __dtbo_test_iommu_begin[];
extern u8 __dtbo_test_iommu_end[];

static int test_iommu_add_client(const char *name, const u32 *iommus,
				 size_t n)
{
	struct device_node *np;
	int ret;

	np = of_changeset_create_node(&test_iommu_ocs, test_iommu_bus, name);
	if (!np)
		return -ENOMEM;
	ret = of_changeset_add_prop_string(&test_iommu_ocs, np, "compatible",
					   "linux,test-iommu-client");
	if (!ret)
		ret = of_changeset_add_prop_u32_array(&test_iommu_ocs, np,
						      "iommus", iommus, n);
	/* The changeset holds the node from here on */
	of_node_put(np);
	return ret;
}

/*
 * The part of the tree that follows the parameters: enable the instances
 * and companions asked for, make the last @fixed instances
 * "linux,test-iommu-fixed", and add the clients, @clients per instance
 * and with @dual dual0, a client of iommu0 and iommu1. Client nodes need
 * no phandle, so a changeset can create them; the instances, whose
 * phandles the clients' "iommus" name, come from the overlay.
 */
static int test_iommu_build_changeset(void)
{
	char name[32];
	int ret = 0;

	for (int i = 0; i < instances && !ret; i++) {
		struct test_iommu_inst *inst = &test_iommu_insts[i];

		ret = of_changeset_update_prop_string(&test_iommu_ocs,
						      inst->companion_np,
						      "status", "okay");
		if (!ret)
			ret = of_changeset_update_prop_string(&test_iommu_ocs,
							      inst->np,
							      "status", "okay");
		if (!ret && i >= instances - fixed)
			ret = of_changeset_update_prop_string(&test_iommu_ocs,
							      inst->np,
							      "compatible",
							      "linux,test-iommu-fixed");
	}
	for (int i = 0; i < instances && !ret; i++) {
		for (int c = 0; c < clients && !ret; c++) {
			u32 iommus[] = { test_iommu_insts[i].np->phandle, c };

			snprintf(name, sizeof(name), "client%d-%d", i, c);
			ret = test_iommu_add_client(name, iommus,
						    ARRAY_SIZE(iommus));
		}
	}
	if (!ret && dual) {
		u32 iommus[] = { test_iommu_insts[0].np->phandle, 1000,
				 test_iommu_insts[1].np->phandle, 1000 };

		ret = test_iommu_add_client("dual0", iommus,
					    ARRAY_SIZE(iommus));
	}
	return ret;
}

/*
 * of_overlay_remove() frees the overlay's nodes and expects them to be
 * held by nothing but the overlay, but a device made from a node puts it
 * in its release, which CONFIG_DEBUG_KOBJECT_RELEASE delays by up to 4 s
 * after the last put_device(). Wait for those releases: until the nodes
 * are held as often as right after the overlay was applied, but for the
 * bus node's device. The OF core has no such wait, nor a way to read a
 * node's count but its kobject's, as drivers/of/unittest.c reads it.
 * Returns false when a node is still held after 30 s.
 */
static bool test_iommu_wait_node(struct device_node *np, unsigned int held,
				 unsigned long timeout)
{
	while (np && kref_read(&np->kobj.kref) > held) {
		if (time_after(jiffies, timeout)) {
			pr_err("%pOF still held %u times, not %u, after 30 s\n",
			       np, kref_read(&np->kobj.kref), held);
			return false;
		}
		msleep(20);
	}
	return true;
}

static bool test_iommu_wait_releases(void)
{
	unsigned long timeout = jiffies + 30 * HZ;

	for (int i = 0; i < instances; i++) {
		struct test_iommu_inst *inst = &test_iommu_insts[i];

		if (!test_iommu_wait_node(inst->np, inst->np_held, timeout) ||
		    !test_iommu_wait_node(inst->companion_np,
					  inst->companion_np_held, timeout))
			return false;
	}
	return test_iommu_wait_node(test_iommu_bus, test_iommu_bus_held,
				    timeout);
}

/* Gives back what injections leaked, then drops the devices */
static void test_iommu_put_devices(void)
{
	/* All first: other_leak leaks on other instances' devices */
	for (int i = 0; i < TEST_IOMMU_MAX_INSTANCES; i++)
		if (test_iommu_insts[i].dev)
			test_iommu_restore(&test_iommu_insts[i]);
	for (int i = 0; i < TEST_IOMMU_MAX_INSTANCES; i++) {
		struct test_iommu_inst *inst = &test_iommu_insts[i];

		put_device(inst->dev);
		inst->dev = NULL;
		put_device(inst->companion);
		inst->companion = NULL;
	}
}

static void test_iommu_put_nodes(void)
{
	for (int i = 0; i < TEST_IOMMU_MAX_INSTANCES; i++) {
		struct test_iommu_inst *inst = &test_iommu_insts[i];

		of_node_put(inst->np);
		inst->np = NULL;
		of_node_put(inst->companion_np);
		inst->companion_np = NULL;
	}
	of_node_put(test_iommu_bus);
	test_iommu_bus = NULL;
}

/*
 * The overlay's nodes, the counts of their references right after it was
 * applied, and the device of /test-iommus, which the OF core made when the
 * overlay added the node under the root: it goes before the overlay.
 */
static int test_iommu_find_nodes(void)
{
	struct platform_device *pdev;
	char name[32];

	test_iommu_bus = of_find_node_by_path("/test-iommus");
	if (!test_iommu_bus)
		return -ENODEV;
	test_iommu_bus_held = kref_read(&test_iommu_bus->kobj.kref);
	pdev = of_find_device_by_node(test_iommu_bus);
	if (!pdev)
		return -ENODEV;
	test_iommu_bus_pdev = pdev;
	/* Held by that device since the overlay was applied */
	test_iommu_bus_held--;
	for (int i = 0; i < instances; i++) {
		struct test_iommu_inst *inst = &test_iommu_insts[i];

		snprintf(name, sizeof(name), "iommu%d", i);
		inst->np = of_get_child_by_name(test_iommu_bus, name);
		if (!inst->np)
			return -ENODEV;
		inst->np_held = kref_read(&inst->np->kobj.kref);
		snprintf(name, sizeof(name), "companion%d", i);
		inst->companion_np = of_get_child_by_name(test_iommu_bus, name);
		if (!inst->companion_np)
			return -ENODEV;
		inst->companion_np_held = kref_read(&inst->companion_np->kobj.kref);
		mutex_init(&inst->lock);
	}
	return 0;
}

/*
 * The devices under the bus node's: the companions first, as the
 * instances' probe() looks them up, then the instances and the clients.
 */
static int test_iommu_populate(void)
{
	struct device *bus = &test_iommu_bus_pdev->dev;

	for (int i = 0; i < instances; i++)
		if (!of_platform_device_create(test_iommu_insts[i].companion_np,
					       NULL, bus))
			return -ENODEV;
	return of_platform_populate(test_iommu_bus, NULL, NULL, bus);
}

/*
 * The devices under the bus node's, then that one: of_overlay_remove()
 * finds it gone. Not of_platform_depopulate(), which does nothing when
 * populating failed before it marked the bus populated.
 */
static void test_iommu_depopulate(void)
{
	struct device *dev = &test_iommu_bus_pdev->dev;

	device_for_each_child_reverse(dev, NULL, of_platform_device_destroy);
	of_platform_device_destroy(dev, NULL);
	put_device(dev);
	test_iommu_bus_pdev = NULL;
}

/*
 * Everything test_iommu_find_nodes() found and what was made since goes,
 * the overlay last, once no device holds its nodes; left applied, with an
 * error, when one still does.
 */
static void test_iommu_remove_nodes(void)
{
	bool released;

	if (test_iommu_bus_pdev)
		test_iommu_depopulate();
	released = test_iommu_wait_releases();
	test_iommu_put_nodes();
	if (!released)
		pr_err("leaving the overlay applied: its nodes are still held\n");
	else if (of_overlay_remove(&test_iommu_ovcs_id))
		pr_err("cannot remove the overlay\n");
}

static int test_iommu_debugfs_init(void)
{
	test_iommu_dir = debugfs_create_dir("test-iommu", NULL);
	for (int i = 0; i < instances; i++) {
		struct test_iommu_inst *inst = &test_iommu_insts[i];
		struct platform_device *pdev;

		pdev = of_find_device_by_node(inst->np);
		if (!pdev)
			return -ENODEV;
		inst->dev = &pdev->dev;
		pdev = of_find_device_by_node(inst->companion_np);
		if (!pdev)
			return -ENODEV;
		inst->companion = &pdev->dev;
		inst->dir = debugfs_create_dir(dev_name(inst->dev),
					       test_iommu_dir);
		debugfs_create_file("inject", 0600, inst->dir, inst,
				    &test_iommu_inject_fops);
		debugfs_create_atomic_t("leaked", 0400, inst->dir,
					&inst->leaked);
		debugfs_create_atomic_t("companion_leaked", 0400, inst->dir,
					&inst->companion_leaked);
		debugfs_create_atomic_t("extra_puts", 0400, inst->dir,
					&inst->extra_puts);
		if (i >= instances - fixed)
			debugfs_create_file("release", 0200, inst->dir, inst,
					    &test_iommu_release_fops);
	}
	return 0;
}

static int __init test_iommu_init(void)
{
	int ret;

	if (!instances || instances > TEST_IOMMU_MAX_INSTANCES ||
	    clients > TEST_IOMMU_MAX_CLIENTS || fixed > instances ||
	    (dual && instances < 2)) {
		pr_err("instances must be 1-%d, clients 0-%d, fixed at most instances, and dual needs 2 instances\n",
		       TEST_IOMMU_MAX_INSTANCES, TEST_IOMMU_MAX_CLIENTS);
		return -EINVAL;
	}

	ret = platform_driver_register(&test_iommu_driver);
	if (ret)
		return ret;
	ret = platform_driver_register(&test_iommu_fixed_driver);
	if (ret) {
		platform_driver_unregister(&test_iommu_driver);
		return ret;
	}

	ret = of_overlay_fdt_apply(__dtbo_test_iommu_begin,
				   __dtbo_test_iommu_end -
				   __dtbo_test_iommu_begin,
				   &test_iommu_ovcs_id, NULL);
	if (ret) {
		pr_err("cannot apply the overlay: %d\n", ret);
		if (test_iommu_ovcs_id)
			of_overlay_remove(&test_iommu_ovcs_id);
		goto err_driver;
	}
	ret = test_iommu_find_nodes();
	if (ret)
		goto err_nodes;

	of_changeset_init(&test_iommu_ocs);
	ret = test_iommu_build_changeset();
	if (!ret)
		ret = of_changeset_apply(&test_iommu_ocs);
	if (ret) {
		pr_err("cannot apply the changeset: %d\n", ret);
		goto err_changeset;
	}

	ret = test_iommu_populate();
	if (ret)
		goto err_populate;
	ret = test_iommu_debugfs_init();
	if (ret)
		goto err_debugfs;
	pr_info("%u instance(s) (%u fixed), %u client(s) each%s\n", instances,
		fixed, clients, dual ? ", a client of two" : "");
	return 0;

err_debugfs:
	debugfs_remove_recursive(test_iommu_dir);
	test_iommu_put_devices();
err_populate:
	test_iommu_depopulate();
	of_changeset_revert(&test_iommu_ocs);
err_changeset:
	of_changeset_destroy(&test_iommu_ocs);
err_nodes:
	test_iommu_remove_nodes();
err_driver:
	platform_driver_unregister(&test_iommu_fixed_driver);
	platform_driver_unregister(&test_iommu_driver);
	return ret;
}
module_init(test_iommu_init);

static void __exit test_iommu_exit(void)
{
	debugfs_remove_recursive(test_iommu_dir);
	test_iommu_put_devices();
	test_iommu_depopulate();
	if (of_changeset_revert(&test_iommu_ocs))
		pr_err("cannot revert the changeset\n");
	of_changeset_destroy(&test_iommu_ocs);
	test_iommu_remove_nodes();
	platform_driver_unregister(&test_iommu_fixed_driver);
	platform_driver_unregister(&test_iommu_driver);
}
module_exit(test_iommu_exit);

MODULE_DESCRIPTION("Test IOMMU driver with device tree instances and fault injection");
MODULE_LICENSE("GPL");
