/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading and unloading the test IOMMU driver (CONFIG_TEST_IOMMU=m,
 * Documentation/iommu/test-iommu.rst) from a selftest.
 */
#ifndef __SELFTESTS_IOMMU_TEST_IOMMU_H
#define __SELFTESTS_IOMMU_TEST_IOMMU_H

#include <dirent.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/utsname.h>

#include "iommu_refs.h"

#define TEST_IOMMU_MODULE	"test_iommu"
#define TEST_IOMMU_FILE		"test_iommu.ko"
#define TEST_IOMMU_DRIVER	"/sys/bus/platform/drivers/test-iommu"
#define TEST_IOMMU_FIXED_DRIVER	"/sys/bus/platform/drivers/test-iommu-fixed"
#define TEST_IOMMU_DEBUGFS	"/sys/kernel/debug/test-iommu"
#define TEST_IOMMU_MAX		4

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE	4
#endif

static char test_iommu_path[PATH_MAX];
static bool test_iommu_compressed;

/* test_iommu.ko, or a compressed test_iommu.ko.{xz,zst,gz}, under @dir */
static bool test_iommu_find_in(const char *dir, int depth)
{
	struct dirent *de;
	bool found = false;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (!strncmp(de->d_name, TEST_IOMMU_FILE, strlen(TEST_IOMMU_FILE)) &&
		    (!de->d_name[strlen(TEST_IOMMU_FILE)] ||
		     de->d_name[strlen(TEST_IOMMU_FILE)] == '.')) {
			snprintf(test_iommu_path, sizeof(test_iommu_path), "%s", path);
			test_iommu_compressed = !!de->d_name[strlen(TEST_IOMMU_FILE)];
			found = true;
		} else if (de->d_type == DT_DIR && depth < 8) {
			found = test_iommu_find_in(path, depth + 1);
		}
	}
	closedir(d);
	return found;
}

/* Built into the kernel (CONFIG_TEST_IOMMU=y): instances made at boot */
static inline bool test_iommu_builtin(void)
{
	return exists(TEST_IOMMU_DRIVER) &&
	       !exists("/sys/module/" TEST_IOMMU_MODULE "/initstate");
}

/* Why the driver cannot be used (the skip reason), or NULL. */
static inline const char *test_iommu_unavailable(void)
{
	static char why[PATH_MAX + 128];
	char dir[PATH_MAX];
	struct utsname u;

	if (geteuid())
		return "must be root to load modules";
	if (test_iommu_builtin())
		return NULL;
	if (exists("/sys/module/" TEST_IOMMU_MODULE "/initstate"))
		return TEST_IOMMU_MODULE " is already loaded: unload it first";
	uname(&u);
	snprintf(dir, sizeof(dir), "/lib/modules/%s", u.release);
	if (test_iommu_find_in(dir, 0))
		return NULL;
	if (snprintf(why, sizeof(why), "no %s[.xz|.zst|.gz] in %s: %s", TEST_IOMMU_FILE, dir,
		     "kernel without CONFIG_TEST_IOMMU") >= (int)sizeof(why))
		return "no " TEST_IOMMU_FILE ": kernel without CONFIG_TEST_IOMMU";
	return why;
}

/* modprobe test_iommu @params; 0, 127 when there is no modprobe, or its code */
static inline int test_iommu_modprobe(const char *params)
{
	char buf[256], *argv[16] = { "modprobe", "-q", TEST_IOMMU_MODULE };
	int argc = 3, status;
	pid_t pid;

	snprintf(buf, sizeof(buf), "%s", params);
	for (char *save, *tok = strtok_r(buf, " ", &save); tok && argc < 15;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 127;
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execvp("modprobe", argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return 127;
	return WEXITSTATUS(status);
}

/*
 * Load the module with @params: modprobe when there is one (it knows the
 * distribution's compression and blacklists), else finit_module() of the
 * file found (MODULE_INIT_COMPRESSED_FILE when compressed).  Built in, the
 * instances made at boot are used.  Waits for the debugfs directory.
 */
static inline int test_iommu_load(const char *params)
{
	int fd, ret;

	if (test_iommu_builtin())
		return wait_for(TEST_IOMMU_DEBUGFS, true);
	ret = test_iommu_modprobe(params);
	/* Only without modprobe: its refusal (a blacklist, "install /bin/false") stands */
	if (ret && ret != 127)
		return -EPERM;
	if (ret) {
		if (!test_iommu_path[0])
			return -ENOENT;
		fd = open(test_iommu_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ret = syscall(SYS_finit_module, fd, params,
			      test_iommu_compressed ? MODULE_INIT_COMPRESSED_FILE : 0);
		ret = ret ? -errno : 0;
		close(fd);
	}
	if (!ret)
		ret = wait_for(TEST_IOMMU_DEBUGFS, true);
	return ret;
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
	/*
	 * A driver's sysfs directory goes with its last reference, which
	 * CONFIG_DEBUG_KOBJECT_RELEASE delays: loading again before that
	 * fails to register the drivers.
	 */
	if (wait_for(TEST_IOMMU_DRIVER, false) ||
	    wait_for(TEST_IOMMU_FIXED_DRIVER, false))
		return -ETIMEDOUT;
	return 0;
}

#endif /* __SELFTESTS_IOMMU_TEST_IOMMU_H */
