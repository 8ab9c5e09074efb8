/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Hooks of the IOMMU device reference accounting (CONFIG_IOMMU_DEBUG_REFS)
 * called by the driver core.
 */
#ifndef __LINUX_IOMMU_DEBUG_REFS_H
#define __LINUX_IOMMU_DEBUG_REFS_H

#include <linux/compiler.h>
#include <linux/device.h>
#include <linux/rcupdate.h>

#ifdef CONFIG_IOMMU_DEBUG_REFS
void __iommu_debug_refs_count(struct device *dev, bool get);

/**
 * iommu_debug_refs_count() - Account one reference taken or dropped
 * @dev: device whose reference count changes
 * @get: true for get_device(), false for put_device()
 *
 * Called by get_device() and put_device(). Costs one pointer test unless
 * @dev is an IOMMU device watched by the accounting.
 */
static inline void iommu_debug_refs_count(struct device *dev, bool get)
{
	if (unlikely(rcu_access_pointer(dev->iommu_refs)))
		__iommu_debug_refs_count(dev, get);
}
#else
static inline void iommu_debug_refs_count(struct device *dev, bool get)
{
}
#endif

#endif /* __LINUX_IOMMU_DEBUG_REFS_H */
