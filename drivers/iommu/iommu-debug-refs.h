/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * IOMMU device reference accounting, interface for the IOMMU core
 */
#ifndef __IOMMU_DEBUG_REFS_H
#define __IOMMU_DEBUG_REFS_H

#include <linux/iommu.h>
#include <linux/types.h>

struct device;
struct fwnode_handle;
struct iommu_device;

/**
 * enum iommu_debug_refs_site - driver callbacks whose references are counted
 * @IOMMU_DEBUG_REFS_OF_XLATE: &iommu_ops.of_xlate
 * @IOMMU_DEBUG_REFS_PROBE_DEVICE: &iommu_ops.probe_device
 * @IOMMU_DEBUG_REFS_RELEASE_DEVICE: &iommu_ops.release_device
 * @IOMMU_DEBUG_REFS_DRIVER_PROBE: the IOMMU driver's probe(), while it binds
 *	again to a device whose IOMMU was registered before
 * @IOMMU_DEBUG_REFS_DRIVER_REMOVE: the IOMMU driver's remove(), while it
 *	unbinds from that device
 * @IOMMU_DEBUG_REFS_NR_SITES: number of sites
 */
enum iommu_debug_refs_site {
	IOMMU_DEBUG_REFS_OF_XLATE,
	IOMMU_DEBUG_REFS_PROBE_DEVICE,
	IOMMU_DEBUG_REFS_RELEASE_DEVICE,
	IOMMU_DEBUG_REFS_DRIVER_PROBE,
	IOMMU_DEBUG_REFS_DRIVER_REMOVE,
	IOMMU_DEBUG_REFS_NR_SITES,
};

#ifdef CONFIG_IOMMU_DEBUG_REFS
struct iommu_debug_refs_call;

/**
 * struct iommu_debug_refs_op - a driver callback being accounted
 * @call: its entry in the list of callbacks in progress, or NULL
 * @site: which callback
 * @fn: the driver function called
 *
 * Kept by the caller of the driver callback, on its stack (or, for the
 * driver's probe() and remove(), in an allocated entry), between
 * iommu_debug_refs_op_begin() and iommu_debug_refs_op_end().
 */
struct iommu_debug_refs_op {
	struct iommu_debug_refs_call *call;
	enum iommu_debug_refs_site site;
	const void *fn;
};

void iommu_debug_refs_register(struct iommu_device *iommu,
			       struct device *hwdev);
void iommu_debug_refs_unregister(struct iommu_device *iommu);
void iommu_debug_refs_op_begin(struct iommu_debug_refs_op *op,
			       enum iommu_debug_refs_site site,
			       const void *fn);
void iommu_debug_refs_op_end(struct iommu_debug_refs_op *op,
			     const struct iommu_device *iommu,
			     const struct fwnode_handle *fwnode, int err);
/* In iommu.c */
int iommu_debug_refs_reprobe(struct iommu_device *iommu, struct device *locked,
			     const char *name);

/**
 * iommu_debug_refs_fwnode() - The IOMMU firmware node of a client
 * @dev: the client device
 *
 * Return: the firmware node of the IOMMU in @dev's fwspec, which names the
 * instance a failed probe_device() was for, or NULL. Without
 * CONFIG_IOMMU_DEBUG_REFS, NULL without looking at @dev, so that the
 * caller's code is the same as without the accounting.
 */
static inline const struct fwnode_handle *
iommu_debug_refs_fwnode(struct device *dev)
{
	struct iommu_fwspec *fwspec = dev_iommu_fwspec_get(dev);

	return fwspec ? fwspec->iommu_fwnode : NULL;
}
#else
struct iommu_debug_refs_op {
};

static inline void iommu_debug_refs_register(struct iommu_device *iommu,
					     struct device *hwdev)
{
}

static inline void iommu_debug_refs_unregister(struct iommu_device *iommu)
{
}

static inline void iommu_debug_refs_op_begin(struct iommu_debug_refs_op *op,
					     enum iommu_debug_refs_site site,
					     const void *fn)
{
}

static inline void iommu_debug_refs_op_end(struct iommu_debug_refs_op *op,
					   const struct iommu_device *iommu,
					   const struct fwnode_handle *fwnode,
					   int err)
{
}

static inline const struct fwnode_handle *
iommu_debug_refs_fwnode(struct device *dev)
{
	return NULL;
}
#endif

#endif /* __IOMMU_DEBUG_REFS_H */
