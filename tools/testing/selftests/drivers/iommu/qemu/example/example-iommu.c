// SPDX-License-Identifier: GPL-2.0
/*
 * A vendor-style IOMMU driver with no hardware behind it, for trying the
 * project's "make DRIVER=... DT=..." (its README): it does what many real
 * drivers did before v6.19 and has two device reference leaks for the
 * suite to name.
 *
 *  - example_iommu_of_xlate() looks its own device up and never drops it
 *    (the leak the seed series fixed in nine drivers);
 *  - example_iommu_probe() looks up its companion (a clock or power
 *    controller in real drivers) and remove() forgets it.
 *
 * Its nodes are in example-iommu.dtsi; given a "reg", it reads its version
 * register there, as real drivers do (the guest then takes an external
 * abort: QEMU emulates nothing there).  Build it against any kernel with
 * CONFIG_IOMMU_API and CONFIG_OF: it is not part of the selftests' build.
 */
#include <linux/iommu.h>
#include <linux/module.h>
#include <linux/of.h>
#include <linux/of_platform.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct example_iommu {
	struct iommu_device iommu;
	struct device *companion;
};

static int example_iommu_attach(struct iommu_domain *domain, struct device *dev,
				struct iommu_domain *old)
{
	return 0;
}

static const struct iommu_domain_ops example_iommu_identity_ops = {
	.attach_dev = example_iommu_attach,
};

static struct iommu_domain example_iommu_identity_domain = {
	.type = IOMMU_DOMAIN_IDENTITY,
	.ops = &example_iommu_identity_ops,
};

static int example_iommu_of_xlate(struct device *dev,
				  const struct of_phandle_args *args)
{
	struct platform_device *pdev = of_find_device_by_node(args->np);

	if (!pdev || !platform_get_drvdata(pdev))
		return -ENODEV;
	/* Leak: no put_device(&pdev->dev) */
	return iommu_fwspec_add_ids(dev, args->args, args->args_count);
}

static struct iommu_device *example_iommu_probe_device(struct device *dev)
{
	struct iommu_fwspec *fwspec = dev_iommu_fwspec_get(dev);
	struct platform_device *pdev;
	struct example_iommu *ei;

	pdev = of_find_device_by_node(to_of_node(fwspec->iommu_fwnode));
	if (!pdev)
		return ERR_PTR(-ENODEV);
	ei = platform_get_drvdata(pdev);
	put_device(&pdev->dev);
	return ei ? &ei->iommu : ERR_PTR(-ENODEV);
}

static const struct iommu_ops example_iommu_ops = {
	.owner = THIS_MODULE,
	.identity_domain = &example_iommu_identity_domain,
	.default_domain = &example_iommu_identity_domain,
	.probe_device = example_iommu_probe_device,
	.device_group = generic_device_group,
	.of_xlate = example_iommu_of_xlate,
};

static int example_iommu_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct platform_device *companion;
	struct device_node *np;
	struct example_iommu *ei;
	int ret;

	ei = devm_kzalloc(dev, sizeof(*ei), GFP_KERNEL);
	if (!ei)
		return -ENOMEM;
	/* With a "reg", its version register: QEMU emulates none */
	if (platform_get_resource(pdev, IORESOURCE_MEM, 0)) {
		void __iomem *base = devm_platform_ioremap_resource(pdev, 0);

		if (IS_ERR(base))
			return PTR_ERR(base);
		dev_info(dev, "version %#x\n", readl(base));
	}
	np = of_parse_phandle(dev->of_node, "example,companion", 0);
	if (np) {
		companion = of_find_device_by_node(np);
		of_node_put(np);
		if (!companion)
			return -EPROBE_DEFER;
		ei->companion = &companion->dev;
	}
	platform_set_drvdata(pdev, ei);
	ret = iommu_device_sysfs_add(&ei->iommu, dev, NULL, "%s", dev_name(dev));
	if (ret)
		goto err_put;
	ret = iommu_device_register(&ei->iommu, &example_iommu_ops, dev);
	if (ret) {
		iommu_device_sysfs_remove(&ei->iommu);
		goto err_put;
	}
	return 0;

err_put:
	put_device(ei->companion);
	return ret;
}

static void example_iommu_remove(struct platform_device *pdev)
{
	struct example_iommu *ei = platform_get_drvdata(pdev);

	iommu_device_unregister(&ei->iommu);
	iommu_device_sysfs_remove(&ei->iommu);
	/* Leak: no put_device(ei->companion) */
}

static const struct of_device_id example_iommu_of_match[] = {
	{ .compatible = "example,iommu" },
	{}
};
MODULE_DEVICE_TABLE(of, example_iommu_of_match);

static struct platform_driver example_iommu_driver = {
	.driver = {
		.name = "example-iommu",
		.of_match_table = example_iommu_of_match,
	},
	.probe = example_iommu_probe,
	.remove = example_iommu_remove,
};
module_platform_driver(example_iommu_driver);

MODULE_DESCRIPTION("Vendor-style example IOMMU driver with two device leaks");
MODULE_LICENSE("GPL");
