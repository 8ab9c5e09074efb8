// SPDX-License-Identifier: GPL-2.0
/*
 * Unbind and rebind every IOMMU driver that allows it, through sysfs.
 *
 * For each IOMMU in /sys/class/iommu, find the device its driver is bound
 * to and run N cycles (-n N, default 3): unbind, wait until the IOMMU is
 * gone, bind, wait until it is registered again and every client is back
 * in its "devices" directory (the IOMMU core probes clients again when an
 * IOMMU registers).  A client whose driver was unbound with the IOMMU (a
 * driver that links its clients to itself with device links, as arm-smmu
 * and virtio-iommu do) is bound again through drivers_probe, and must get
 * its driver back.
 *
 * With CONFIG_IOMMU_DEBUG_REFS, the IOMMU's reference counters are read
 * before the first cycle and after the last (and, by a child process, in a
 * loop during the cycles, for KASAN and lockdep to watch): the reference count of its
 * device must be back to the baseline, or the test fails with the growth
 * per cycle and the driver callbacks that took and dropped references.
 *
 * One KTAP result per IOMMU, named "unbind_rebind.<iommu>".  For an IOMMU
 * whose driver cannot be unbound (suppress_bind_attrs, as arm-smmu-v3),
 * "client_cycles.<iommu>" instead removes its PCI endpoint clients and
 * rescans the PCI bus, N times, with the same checks; it is skipped, with
 * the reason, when there is no PCI endpoint to remove.  Waits are bounded
 * polls (-t MS, default 10000 ms).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "iommu_refs.h"

#define MAX_IOMMUS	64
#define MAX_CLIENTS	2048

struct iommu_inst {
	char name[NAME_MAX + 1];
	char dev_name[NAME_MAX + 1];	/* device the driver is bound to */
	char drv_path[PATH_MAX];	/* /sys/bus/.../drivers/<driver> */
	char refs_dev[NAME_MAX + 1];	/* its directory in REFS_DIR, or "" */
};

struct client {
	char name[NAME_MAX + 1];
	char bus[NAME_MAX + 1];
	char driver[NAME_MAX + 1];	/* "" when none is bound */
};

/* The clients of @inst, with their bus and driver. */
static int list_clients(const struct iommu_inst *inst, struct client *clients,
			int max)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices", inst->name);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		struct client *cl = &clients[n];
		char link[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		memset(cl, 0, sizeof(*cl));
		snprintf(cl->name, sizeof(cl->name), "%s", de->d_name);
		if (snprintf(link, sizeof(link), "%s/%s/subsystem", path,
			     de->d_name) >= (int)sizeof(link) ||
		    read_link_base(link, cl->bus, sizeof(cl->bus)))
			continue;
		if (snprintf(link, sizeof(link), "%s/%s/driver", path,
			     de->d_name) >= (int)sizeof(link) ||
		    read_link_base(link, cl->driver, sizeof(cl->driver)))
			cl->driver[0] = '\0';
		n++;
	}
	closedir(dir);
	return n;
}

/*
 * Wait until every client of @inst is back; bind again those whose driver
 * went away with the IOMMU.  Returns 0, or -1 with @msg filled.
 */
static int clients_back(const struct iommu_inst *inst,
			const struct client *clients, int n, int *rebound,
			char *msg, size_t len)
{
	char path[PATH_MAX], probe[PATH_MAX];
	const struct client *cl;
	const char *why;
	int ret;

	for (cl = clients; cl < clients + n; cl++) {
		if (snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices/%s",
			     inst->name, cl->name) >= (int)sizeof(path) ||
		    wait_for(path, true)) {
			why = "not back after the IOMMU";
			goto fail;
		}
		if (!cl->driver[0])
			continue;
		if (snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s/driver",
			     cl->bus, cl->name) >= (int)sizeof(path) ||
		    snprintf(probe, sizeof(probe), "/sys/bus/%s/drivers_probe",
			     cl->bus) >= (int)sizeof(probe)) {
			why = "path too long";
			goto fail;
		}
		if (exists(path))
			continue;
		/* Its driver was unbound with the IOMMU: bind it again */
		ret = write_str(probe, cl->name);
		if (ret || wait_for(path, true)) {
			why = ret ? strerror(-ret) : "driver not bound again";
			goto fail;
		}
		(*rebound)++;
	}
	return 0;
fail:
	if (snprintf(msg, len, "client %s (driver %s): %s", cl->name,
		     cl->driver[0] ? cl->driver : "none", why) < 0)
		msg[0] = '\0';
	return -1;
}

/* The counters of @inst: those of its hardware device or sysfs parent. */
static void find_refs(struct iommu_inst *inst)
{
	struct dirent *de;
	struct refs r;
	DIR *dir;

	inst->refs_dev[0] = '\0';
	dir = opendir(REFS_DIR);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || refs_read(de->d_name, &r))
			continue;
		if (!strcmp(refs_str(&r, "registered"), "1") &&
		    (!strcmp(de->d_name, inst->dev_name) ||
		     !strcmp(refs_str(&r, "parent"), inst->dev_name))) {
			snprintf(inst->refs_dev, sizeof(inst->refs_dev), "%s",
				 de->d_name);
			break;
		}
	}
	closedir(dir);
}

static int find_iommus(struct iommu_inst *insts, int max)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	dir = opendir(IOMMU_CLASS);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		struct iommu_inst *inst = &insts[n];
		char path[PATH_MAX], drv[NAME_MAX + 1], bus[NAME_MAX + 1];

		if (de->d_name[0] == '.')
			continue;
		memset(inst, 0, sizeof(*inst));
		snprintf(inst->name, sizeof(inst->name), "%s", de->d_name);
		snprintf(path, sizeof(path), IOMMU_CLASS "/%s/device", de->d_name);
		if (read_link_base(path, inst->dev_name, sizeof(inst->dev_name)))
			inst->dev_name[0] = '\0';
		snprintf(path, sizeof(path), IOMMU_CLASS "/%s/device/driver",
			 de->d_name);
		if (read_link_base(path, drv, sizeof(drv)) == 0) {
			snprintf(path, sizeof(path),
				 IOMMU_CLASS "/%s/device/subsystem", de->d_name);
			if (read_link_base(path, bus, sizeof(bus)) == 0)
				snprintf(inst->drv_path, sizeof(inst->drv_path),
					 "/sys/bus/%s/drivers/%s", bus, drv);
		}
		find_refs(inst);
		n++;
	}
	closedir(dir);
	return n;
}

static int __printf(3, 4)
failf(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* One unbind/bind cycle of @inst; returns 0 or -1 with @msg filled. */
static int unbind_rebind(const struct iommu_inst *inst,
			 const struct client *clients, int nclients,
			 int *rebound, char *msg, size_t len)
{
	char iommu_path[PATH_MAX], path[PATH_MAX + 16];
	int ret;

	snprintf(iommu_path, sizeof(iommu_path), IOMMU_CLASS "/%s", inst->name);
	snprintf(path, sizeof(path), "%s/unbind", inst->drv_path);
	ret = write_str(path, inst->dev_name);
	if (ret)
		return failf(msg, len, "unbind %s: %s", inst->dev_name, strerror(-ret));
	if (wait_for(iommu_path, false))
		return failf(msg, len, "registered %d ms after unbind", timeout_ms);
	snprintf(path, sizeof(path), "%s/bind", inst->drv_path);
	ret = write_str(path, inst->dev_name);
	if (ret)
		return failf(msg, len, "bind %s: %s", inst->dev_name, strerror(-ret));
	if (wait_for(iommu_path, true))
		return failf(msg, len, "not registered %d ms after bind", timeout_ms);
	return clients_back(inst, clients, nclients, rebound, msg, len);
}

/* A PCI endpoint: not a bridge (class 0x06), which would take its bus along */
static bool pci_endpoint(const struct client *cl)
{
	char path[PATH_MAX], buf[16] = "";
	FILE *f;

	if (strcmp(cl->bus, "pci"))
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/class", cl->name);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] && strncmp(buf, "0x06", 4);
}

/*
 * For IOMMUs that cannot be unbound: remove the PCI endpoints among the
 * clients and rescan the bus, which releases and probes them again.
 */
static int remove_rescan(const struct iommu_inst *inst,
			 const struct client *clients, int nclients,
			 int *rebound, char *msg, size_t len)
{
	char path[PATH_MAX];
	int ret;

	for (int i = 0; i < nclients; i++) {
		if (!pci_endpoint(&clients[i]))
			continue;
		if (snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove",
			     clients[i].name) >= (int)sizeof(path))
			return failf(msg, len, "%s: path too long", clients[i].name);
		ret = write_str(path, "1");
		if (ret)
			return failf(msg, len, "remove %s: %s", clients[i].name,
				     strerror(-ret));
		*strrchr(path, '/') = '\0';
		if (wait_for(path, false))
			return failf(msg, len, "%s still there %d ms after remove",
				     clients[i].name, timeout_ms);
	}
	ret = write_str("/sys/bus/pci/rescan", "1");
	if (ret)
		return failf(msg, len, "rescan: %s", strerror(-ret));
	return clients_back(inst, clients, nclients, rebound, msg, len);
}

/*
 * Read the counters file in a loop while the IOMMU is cycled, in a child
 * process: with KASAN and lockdep, a use-after-free or a lock inversion
 * between the reader and the unbind shows as a splat.  Returns the pid.
 */
static pid_t start_reader(const char *refs_dev)
{
	char path[PATH_MAX], buf[4096];
	pid_t pid;

	snprintf(path, sizeof(path), REFS_DIR "/%s/counters", refs_dev);
	pid = fork();
	if (pid)
		return pid;
	for (;;) {
		int fd = open(path, O_RDONLY);

		if (fd < 0)
			_exit(1);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
}

static void stop_reader(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status))
		ksft_print_msg("counters reader exited early: %d\n",
			       WEXITSTATUS(status));
}

static void test_one(const struct iommu_inst *inst)
{
	static struct client clients[MAX_CLIENTS];
	int nclients, nbound = 0, nremove = 0, rebound = 0, ret;
	char name[NAME_MAX + 32], msg[1024];
	char unbind[PATH_MAX + 16];
	struct refs base, now;
	bool bindable;
	pid_t reader;

	if (!inst->drv_path[0]) {
		snprintf(name, sizeof(name), "unbind_rebind.%s", inst->name);
		ksft_test_result_code(KSFT_SKIP, name, "no driver bound to its device");
		return;
	}
	snprintf(unbind, sizeof(unbind), "%s/unbind", inst->drv_path);
	bindable = exists(unbind);
	snprintf(name, sizeof(name), "%s.%s",
		 bindable ? "unbind_rebind" : "client_cycles", inst->name);

	nclients = list_clients(inst, clients, MAX_CLIENTS);
	if (nclients < 0) {
		ksft_test_result_code(KSFT_FAIL, name, "listing clients: %s",
				      strerror(-nclients));
		return;
	}
	for (int i = 0; i < nclients; i++) {
		nbound += !!clients[i].driver[0];
		nremove += pci_endpoint(&clients[i]);
	}
	if (!bindable && !nremove) {
		ksft_test_result_code(KSFT_SKIP, name,
				      "%s has suppress_bind_attrs and no PCI endpoint to remove",
				      strrchr(inst->drv_path, '/') + 1);
		return;
	}
	ksft_print_msg("%s: device %s, driver %s, %d client(s), %d with a driver\n",
		       inst->name, inst->dev_name, inst->drv_path, nclients, nbound);
	ksft_print_msg("%s: %d cycle(s) of %s\n", inst->name, cycles,
		       bindable ? "unbind and bind" :
		       "PCI endpoint remove and rescan (suppress_bind_attrs)");
	if (inst->refs_dev[0] && refs_read(inst->refs_dev, &base)) {
		ksft_test_result_code(KSFT_FAIL, name, "cannot read its counters");
		return;
	}
	if (!inst->refs_dev[0])
		ksft_print_msg("%s: no reference counters (%s)%s\n", inst->name,
			       refs_unavailable() ?: "not in " REFS_DIR,
			       ": only the cycles are checked");
	else
		ksft_print_msg("%s: counters in %s/%s, refcount %lld\n", inst->name,
			       REFS_DIR, inst->refs_dev, refs_num(&base, "refcount"));

	reader = inst->refs_dev[0] ? start_reader(inst->refs_dev) : 0;
	for (int c = 1; c <= cycles; c++) {
		ret = bindable ?
		      unbind_rebind(inst, clients, nclients, &rebound, msg, sizeof(msg)) :
		      remove_rescan(inst, clients, nclients, &rebound, msg, sizeof(msg));
		if (ret) {
			stop_reader(reader);
			ksft_test_result_code(KSFT_FAIL, name, "cycle %d: %s", c, msg);
			return;
		}
	}
	stop_reader(reader);
	if (rebound)
		ksft_print_msg("%s: %d client driver(s) unbound with the IOMMU and bound again\n",
			       inst->name, rebound);
	if (inst->refs_dev[0]) {
		ret = refs_check(inst->refs_dev, &base, cycles, &now, msg,
				 sizeof(msg));
		if (ret) {
			ksft_test_result_code(KSFT_FAIL, name, "%s",
					      ret < 0 ? strerror(-ret) : msg);
			return;
		}
		ksft_print_msg("%s: balanced: refcount %lld; %s %lld calls, refs +%lld -%lld\n",
			       inst->name, refs_num(&now, "refcount"), "probe_device",
			       refs_site(&now, "probe_device", "calls"),
			       refs_site(&now, "probe_device", "taken"),
			       refs_site(&now, "probe_device", "dropped"));
		ksft_print_msg("%s: taken and dropped outside the callbacks: %lld, %lld\n",
			       inst->name, refs_num(&now, "other.taken"),
			       refs_num(&now, "other.dropped"));
	}
	ksft_test_result_code(KSFT_PASS, name, NULL);
}

int main(int argc, char *argv[])
{
	static struct iommu_inst insts[MAX_IOMMUS];
	int n;

	parse_args(argc, argv);

	if (geteuid())
		ksft_exit_skip("must be root to unbind drivers\n");
	n = find_iommus(insts, MAX_IOMMUS);
	if (n < 0)
		ksft_exit_skip("%s: %s (no IOMMU support in this kernel)\n",
			       IOMMU_CLASS, strerror(-n));
	if (!n)
		ksft_exit_skip("no IOMMU registered in %s\n", IOMMU_CLASS);

	ksft_print_header();
	ksft_set_plan(n);
	for (int i = 0; i < n; i++)
		test_one(&insts[i]);
	ksft_finished();
}
