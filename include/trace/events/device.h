/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device reference count events of the driver core
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM dev
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE device

#if !defined(_TRACE_DEVICE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_DEVICE_H

#include <linux/device.h>
#include <linux/kref.h>
#include <linux/tracepoint.h>

DECLARE_EVENT_CLASS(device_ref,
		    TP_PROTO(struct device *dev, unsigned long caller),
		    TP_ARGS(dev, caller),
		    TP_STRUCT__entry(__string(name, dev_name(dev))
				     __field(unsigned int, refcount)
				     __field(unsigned long, caller)),
		    TP_fast_assign(__assign_str(name);
				   __entry->refcount = kref_read(&dev->kobj.kref);
				   __entry->caller = caller;),
		    TP_printk("%s refcount=%u caller=%pS", __get_str(name),
			      __entry->refcount, (void *)__entry->caller)
);

/*
 * device_get - a reference to a device was taken
 * @dev: the device
 * @caller: return address of get_device()
 *
 * Fired by get_device() before the reference is taken: the recorded
 * reference count does not include it.
 */
DEFINE_EVENT(device_ref, device_get,
	     TP_PROTO(struct device *dev, unsigned long caller),
	     TP_ARGS(dev, caller)
);

/*
 * device_put - a reference to a device is about to be dropped
 * @dev: the device
 * @caller: return address of put_device()
 *
 * Fired by put_device() before the reference is dropped, while @dev is
 * still valid: the recorded reference count includes it.
 */
DEFINE_EVENT(device_ref, device_put,
	     TP_PROTO(struct device *dev, unsigned long caller),
	     TP_ARGS(dev, caller)
);

#endif /* _TRACE_DEVICE_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
