/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading and unloading the test IOMMU driver (CONFIG_TEST_IOMMU=m,
 * Documentation/iommu/test-iommu.rst) from a selftest.
 */
#ifndef __SELFTESTS_IOMMU_TEST_IOMMU_H
#define __SELFTESTS_IOMMU_TEST_IOMMU_H

#include <dirent.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "iommu_refs.h"

#define TEST_IOMMU_MODULE	"test_iommu"
#define TEST_IOMMU_FILE		"test_iommu.ko"
#define TEST_IOMMU_DRIVER	"/sys/bus/platform/drivers/test-iommu"
#define TEST_IOMMU_FIXED_DRIVER	"/sys/bus/platform/drivers/test-iommu-fixed"
#define TEST_IOMMU_DEBUGFS	"/sys/kernel/debug/test-iommu"
#define TEST_IOMMU_MAX		4

/* Built into the kernel (CONFIG_TEST_IOMMU=y): instances made at boot */
static inline bool test_iommu_builtin(void)
{
	return exists(TEST_IOMMU_DRIVER) &&
	       !exists("/sys/module/" TEST_IOMMU_MODULE "/initstate");
}

/* Why the driver cannot be used (the skip reason), or NULL. */
static inline const char *test_iommu_unavailable(void)
{
	char path[PATH_MAX], line[PATH_MAX];
	const char *why = "kernel without CONFIG_TEST_IOMMU (no " TEST_IOMMU_FILE
			  " in modules.dep)";
	struct utsname u;
	FILE *f;

	if (geteuid())
		return "must be root to load modules";
	if (test_iommu_builtin())
		return NULL;
	if (exists("/sys/module/" TEST_IOMMU_MODULE "/initstate"))
		return TEST_IOMMU_MODULE " is already loaded: unload it first";
	uname(&u);
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", u.release);
	f = fopen(path, "re");
	if (!f)
		return "no modules.dep to find " TEST_IOMMU_FILE " in";
	/* Its entry: "kernel/drivers/iommu/test_iommu.ko[.xz|.zst|.gz]: ..." */
	while (why && fgets(line, sizeof(line), f)) {
		char *ko = strstr(line, "/" TEST_IOMMU_FILE);

		if (ko && ko < strchr(line, ':'))
			why = NULL;
	}
	fclose(f);
	return why;
}

/*
 * Load the module with @params with modprobe, which knows the
 * distribution's compression and blacklists (a refusal stands). Built in,
 * the instances made at boot are used. Waits for the debugfs directory.
 */
static inline int test_iommu_load(const char *params)
{
	char cmd[256];

	if (test_iommu_builtin())
		return wait_for(TEST_IOMMU_DEBUGFS, true);
	/*
	 * After an unload, a driver's sysfs directory goes with its last
	 * reference, which CONFIG_DEBUG_KOBJECT_RELEASE delays: loading again
	 * before that fails to register the driver (and warns), whoever
	 * unloaded it (another run's journal replay, for one)
	 */
	if (!exists("/sys/module/" TEST_IOMMU_MODULE) &&
	    (wait_for(TEST_IOMMU_DRIVER, false) || wait_for(TEST_IOMMU_FIXED_DRIVER, false)))
		return -ETIMEDOUT;
	if (snprintf(cmd, sizeof(cmd), "modprobe -q %s %s 2>/dev/null", TEST_IOMMU_MODULE,
		     params) >= (int)sizeof(cmd))
		return -E2BIG;
	fflush(stdout);
	if (system(cmd))
		return -EPERM;
	return wait_for(TEST_IOMMU_DEBUGFS, true);
}

static int test_iommu_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The instances, sorted by name (iommu0 first); returns their number. */
static inline int test_iommu_instances(char (*insts)[NAME_MAX + 1])
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(TEST_IOMMU_DEBUGFS);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < TEST_IOMMU_MAX) {
		if (de->d_name[0] != '.')
			snprintf(insts[n++], NAME_MAX + 1, "%s", de->d_name);
	}
	closedir(d);
	qsort(insts, n, NAME_MAX + 1, test_iommu_cmp);
	return n;
}

/* The clients in an instance's "devices" directory, or -errno. */
static inline int test_iommu_clients(const char *inst)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices", inst) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Unbind @inst and bind it again, waiting until it is gone and back. */
static inline int test_iommu_rebind(const char *inst)
{
	char path[PATH_MAX];
	int ret;

	if (snprintf(path, sizeof(path), IOMMU_CLASS "/%s", inst) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = write_str(TEST_IOMMU_DRIVER "/unbind", inst);
	if (!ret)
		ret = wait_for(path, false);
	if (!ret)
		ret = write_str(TEST_IOMMU_DRIVER "/bind", inst);
	if (!ret)
		ret = wait_for(path, true);
	return ret;
}

/*
 * The IOMMU core holds a reference to the module for each client it
 * configured: unbind the instances, which releases them, then unload.
 */
static inline int test_iommu_unload(void)
{
	char insts[TEST_IOMMU_MAX][NAME_MAX + 1], path[PATH_MAX];
	long end = now_ms() + timeout_ms;
	int n;

	if (test_iommu_builtin())
		return 0;
	n = test_iommu_instances(insts);

	for (int i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), TEST_IOMMU_DRIVER "/%s",
			     insts[i]) < (int)sizeof(path) && exists(path))
			write_str(TEST_IOMMU_DRIVER "/unbind", insts[i]);
		/* An instance that cannot be unbound has a "release" file */
		if (snprintf(path, sizeof(path), TEST_IOMMU_DEBUGFS "/%s/release",
			     insts[i]) < (int)sizeof(path) && exists(path))
			write_str(path, "1");
	}
	while (syscall(SYS_delete_module, TEST_IOMMU_MODULE, O_NONBLOCK)) {
		if (errno != EAGAIN && errno != EBUSY)
			return -errno;
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

#endif /* __SELFTESTS_IOMMU_TEST_IOMMU_H */
