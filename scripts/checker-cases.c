// SPDX-License-Identifier: GPL-2.0
/*
 * Cases for scripts/coccinelle/free/device_ref_leak.cocci, read by
 * checker-score.sh: every function whose name starts with leak_ must be
 * reported, and no other.  Not compiled.
 */

/* A NULL test returns before any reference is held. */
static int ok_null_test(struct device_node *np)
{
	struct platform_device *pdev = of_find_device_by_node(np);
	void *data;

	if (!pdev)
		return -ENODEV;
	data = platform_get_drvdata(pdev);
	put_device(&pdev->dev);
	return data ? 0 : -EPROBE_DEFER;
}

/* Put on the error path only (qcom, exynos before the fix). */
static int leak_success_path(struct device_node *np)
{
	struct platform_device *pdev = of_find_device_by_node(np);
	void *data;

	if (!pdev)
		return -ENODEV;
	data = platform_get_drvdata(pdev);
	if (!data) {
		put_device(&pdev->dev);
		return -EPROBE_DEFER;
	}
	return 0;
}

/* The NULL case jumps to the common exit. */
static int ok_goto_out(struct device_node *np)
{
	struct platform_device *pdev;
	int ret = 0;

	pdev = of_find_device_by_node(np);
	if (!pdev) {
		ret = -ENODEV;
		goto out;
	}
	put_device(&pdev->dev);
out:
	return ret;
}

/* No NULL test, no put (sun50i, apple-dart before the fix). */
static int leak_no_test(struct device *dev, const struct of_phandle_args *args)
{
	struct platform_device *iommu_pdev = of_find_device_by_node(args->np);

	dev_iommu_priv_set(dev, platform_get_drvdata(iommu_pdev));
	return 0;
}

/* An allocation fails before the put (rockchip in 7.3). */
static int leak_error_path(struct device *dev, const struct of_phandle_args *args)
{
	struct platform_device *iommu_dev;
	void *data;

	iommu_dev = of_find_device_by_node(args->np);
	data = devm_kzalloc(&iommu_dev->dev, 4, GFP_KERNEL);
	if (!data)
		return -ENOMEM;
	platform_device_put(iommu_dev);
	return 0;
}

/* A getter returns what it found. */
static struct device *ok_returned(struct device_node *np)
{
	struct device *dev = bus_find_device_by_of_node(&platform_bus_type, np);

	return dev ? dev : NULL;
}

/* ... also converted. */
static struct foo *ok_returned_converted(struct device *parent)
{
	struct device *dev = device_find_child(parent, NULL, match);

	if (!dev)
		return NULL;
	return to_foo(dev);
}

/* Stored in a field that ok_remove() drops through a local. */
static int ok_stored(struct foo *foo, struct device_node *np)
{
	struct platform_device *pdev = of_find_device_by_node(np);

	if (!pdev)
		return -ENODEV;
	foo->companion = &pdev->dev;
	return 0;
}

static void ok_remove(struct foo *foo)
{
	struct device *companion = foo->companion;

	put_device(companion);
}

/* Stored in a field nothing drops (mediatek probe() before the fix). */
static int leak_stored(struct foo *foo, struct device_node *np, int i)
{
	struct platform_device *pdev = of_find_device_by_node(np);

	if (!pdev)
		return -ENODEV;
	foo->larbs[i].dev = &pdev->dev;
	return 0;
}

/* Put, then only the pointer value is used. */
static bool ok_put_first(struct fwnode_handle *fwnode)
{
	struct device *dev = bus_find_device(&foo_bus_type, NULL, fwnode, match);

	put_device(dev);
	return dev;
}

/* The put is conditional on the device having been found. */
static int ok_if_found(struct device_node *np)
{
	struct device *dev = bus_find_device_by_of_node(&platform_bus_type, np);
	int ret = 0;

	if (dev) {
		ret = foo_use(dev);
		put_device(dev);
	}
	return ret;
}

/* Dropped by the compiler. */
static int ok_free(struct device_node *np)
{
	struct device *dev __free(put_device) =
		bus_find_device_by_of_node(&platform_bus_type, np);

	if (!dev)
		return -ENODEV;
	return foo_use(dev);
}

/* Dropped by devres. */
static int ok_devm(struct device *dev, struct device_node *np)
{
	struct platform_device *pdev = of_find_device_by_node(np);
	int ret;

	if (!pdev)
		return -ENODEV;
	ret = devm_add_action_or_reset(dev, foo_put_device, &pdev->dev);
	if (ret)
		return ret;
	return 0;
}

/* Another driver drops it, and says so. */
static void ok_annotated(struct foo *foo, struct device_node *np)
{
	struct platform_device *pdev;

	/* The companion driver is responsible for put_device() */
	pdev = of_find_device_by_node(np);
	if (!pdev)
		return;
	foo->impl_dev = &pdev->dev;
}

/* A result only tested cannot be dropped. */
static bool leak_not_kept(struct device_node *np)
{
	if (of_find_device_by_node(np))
		return true;
	return false;
}

/* Stored straight into a field nothing drops. */
static void leak_direct_store(struct foo *foo, struct device_node *np)
{
	foo->other = of_find_device_by_node(np);
}

/* The NULL test of a loop's lookup skips to the next one. */
static int ok_null_continue(struct device_node **nps, int n)
{
	struct platform_device *pdev;
	int i, found = 0;

	for (i = 0; i < n; i++) {
		pdev = of_find_device_by_node(nps[i]);
		if (!pdev)
			continue;
		found++;
		put_device(&pdev->dev);
	}
	return found;
}

/* The second lookup's NULL test returns with the first one held. */
static int leak_second_lookup_fails(struct device_node *n1, struct device_node *n2)
{
	struct platform_device *a;
	struct device *b;

	a = of_find_device_by_node(n1);
	if (!a)
		return -ENODEV;
	b = bus_find_device_by_of_node(&platform_bus_type, n2);
	if (!b)
		return -EPROBE_DEFER;
	put_device(b);
	put_device(&a->dev);
	return 0;
}

/* Tested, used, never put. */
static int leak_if_found(struct device_node *np)
{
	struct platform_device *pdev = of_find_device_by_node(np);
	void *data = NULL;

	if (pdev)
		data = platform_get_drvdata(pdev);
	return data ? 0 : -ENODEV;
}

/* A finder hands the device, converted, to its caller. */
static struct foo *ok_finder(struct fwnode_handle *fwnode)
{
	struct device *dev = bus_find_device_by_fwnode(&foo_bus_type, fwnode);

	if (dev)
		return dev_to_foo(dev);
	return NULL;
}


/* The put in the branch of a test that the device was found (tegra clk). */
static int ok_found_put_else(struct device_node *np, struct device_node *child)
{
	struct platform_device *parent = of_find_device_by_node(np);

	if (parent) {
		of_platform_device_create(child, NULL, &parent->dev);
		put_device(&parent->dev);
	} else {
		WARN(1, "no parent\n");
	}
	return 0;
}

/* The same test without the put still leaks. */
static int leak_found_no_put_else(struct device_node *np, struct device_node *child)
{
	struct platform_device *parent = of_find_device_by_node(np);

	if (parent)
		of_platform_device_create(child, NULL, &parent->dev);
	else
		WARN(1, "no parent\n");
	return 0;
}

/* A getter returning what it found, NULL otherwise (gio_dev_get()). */
static struct foo *ok_found_return_else(struct foo *foo)
{
	struct device *tmp = get_device(&foo->dev);

	if (tmp)
		return to_foo(tmp);
	else
		return NULL;
}

/* The put left to a KUnit action (the cs_dsp tests). */
static int ok_kunit_action(struct kunit *test, struct foo *foo)
{
	foo->test_dev = get_device(test->dev);
	if (!foo->test_dev)
		return -ENODEV;
	return kunit_add_action_or_reset(test, put_device_wrapper, foo->test_dev);
}

/* A getter whose *_release() drops the reference (mtk_ecc_get()). */
static struct foo *ok_ecc_get(struct device_node *np)
{
	struct platform_device *pdev = of_find_device_by_node(np);
	struct foo *foo;

	if (!pdev)
		return ERR_PTR(-EPROBE_DEFER);
	foo = platform_get_drvdata(pdev);
	if (!foo) {
		put_device(&pdev->dev);
		return ERR_PTR(-EPROBE_DEFER);
	}
	return foo;
}

static void ok_ecc_release(struct foo *foo)
{
	put_device(foo->ecc_dev);
}

/* The branch of a test that the device was found returns, but not it. */
static int leak_found_return_else(struct device_node *np)
{
	struct platform_device *pdev = of_find_device_by_node(np);

	if (pdev)
		return platform_get_drvdata(pdev) ? 0 : -EPROBE_DEFER;
	else
		pr_warn("no device\n");
	return -ENODEV;
}

/* A KUnit action whose path an earlier return skips. */
static int leak_kunit_before_action(struct kunit *test, struct foo *foo)
{
	struct device *dev = get_device(test->dev);

	foo->buf = kunit_kzalloc(test, 64, GFP_KERNEL);
	if (!foo->buf)
		return -ENOMEM;
	return kunit_add_action_or_reset(test, put_device_wrapper, dev);
}
