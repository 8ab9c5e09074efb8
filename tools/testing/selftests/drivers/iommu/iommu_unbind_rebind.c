// SPDX-License-Identifier: GPL-2.0
/*
 * Unbind and rebind IOMMU drivers through sysfs and check that every
 * reference count returns to its baseline.
 *
 * Safe by default: only the test IOMMU driver's instances are cycled; a
 * real IOMMU only when named with -d, and never one a mounted filesystem,
 * swap, the console, this program's output or the default route needs.
 * Every change is journaled and undone, also after SIGKILL by the next
 * run (iommu_safety.h). See Documentation/iommu/selftests.rst.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "iommu_safety.h"
#include "test_iommu.h"

#define MAX_IOMMUS	64
#define MAX_CLIENTS	2048

struct iommu_inst {
	char name[NAME_MAX + 1];
	char dev_name[NAME_MAX + 1];	/* device the driver is bound to */
	char drv_path[PATH_MAX];	/* /sys/bus/.../drivers/<driver> */
	char bus[NAME_MAX + 1];		/* of that device */
	char drv[NAME_MAX + 1];		/* its driver's name */
	bool test;			/* an instance of the test IOMMU driver */
	char refs_dev[NAME_MAX + 1];	/* its directory in REFS_DIR, or "" */
};

struct client {
	char name[NAME_MAX + 1];
	char bus[NAME_MAX + 1];
	char driver[NAME_MAX + 1];	/* "" when none is bound */
	const char *needed;		/* why the machine needs it, or NULL */
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
		if (exists(path)) {
			char drv[NAME_MAX + 1];

			if (read_link_base(path, drv, sizeof(drv)) || strcmp(drv, cl->driver)) {
				why = "bound to another driver";
				goto fail;
			}
			continue;
		}
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

static int cmp_inst(const void *a, const void *b)
{
	return strcmp(((const struct iommu_inst *)a)->name,
		      ((const struct iommu_inst *)b)->name);
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
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		memset(inst, 0, sizeof(*inst));
		snprintf(inst->name, sizeof(inst->name), "%s", de->d_name);
		snprintf(path, sizeof(path), IOMMU_CLASS "/%s/device", de->d_name);
		if (read_link_base(path, inst->dev_name, sizeof(inst->dev_name)))
			inst->dev_name[0] = '\0';
		snprintf(path, sizeof(path), IOMMU_CLASS "/%s/device/driver",
			 de->d_name);
		if (read_link_base(path, inst->drv, sizeof(inst->drv)) == 0) {
			snprintf(path, sizeof(path),
				 IOMMU_CLASS "/%s/device/subsystem", de->d_name);
			if (read_link_base(path, inst->bus, sizeof(inst->bus)) == 0)
				snprintf(inst->drv_path, sizeof(inst->drv_path),
					 "/sys/bus/%s/drivers/%s", inst->bus, inst->drv);
		}
		inst->test = !strcmp(inst->drv, TEST_IOMMU_DRIVER_NAME);
		find_refs(inst);
		n++;
	}
	closedir(dir);
	/* In name order: the same order on every run */
	qsort(insts, n, sizeof(*insts), cmp_inst);
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

/* Unbind @inst's driver and wait until the IOMMU is gone. */
static int unbind_inst(const struct iommu_inst *inst, char *msg, size_t len)
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
	return 0;
}

/* Bind it again and wait until the IOMMU and its clients are back. */
static int bind_inst(const struct iommu_inst *inst, const struct client *clients,
		     int nclients, int *rebound, char *msg, size_t len)
{
	char iommu_path[PATH_MAX], path[PATH_MAX + 16];
	int ret;

	snprintf(iommu_path, sizeof(iommu_path), IOMMU_CLASS "/%s", inst->name);
	snprintf(path, sizeof(path), "%s/bind", inst->drv_path);
	ret = write_str(path, inst->dev_name);
	if (ret)
		return failf(msg, len, "bind %s: %s", inst->dev_name, strerror(-ret));
	if (wait_for(iommu_path, true))
		return failf(msg, len, "not registered %d ms after bind", timeout_ms);
	return clients_back(inst, clients, nclients, rebound, msg, len);
}

/* One unbind/bind cycle of @inst; returns 0 or -1 with @msg filled. */
static int unbind_rebind(const struct iommu_inst *inst,
			 const struct client *clients, int nclients,
			 int *rebound, char *msg, size_t len)
{
	return unbind_inst(inst, msg, len) ?:
	       bind_inst(inst, clients, nclients, rebound, msg, len);
}

/*
 * A PCI endpoint that a rescan brings back as it was: not a bridge (class
 * 0x06, which would take its bus along), not an SR-IOV physical function
 * with virtual functions enabled nor a virtual function (a rescan does not
 * recreate them).
 */
static bool pci_endpoint(const struct client *cl)
{
	char path[PATH_MAX], buf[16] = "";
	FILE *f;

	if (strcmp(cl->bus, "pci"))
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/physfn", cl->name);
	if (exists(path))
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", cl->name);
	f = fopen(path, "r");
	if (f) {
		bool vfs = fgets(buf, sizeof(buf), f) && atoi(buf) > 0;

		fclose(f);
		if (vfs)
			return false;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/class", cl->name);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] && strncmp(buf, "0x06", 4);
}

/* Remove the PCI endpoints among the clients that a rescan brings back. */
static int remove_clients(const struct client *clients, int nclients,
			  char *msg, size_t len)
{
	char path[PATH_MAX];
	int ret;

	for (int i = 0; i < nclients; i++) {
		if (!pci_endpoint(&clients[i]) || clients[i].needed)
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
	return 0;
}

/*
 * For IOMMUs that cannot be unbound: remove the PCI endpoints among the
 * clients and rescan the bus, which releases and probes them again.
 */
static int remove_rescan(const struct iommu_inst *inst,
			 const struct client *clients, int nclients,
			 int *rebound, char *msg, size_t len)
{
	int ret = remove_clients(clients, nclients, msg, len);

	if (ret)
		return ret;
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
	/* Not left reading if we are killed with SIGKILL; no journal lock */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(journal_fd);
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

static void skip_one(const char *name, const struct iommu_inst *inst,
		     const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ksft_test_result_code(KSFT_SKIP, name, "%s", why);
}

/*
 * Mark the clients the machine needs; for an IOMMU that is unbound, any of
 * them (or the IOMMU's own device) is a reason not to cycle it: returns
 * that reason in @why.
 */
static bool cuts_our_branch(const struct iommu_inst *inst, struct client *clients,
			    int nclients, bool bindable, char *why, size_t len)
{
	char path[PATH_MAX];
	const char *need;
	int removable = 0;

	needed_scan();
	snprintf(path, sizeof(path), IOMMU_CLASS "/%s/device", inst->name);
	need = needed_under(path);
	if (need) {
		snprintf(why, len, "its device %s %s", inst->dev_name, need);
		return true;
	}
	for (int i = 0; i < nclients; i++) {
		struct client *cl = &clients[i];

		if (snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s", cl->bus,
			     cl->name) >= (int)sizeof(path))
			continue;
		cl->needed = needed_under(path);
		if (cl->needed && (bindable || pci_endpoint(cl))) {
			if (snprintf(why, len, "client %s %s", cl->name, cl->needed) < 0)
				why[0] = '\0';
			if (bindable)
				return true;
			ksft_print_msg("%s: %s: left alone\n", inst->name, why);
		} else if (!bindable && pci_endpoint(cl)) {
			removable++;
		}
	}
	return !bindable && !removable && why[0];
}

/* Journal, before the first change, what brings @inst back. */
static int journal_inst(const struct iommu_inst *inst, const struct client *clients,
			int nclients, bool bindable)
{
	int ret = bindable ? journal_add("bind %s %s %s", inst->bus, inst->drv,
					 inst->dev_name) :
			     journal_add("rescan");

	for (int i = 0; !ret && i < nclients; i++)
		if (clients[i].driver[0])
			ret = journal_add("probe %s %s", clients[i].bus, clients[i].name);
	return ret;
}

/*
 * The verdict of @inst's cycles from @base to @now: on a leak, an
 * underflow or an error, result @name fails and true is returned.
 */
static bool verdict_failed(const struct iommu_inst *inst, const char *name,
			   const struct refs *base, struct refs *now)
{
	char msg[1024];
	int ret;

	ret = refs_check(inst->refs_dev, base, cycles, now, msg, sizeof(msg));
	if (!ret)
		return false;
	ksft_test_result_code(KSFT_FAIL, name, "%s", ret < 0 ? strerror(-ret) : msg);
	kmsg_splat(msg, sizeof(msg));
	return true;
}

/* Whether @inst can be unbound through sysfs */
static bool inst_bindable(const struct iommu_inst *inst)
{
	char unbind[PATH_MAX + 16];

	snprintf(unbind, sizeof(unbind), "%s/unbind", inst->drv_path);
	return inst->drv_path[0] && exists(unbind);
}

/*
 * The cycles of @inst and their result; when it passed, returns the number
 * of clients, listed in *@out.
 */
static int test_one(const struct iommu_inst *inst, struct client **out)
{
	static struct client clients[MAX_CLIENTS];
	int nclients, nbound = 0, nremove = 0, rebound = 0, ret, c;
	char name[NAME_MAX + 32], msg[1024], why[512] = "";
	struct refs pre, base, now;
	const char *cannot;
	bool bindable, refs;
	pid_t reader;
	off_t mark;

	bindable = inst_bindable(inst);
	snprintf(name, sizeof(name), "%s.%s", bindable ? "unbind_rebind" : "client_cycles",
		 inst->name);
	if (!inst->dev_name[0])
		cannot = "no parent device, as Intel VT-d registers its IOMMUs";
	else if (!inst->drv_path[0])
		cannot = "no driver bound to its device";
	else
		cannot = "its driver has suppress_bind_attrs";

	if (!inst->test && !iommu_selected(inst->name, inst->dev_name, false)) {
		skip_one(name, inst,
			 "real IOMMU (driver %s), not cycled by default: opt in with -d %s or -d all (KSELFTEST_IOMMU_UNBIND_REBIND_ARGS)",
			 inst->drv, inst->name);
		return -1;
	}
	/*
	 * Without a driver, its clients are what would be removed: often all
	 * of a machine's PCI devices (or a laptop's display), so only by name
	 */
	if (!inst->test && !inst->drv_path[0] &&
	    !iommu_selected(inst->name, inst->dev_name, true)) {
		skip_one(name, inst,
			 "%s: its PCI endpoint clients would be removed and rescanned; -d all does not, -d %s does",
			 cannot, inst->name);
		return -1;
	}

	nclients = list_clients(inst, clients, MAX_CLIENTS);
	if (nclients < 0) {
		ksft_test_result_code(KSFT_FAIL, name, "listing clients: %s",
				      strerror(-nclients));
		return -1;
	}
	if (cuts_our_branch(inst, clients, nclients, bindable, why, sizeof(why))) {
		skip_one(name, inst, "not cycled: %s", why);
		return -1;
	}
	for (int i = 0; i < nclients; i++) {
		nbound += !!clients[i].driver[0];
		nremove += pci_endpoint(&clients[i]) && !clients[i].needed;
	}
	if (!bindable && !nremove) {
		skip_one(name, inst, "cannot be unbound (%s), and no PCI endpoint to remove",
			 cannot);
		return -1;
	}
	ksft_print_msg("%s: device %s, driver %s, %d client(s), %d with a driver\n",
		       inst->name, inst->dev_name[0] ? inst->dev_name : "-",
		       inst->drv_path[0] ? inst->drv_path : "-", nclients, nbound);
	ksft_print_msg("%s: 1 warm-up and %d measured cycle(s) of %s%s%s\n", inst->name, cycles,
		       bindable ? "unbind and bind" : "PCI endpoint remove and rescan (",
		       bindable ? "" : cannot, bindable ? "" : ")");
	refs = inst->refs_dev[0];
	if (refs && refs_read(inst->refs_dev, &pre)) {
		ksft_test_result_code(KSFT_FAIL, name, "cannot read its counters");
		return -1;
	}
	if (!refs)
		ksft_print_msg("%s: no reference counters (%s)%s\n", inst->name,
			       refs_unavailable() ?: "not in " REFS_DIR,
			       ": only the cycles are checked");
	mark = journal_mark();
	ret = journal_inst(inst, clients, nclients, bindable);
	if (ret) {
		journal_clear_from(mark);
		ksft_test_result_code(KSFT_FAIL, name, "journal %s: %s", journal_path,
				      strerror(-ret));
		return -1;
	}
	if (kmsg_splat(msg, sizeof(msg)))
		ksft_print_msg("splat logged before %s was cycled: %s\n", inst->name, msg);

	reader = refs ? start_reader(inst->refs_dev) : 0;
	base = pre;
	for (c = 0, ret = 0; !ret && c <= cycles; c++) {
		ret = bindable ?
		      unbind_rebind(inst, clients, nclients, &rebound, msg, sizeof(msg)) :
		      remove_rescan(inst, clients, nclients, &rebound, msg, sizeof(msg));
		if (ret || !refs)
			continue;
		/* The baseline, after the warm-up cycle, once deferred puts are done */
		if (!c)
			refs_settle();
		if (refs_read(inst->refs_dev, c ? &now : &base))
			ret = failf(msg, sizeof(msg), "cannot read its counters");
	}
	stop_reader(reader);
	if (ret) {
		ksft_print_msg("%s: restoring after the failure: %d action(s)\n", inst->name,
			       journal_restore_from(mark));
		ksft_test_result_code(KSFT_FAIL, name, "%s %d: %s",
				      c == 1 ? "warm-up cycle" : "cycle", c - 1, msg);
		return -1;
	}
	journal_clear_from(mark);
	if (rebound)
		ksft_print_msg("%s: %d client driver(s) unbound with the IOMMU and bound again\n",
			       inst->name, rebound);
	if (refs) {
		if (refs_num(&base, "refcount") != refs_num(&pre, "refcount"))
			ksft_print_msg("%s: warm-up cycle: refcount %+lld (once, not a leak)\n",
				       inst->name,
				       refs_num(&base, "refcount") - refs_num(&pre, "refcount"));
		if (verdict_failed(inst, name, &base, &now))
			return -1;
		ksft_print_msg("%s: balanced: refcount %lld; %s %lld calls, refs +%lld -%lld\n",
			       inst->name, refs_num(&now, "refcount"), "probe_device",
			       refs_site(&now, "probe_device", "calls"),
			       refs_site(&now, "probe_device", "taken"),
			       refs_site(&now, "probe_device", "dropped"));
		ksft_print_msg("%s: taken and dropped outside the callbacks: %lld, %lld\n",
			       inst->name, refs_num(&now, "other.taken"),
			       refs_num(&now, "other.dropped"));
	} else {
		ksft_print_msg("iommu=%s driver=%s cycles=%d verdict=%s\n", inst->name,
			       inst->drv, cycles, "no-counters");
	}
	if (kmsg_splat(msg, sizeof(msg))) {
		ksft_test_result_code(KSFT_FAIL, name, "kernel splat during its cycles: %s", msg);
		return -1;
	}
	ksft_test_result_code(KSFT_PASS, name, NULL);
	*out = clients;
	return nclients;
}

/* Whether every client of @inst is in its devices directory, now */
static bool clients_present(const struct iommu_inst *inst, const struct client *clients,
			    int nclients)
{
	char path[PATH_MAX];

	for (int i = 0; i < nclients; i++) {
		snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices/%s", inst->name,
			 clients[i].name);
		if (!exists(path))
			return false;
	}
	return true;
}

/* The operation -F fails allocations in, for an IOMMU */
enum fail_op { FAIL_BIND, FAIL_REPROBE, FAIL_RESCAN };
static const char * const fail_op_names[] = { "bind", "reprobe", "PCI rescan" };

/*
 * One fault injection point: the n-th allocation of the operation @op that
 * runs @inst's callbacks in this task fails: the bind, which runs its
 * probe(), of_xlate() and probe_device(); when it cannot be unbound, the
 * reprobe of its driverless client @cl (release_device(), of_xlate(),
 * probe_device()) or the PCI rescan of its removed endpoint @cl.  Then what
 * that left is cycled cleanly.  *@err: the operation's result; *@degraded:
 * it succeeded but a client is not back; *@left, when not NULL: what was
 * left of @n after the operation (fail_nth_write()).  Returns 0, or -1
 * with @msg filled when the clean cycle failed.
 */
static int fail_point(const struct iommu_inst *inst, const struct client *clients,
		      int nclients, enum fail_op op, int cl, int n, bool *injected,
		      int *err, bool *degraded, long *left, char *msg, size_t len)
{
	char path[PATH_MAX + 16], cpath[PATH_MAX];
	int rebound = 0, ret;

	*degraded = false;
	if (op == FAIL_BIND) {
		if (unbind_inst(inst, msg, len))
			return -1;
		snprintf(path, sizeof(path), "%s/bind", inst->drv_path);
		*err = fail_nth_write(path, inst->dev_name, n, injected, left);
		snprintf(path, sizeof(path), IOMMU_CLASS "/%s", inst->name);
		if (!*err && exists(path)) {
			if (clients_present(inst, clients, nclients))
				return clients_back(inst, clients, nclients, &rebound, msg, len);
			*degraded = true;
		}
		if (dev_bound(inst->bus, inst->dev_name) && unbind_inst(inst, msg, len))
			return -1;
		return bind_inst(inst, clients, nclients, &rebound, msg, len);
	}
	if (op == FAIL_RESCAN) {
		if (remove_clients(&clients[cl], 1, msg, len))
			return -1;
		*err = fail_nth_write("/sys/bus/pci/rescan", "1", n, injected, left);
		*degraded = !*err && !clients_present(inst, &clients[cl], 1);
		return remove_rescan(inst, &clients[cl], 1, &rebound, msg, len);
	}
	snprintf(path, sizeof(path), REFS_DIR "/%s/reprobe", inst->refs_dev);
	snprintf(cpath, sizeof(cpath), IOMMU_CLASS "/%s/devices/%s", inst->name,
		 clients[cl].name);
	*err = fail_nth_write(path, clients[cl].name, n, injected, left);
	*degraded = !*err && !exists(cpath);
	ret = write_str(path, clients[cl].name);
	/* Released and not probed again, it is no client for reprobe: rescan */
	if (ret == -EINVAL && pci_endpoint(&clients[cl]) && !clients[cl].needed) {
		ret = remove_clients(&clients[cl], 1, msg, len);
		if (ret)
			return -1;
		ret = write_str("/sys/bus/pci/rescan", "1");
	}
	if (ret)
		return failf(msg, len, "reprobe %s: %s", clients[cl].name, strerror(-ret));
	if (wait_for(cpath, true))
		return failf(msg, len, "%s: not back after reprobe", clients[cl].name);
	return 0;
}

/*
 * The counters are compared once per FAIL_BATCH points: each comparison
 * waits for deferred puts (refs_settle(), up to 4 s with
 * DEBUG_KOBJECT_RELEASE).  A batch that leaked is run again point by point
 * to name the point.
 */
#define FAIL_BATCH	10

/*
 * -F N: fault injection points 1, 2, ... N of @inst (-F M-N: M, ... N),
 * until the operation no longer reaches the n-th allocation; a clean run
 * first counts about how many points it reaches (a long sweep prints its
 * progress against that count).  After each point, the clients must be
 * back with their drivers (the clean cycle checks it), the kernel log must
 * stay free of splats and the counters, when it has them, at their
 * baseline (FAIL_BATCH).
 * An operation that succeeded without a client is reported as degraded,
 * not failed: when the firmware parsing of a client fails,
 * of_dma_configure_id() and acpi_dma_configure_id() carry on without its
 * IOMMU by design.  kmemleak, when the kernel has it, scans once at the
 * end (reported, not a verdict: its suspects may come from anywhere in
 * the kernel).
 *
 * Only the allocations made under one kernel function count and fail,
 * when the kernel has the stack-trace filter: for a bind, the driver's
 * probe() as the bus calls it (the counters' driver_probe.fn), for a
 * reprobe or a rescan iommu_probe_device(); not those of the driver core,
 * sysfs or the PCI core along the way.  Without the filter a bind or a
 * reprobe fails any allocation of the task, and a rescan is not tried:
 * an allocation failing in the PCI core's device_add() oopses it.
 */
static void test_fail_nth(const struct iommu_inst *inst, struct client *clients,
			  int nclients, bool rescan)
{
	int points = 0, leaks = 0, splats = 0, bad = 0, ret = 0, err = 0, n, m = 0;
	char name[NAME_MAX + 32], msg[1024] = "", kml[512], fn[160] = "", of[NAME_MAX + 8] = "";
	bool bindable = inst_bindable(inst), injected = true, degraded, reached = false, over;
	bool refs = inst->refs_dev[0];
	const char *no_fail = NULL, *unfiltered = NULL, *drv;
	int cl = -1, ep = -1, last = 0, kl, first = 0, first_err = 0;
	long reach = -1;
	struct refs base, now;
	enum fail_op op;
	off_t mark, fmark;

	drv = inst->drv[0] ? inst->drv : inst->name;
	snprintf(name, sizeof(name), "fail_nth%s.%s", rescan ? "_rescan" : "", inst->name);
	/* Reprobe the first client without a driver, or rescan the first endpoint */
	for (int i = 0; !bindable && i < nclients; i++) {
		if (cl < 0 && !clients[i].driver[0])
			cl = i;
		if (ep < 0 && pci_endpoint(&clients[i]) && !clients[i].needed)
			ep = i;
	}
	op = bindable ? FAIL_BIND : refs && cl >= 0 ? FAIL_REPROBE : FAIL_RESCAN;
	if (nclients < 0)
		no_fail = "not cycled: see its unbind_rebind or client_cycles result";
	else if (rescan && op != FAIL_REPROBE)
		no_fail = "no client to probe again: its fail_nth result sweeps the rescan";
	else if ((rescan || op == FAIL_RESCAN) && ep < 0)
		no_fail = "cannot be unbound, no client to probe again or endpoint to remove";
	if (rescan || op == FAIL_RESCAN) {
		op = FAIL_RESCAN;
		cl = ep;
	}
	if (op == FAIL_BIND && refs && !refs_read(inst->refs_dev, &base) &&
	    strcmp(refs_str(&base, "driver_probe.fn"), "-"))
		snprintf(fn, sizeof(fn), "%s", refs_str(&base, "driver_probe.fn"));
	else if (op != FAIL_BIND)
		snprintf(fn, sizeof(fn), "iommu_probe_device");
	if (no_fail) {
		ksft_test_result_code(KSFT_SKIP, name, "%s", no_fail);
		return;
	}
	mark = journal_mark();
	ret = journal_inst(inst, clients, nclients, bindable);
	no_fail = ret ? "cannot journal" : fail_nth_init(&fmark, fn[0] ? fn : NULL);
	if (!ret && no_fail && fn[0] && op != FAIL_RESCAN) {
		unfiltered = no_fail;
		no_fail = fail_nth_init(&fmark, NULL);
	} else if (!ret && no_fail && op == FAIL_RESCAN) {
		snprintf(msg, sizeof(msg), "%s: %s, which a rescan needs (%s)", fn, no_fail,
			 "a failed device_add() oopses the PCI core");
		no_fail = msg;
	}
	if (no_fail) {
		journal_clear_from(mark);
		ksft_test_result_code(KSFT_SKIP, name, "%s", no_fail);
		return;
	}
	if (op != FAIL_BIND)
		snprintf(of, sizeof(of), " of %s", clients[cl].name);
	ksft_print_msg("%s: fault injection: allocation n of each %s%s fails, n = %d..%d, %s%s\n",
		       inst->name, fail_op_names[op], of, fail_first, fail_points,
		       fn[0] && !unfiltered ? "counting only those under " : "any allocation: ",
		       fn[0] && !unfiltered ? fn : unfiltered ?: "no function to filter on");
	kl = kmemleak(false, kml, sizeof(kml));
	if (kl >= 0)
		kmemleak(true, kml, sizeof(kml));
	/* A clean run first, which counts about how many points the sweep has */
	ret = fail_point(inst, clients, nclients, op, cl, INT_MAX, &over, &err, &degraded,
			 &reach, msg, sizeof(msg));
	if (!ret && (err || degraded || kmsg_splat(kml, sizeof(kml)))) {
		snprintf(msg, sizeof(msg), "the clean %s: %s%s", fail_op_names[op],
			 err ? strerror(-err) : degraded ? "a client without its IOMMU" :
			 "kernel splat: ", err || degraded ? "" : kml);
		ret = -1;
	} else if (!ret && (over || reach < 0)) {
		ksft_print_msg("%s: the clean %s: fail-nth not counted down\n", inst->name,
			       fail_op_names[op]);
		reach = -1;
	} else if (!ret) {
		reach = INT_MAX - reach;
		ksft_print_msg("%s: a clean %s reaches %ld point%s\n", inst->name,
			       fail_op_names[op], reach, reach == 1 ? "" : "s");
	}
	if (!ret && refs) {
		ret = refs_settle() ?: refs_read(inst->refs_dev, &base);
		if (ret)
			snprintf(msg, sizeof(msg), "counters: %s", strerror(-ret));
	}
	for (n = fail_first; !ret && injected && n <= fail_points; n = last + 1) {
		for (m = n; !ret && m < n + FAIL_BATCH && m <= fail_points; m++) {
			ret = fail_point(inst, clients, nclients, op, cl, m, &injected, &err,
					 &degraded, NULL, msg, sizeof(msg));
			if (ret || !injected)
				break;
			points++;
			last = m;
			if (!(m % 100) && m <= reach)
				ksft_print_msg("%s: point %d of about %ld\n", inst->name, m, reach);
			if (degraded) {
				ksft_print_msg("%s: point %d of the %s: %s\n", inst->name, m,
					       fail_op_names[op],
					       "it succeeded, a client without its IOMMU");
				bad++;
			}
			if (kmsg_splat(msg, sizeof(msg))) {
				ksft_print_msg("%s: point %d of the %s (%s): kernel splat: %s\n",
					       inst->name, m, fail_op_names[op],
					       err ? strerror(-err) : "success", msg);
				splats++;
			}
		}
		if (ret || last < n || !refs)
			continue;
		ret = refs_check(inst->refs_dev, &base, 1, &now, msg, sizeof(msg));
		if (ret < 0)
			snprintf(msg, sizeof(msg), "counters: %s", strerror(-ret));
		if (ret <= 0)
			continue;
		/* Which points leaked: each of the batch again, alone */
		base = now;
		ret = 0;
		for (m = n; !ret && m <= last; m++) {
			ret = fail_point(inst, clients, nclients, op, cl, m, &injected, &err,
					 &degraded, NULL, msg, sizeof(msg));
			if (ret ||
			    refs_check(inst->refs_dev, &base, 1, &now, msg, sizeof(msg)) <= 0)
				continue;
			if (!leaks++) {
				first = m;
				first_err = err;
			}
			ksft_print_msg("%s: point %d of the %s (%s): %s\n", inst->name, m,
				       fail_op_names[op], err ? strerror(-err) : "success", msg);
			base = now;
		}
		injected = true;
	}
	/* None from M > 1: fewer than M, unless point 1 is not reached either */
	if (!ret && !points && fail_first > 1)
		ret = fail_point(inst, clients, nclients, op, cl, 1, &reached, &err, &degraded,
				 NULL, msg, sizeof(msg));
	if (ret) {
		ksft_print_msg("%s: restoring after the failure: %d action(s)\n", inst->name,
			       journal_restore_from(mark));
		if (m)
			ksft_test_result_code(KSFT_FAIL, name, "point %d: %s", m, msg);
		else
			ksft_test_result_code(KSFT_FAIL, name, "before the sweep: %s", msg);
		return;
	}
	journal_restore_from(fmark);
	journal_clear_from(mark);
	if (kl >= 0) {
		kl = kmemleak(false, kml, sizeof(kml));
		ksft_print_msg("%s: kmemleak: %d new suspect(s)%s%s\n", inst->name, kl > 0 ? kl : 0,
			       kl > 0 ? ", the first: " : "", kl > 0 ? kml : "");
	}
	if (refs)
		snprintf(msg, sizeof(msg), "%d leaks", leaks);
	else
		snprintf(msg, sizeof(msg), "no counters");
	snprintf(of, sizeof(of), " from point %d", fail_first);
	ksft_print_msg("%s (%s): %d points of the %s%s%s, %s, %d splats, %d degraded\n",
		       name, drv, points, fail_op_names[op], fail_first > 1 ? of : "",
		       injected ? " (bounded by -F)" : "", msg, splats, bad);
	/* A filter that matches nothing would pass without testing anything */
	if (!points && reached)
		ksft_test_result_code(KSFT_SKIP, name, "the %s has fewer than %d points",
				      fail_op_names[op], fail_first);
	else if (!points)
		ksft_test_result_code(KSFT_FAIL, name, "the %s reached no injection point%s%s",
				      fail_op_names[op], fn[0] && !unfiltered ? " under " : "",
				      fn[0] && !unfiltered ? fn : "");
	else if (leaks)
		ksft_test_result_code(KSFT_FAIL, name,
				      "%d leak(s), the first at point %d of the %s (%s)",
				      leaks, first, fail_op_names[op],
				      first_err ? strerror(-first_err) : "success");
	else if (splats)
		ksft_test_result_code(KSFT_FAIL, name, "%d kernel splat(s)", splats);
	else
		ksft_test_result_code(KSFT_PASS, name, NULL);
}

/*
 * Whether -F also sweeps a PCI rescan of @inst, a "fail_nth_rescan."
 * result: an IOMMU with counters that cannot be unbound, whose fail_nth
 * result sweeps the reprobe of a client when it has one without a driver
 */
static bool wants_rescan(const struct iommu_inst *inst)
{
	return inst->refs_dev[0] && !inst_bindable(inst);
}

/*
 * Whether @inst gets a "reprobe." result: a watched IOMMU that cannot be
 * unbound, or any watched one with -r
 */
static bool wants_reprobe(const struct iommu_inst *inst)
{
	return inst->refs_dev[0] && (use_reprobe || !inst_bindable(inst));
}

/*
 * Probe the clients of @inst that have no driver again, through
 * REFS_DIR/<device>/reprobe (the driver's release_device(), of_xlate()
 * and probe_device()), without unbinding anything: one warm-up cycle,
 * then the measured ones, and the counters must return to their baseline.
 * A client with a driver is refused by the kernel and not tried.
 */
static void test_reprobe_one(const struct iommu_inst *inst)
{
	static struct client clients[MAX_CLIENTS];
	static bool busy[MAX_CLIENTS];
	char name[NAME_MAX + 32], msg[1024] = "", path[PATH_MAX];
	long long calls;
	int nclients, nfree = 0, nbusy = 0, ret = 0, c;
	struct refs base, now;

	snprintf(name, sizeof(name), "reprobe.%s", inst->name);
	if (!inst->test && !iommu_selected(inst->name, inst->dev_name, false)) {
		skip_one(name, inst,
			 "real IOMMU (driver %s), not cycled by default: opt in with -d %s or -d all (KSELFTEST_IOMMU_UNBIND_REBIND_ARGS)",
			 inst->drv[0] ? inst->drv : "-", inst->name);
		return;
	}
	nclients = list_clients(inst, clients, MAX_CLIENTS);
	for (int i = 0; i < nclients; i++) {
		nfree += !clients[i].driver[0];
		busy[i] = false;
	}
	if (nclients < 0 || !nfree) {
		skip_one(name, inst, "no client without a driver to probe again%s%s",
			 nclients < 0 ? ": " : "", nclients < 0 ? strerror(-nclients) : "");
		return;
	}
	ksft_print_msg("%s: 1 warm-up and %d measured cycle(s) of %s %d client(s) %s\n",
		       inst->name, cycles, "probing again its", nfree, "without a driver");
	ret = refs_read(inst->refs_dev, &base);
	for (c = 0; !ret && c <= cycles; c++) {
		for (int i = 0; !ret && i < nclients; i++) {
			if (clients[i].driver[0] || busy[i])
				continue;
			snprintf(path, sizeof(path), REFS_DIR "/%s/reprobe", inst->refs_dev);
			ret = write_str(path, clients[i].name);
			/* Its group is in use (a sibling's driver): left alone */
			if (ret == -EBUSY) {
				ksft_print_msg("%s: %s not probed again: its group is in use\n",
					       inst->name, clients[i].name);
				busy[i] = true;
				nbusy++;
				ret = 0;
				continue;
			}
			if (ret) {
				failf(msg, sizeof(msg), "reprobe %s: %s", clients[i].name,
				      strerror(-ret));
				continue;
			}
			snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices/%s", inst->name,
				 clients[i].name);
			if (!exists(path))
				ret = failf(msg, sizeof(msg), "%s: not back after reprobe",
					    clients[i].name);
		}
		if (!ret && !c)
			refs_settle();
		if (!ret)
			ret = refs_read(inst->refs_dev, c ? &now : &base);
		if (ret)
			break;
	}
	if (ret) {
		ksft_test_result_code(KSFT_FAIL, name, "%s", *msg ? msg : strerror(-ret));
		return;
	}
	if (nbusy == nfree) {
		skip_one(name, inst, "every client without a driver is in a group in use");
		return;
	}
	/* The cycles did call the driver: a probe_device() per client */
	calls = refs_site(&now, "probe_device", "calls") -
		refs_site(&base, "probe_device", "calls");
	if (calls < (long long)cycles * (nfree - nbusy)) {
		ksft_test_result_code(KSFT_FAIL, name, "%d cycle(s) of %d client(s): %lld %s",
				      cycles, nfree - nbusy, calls, "probe_device() calls");
		return;
	}
	if (verdict_failed(inst, name, &base, &now))
		return;
	if (kmsg_splat(msg, sizeof(msg))) {
		ksft_test_result_code(KSFT_FAIL, name, "kernel splat during its cycles: %s", msg);
		return;
	}
	ksft_test_result_code(KSFT_PASS, name, NULL);
}

int main(int argc, char *argv[])
{
	static struct iommu_inst insts[MAX_IOMMUS];
	char insts_test[TEST_IOMMU_MAX][NAME_MAX + 1], why[PATH_MAX + 64];
	const char *no_test;
	bool loaded = false;
	int n, plan;

	parse_args(argc, argv);

	if (geteuid()) {
		check_selected(argv[0]);
		ksft_exit_skip("must be root to unbind drivers\n");
	}
	ksft_print_header();
	/* First bring back what a killed run left: its IOMMU may be unbound */
	if (journal_init(why, sizeof(why)))
		ksft_exit_skip("%s\n", why);
	if (restore_only) {
		journal_clear();
		exit(KSFT_PASS);
	}
	/* (after the replay: a -d IOMMU a killed run left unbound is back) */
	check_selected(argv[0]);
	no_test = refs_unavailable();
	if (no_test)
		ksft_exit_skip("%s: nothing to check a cycle against\n", no_test);

	kmsg_open();
	no_test = exists(TEST_IOMMU_DRIVER) ? NULL : test_iommu_unavailable();
	if (!no_test && !exists(TEST_IOMMU_DRIVER)) {
		int ret = journal_add("unload %s", TEST_IOMMU_MODULE);

		if (!ret)
			ret = test_iommu_load("instances=1 clients=4");
		if (ret) {
			snprintf(why, sizeof(why), "loading %s: %s", TEST_IOMMU_MODULE,
				 strerror(-ret));
			no_test = why;
			journal_restore();
		} else {
			loaded = true;
			ret = test_iommu_instances(insts_test);
			for (int i = 0; i < ret; i++)
				journal_add("unbind platform %s %s", TEST_IOMMU_DRIVER_NAME,
					    insts_test[i]);
		}
	}
	if (no_test)
		ksft_print_msg("no test IOMMU instances: %s\n", no_test);

	n = find_iommus(insts, MAX_IOMMUS);
	if (n <= 0) {
		journal_restore();
		ksft_exit_skip("no IOMMU in %s%s%s\n", IOMMU_CLASS, no_test ? " and " : "",
			       no_test ?: "");
	}
	plan = fail_points ? 2 * n : n;
	for (int i = 0; i < n; i++)
		plan += wants_reprobe(&insts[i]) + (fail_points && wants_rescan(&insts[i]));
	ksft_set_plan(plan);
	for (int i = 0; i < n; i++) {
		struct client *clients = NULL;
		int nclients = test_one(&insts[i], &clients);

		if (fail_points)
			test_fail_nth(&insts[i], clients, nclients, false);
		if (fail_points && wants_rescan(&insts[i]))
			test_fail_nth(&insts[i], clients, nclients, true);
		if (wants_reprobe(&insts[i]))
			test_reprobe_one(&insts[i]);
	}
	/* A splat logged after the last check (a deferred release) */
	if (kmsg_splat(why, sizeof(why))) {
		journal_restore();
		ksft_exit_fail_msg("kernel splat after the last cycle: %s\n", why);
	}

	if (loaded) {
		int ret = test_iommu_unload();

		if (ret)
			ksft_print_msg("unloading %s: %s\n", TEST_IOMMU_MODULE, strerror(-ret));
		else
			journal_clear();
	}
	if (!ksft_get_pass_cnt() && !ksft_get_fail_cnt()) {
		ksft_print_cnts();
		exit(KSFT_SKIP);
	}
	ksft_finished();
}
