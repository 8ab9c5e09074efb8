/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What keeps the IOMMU unbind/rebind selftests safe on a real machine:
 *
 *  - a journal of every change (a driver unbound, a device removed, the
 *    test module loaded), written before the change, replayed by a signal
 *    handler when the program is stopped (the runner's timeout sends
 *    SIGTERM) or crashes, and by the next run when the program was killed
 *    with SIGKILL;
 *  - the devices the machine depends on: those under a mounted
 *    filesystem, a swap area, the console or the program's own terminal,
 *    and the network interface of a default route; an IOMMU whose cycle
 *    would take one of them away is not cycled;
 *  - the kernel log (/dev/kmsg), read from the program's start, so that a
 *    WARNING, BUG, Oops, KASAN, lockdep or refcount_t report fails the
 *    result of the instance whose cycle produced it.
 *
 * See Documentation/iommu/selftests.rst.
 */
#ifndef __SELFTESTS_IOMMU_SAFETY_H
#define __SELFTESTS_IOMMU_SAFETY_H

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "iommu_refs.h"

#define JOURNAL_ENV	"IOMMU_SELFTESTS_STATE"
#define JOURNAL_MAX	(64 * 1024)

static char journal_path[PATH_MAX];
static int journal_fd = -1;
static pid_t journal_owner;
static sig_atomic_t journal_restoring;

static inline void sig_puts(const char *s)
{
	if (write(STDOUT_FILENO, s, strlen(s)) < 0)
		return;
}

/* Is a driver bound to /sys/bus/@bus/devices/@dev?  Signal safe. */
static inline bool dev_bound(const char *bus, const char *dev)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s/driver", bus, dev);
	return !access(path, F_OK);
}

static inline bool dev_exists(const char *bus, const char *dev)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s", bus, dev);
	return !access(path, F_OK);
}

static inline void sig_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0)
		sig_puts("# restore: write failed\n");
	close(fd);
}

/* Up to @ms for @bus/@dev to appear (after a bind or a rescan). */
static inline void sig_wait_dev(const char *bus, const char *dev, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < ms / 10 && !dev_exists(bus, dev); i++)
		nanosleep(&ts, NULL);
}

/* delete_module() of @mod, retried while the core drops its references. */
static inline int sig_unload(const char *mod)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < 500; i++) {
		if (!syscall(SYS_delete_module, mod, O_NONBLOCK))
			return 0;
		if (errno != EAGAIN && errno != EBUSY)
			return -errno;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/*
 * Undo what the journal records, in the order that brings a machine back:
 * IOMMU drivers first, then the PCI rescan, then the client drivers, then
 * the test module (its instances unbound, then unloaded).  Each step checks
 * the current state first, so replaying a journal twice is harmless.  Only
 * async-signal-safe calls (and snprintf/sscanf on local buffers) are used:
 * this runs in signal handlers.  Returns the number of actions taken.
 *
 * Lines: "bind BUS DRIVER DEV", "rescan", "probe BUS DEV",
 * "unbind BUS DRIVER DEV", "unload MODULE".
 */
static inline int journal_replay(const char *buf)
{
	char a[16], b[NAME_MAX + 1], c[NAME_MAX + 1], d[NAME_MAX + 1];
	char path[PATH_MAX], line[4 * NAME_MAX];
	int done = 0;

	for (int pass = 0; pass < 5; pass++) {
		const char *l, *nl;

		for (l = buf; *l; l = nl ? nl + 1 : l + strlen(l)) {
			size_t len;
			int n;

			nl = strchr(l, '\n');
			len = nl ? (size_t)(nl - l) : strlen(l);
			if (len >= sizeof(line))
				continue;
			memcpy(line, l, len);
			line[len] = '\0';
			n = sscanf(line, "%15s %255s %255s %255s", a, b, c, d);
			if (pass == 0 && n == 4 && !strcmp(a, "bind") && dev_exists(b, d) &&
			    !dev_bound(b, d)) {
				snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/bind", b, c);
				sig_write(path, d);
				done++;
			} else if (pass == 1 && n >= 1 && !strcmp(a, "rescan")) {
				sig_write("/sys/bus/pci/rescan", "1");
				done++;
			} else if (pass == 2 && n == 3 && !strcmp(a, "probe")) {
				sig_wait_dev(b, c, 2000);
				if (!dev_exists(b, c) || dev_bound(b, c))
					continue;
				/* Its probe may be deferred while the IOMMU settles */
				snprintf(path, sizeof(path), "/sys/bus/%s/drivers_probe", b);
				for (int i = 0; i < 20 && !dev_bound(b, c); i++) {
					struct timespec ts = { 0, 100 * 1000 * 1000 };

					sig_write(path, c);
					nanosleep(&ts, NULL);
				}
				done++;
			} else if (pass == 3 && n == 4 && !strcmp(a, "unbind")) {
				snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/%s", b, c, d);
				if (access(path, F_OK))
					continue;
				snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/unbind", b, c);
				sig_write(path, d);
				done++;
			} else if (pass == 4 && n == 2 && !strcmp(a, "unload")) {
				snprintf(path, sizeof(path), "/sys/module/%s/initstate", b);
				if (!access(path, F_OK) && !sig_unload(b))
					done++;
			}
		}
	}
	return done;
}

/* Replay and empty the journal. */
static inline int journal_restore(void)
{
	static char buf[JOURNAL_MAX];
	ssize_t n;
	int done;

	if (journal_fd < 0)
		return 0;
	n = pread(journal_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	done = journal_replay(buf);
	if (ftruncate(journal_fd, 0))
		sig_puts("# restore: cannot empty the journal\n");
	return done;
}

/* Record @line (no newline) before making the change it undoes. */
static inline int journal_add(const char *fmt, ...)
{
	char line[3 * NAME_MAX + 32];
	va_list ap;
	int len;

	if (journal_fd < 0)
		return -EBADF;
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0 || len >= (int)sizeof(line) - 1)
		return -ENAMETOOLONG;
	line[len++] = '\n';
	if (write(journal_fd, line, len) != len || fsync(journal_fd))
		return -EIO;
	return 0;
}

/* Everything recorded is back: forget it. */
static inline void journal_clear(void)
{
	if (journal_fd >= 0 && ftruncate(journal_fd, 0))
		ksft_print_msg("cannot empty %s: %s\n", journal_path, strerror(errno));
}

static inline void journal_signal(int sig)
{
	char msg[128];
	int done;

	if (getpid() == journal_owner && !journal_restoring) {
		journal_restoring = 1;
		snprintf(msg, sizeof(msg), "# signal %d: restoring what this run changed\n", sig);
		sig_puts(msg);
		done = journal_restore();
		snprintf(msg, sizeof(msg), "# restored: %d action(s)\n", done);
		sig_puts(msg);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Open (and lock) the journal; replay what an earlier run that was killed
 * left in it, and say so; restore on the signals that end a program.
 * Returns 0, or -errno with @why filled (the program is then skipped).
 */
static inline int journal_init(char *why, size_t len)
{
	static const int sigs[] = {
		SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
	};
	const char *env = getenv(JOURNAL_ENV);
	struct sigaction sa = { .sa_handler = journal_signal };
	struct stat st;
	int done;

	if (env && *env)
		snprintf(journal_path, sizeof(journal_path), "%s", env);
	else
		snprintf(journal_path, sizeof(journal_path), "%s/iommu-selftests.state",
			 !stat("/run", &st) && S_ISDIR(st.st_mode) && !access("/run", W_OK) ?
			 "/run" : "/tmp");
	journal_fd = open(journal_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (journal_fd < 0) {
		snprintf(why, len, "cannot open the journal %s: %s", journal_path,
			 strerror(errno));
		return -errno;
	}
	/* Without CONFIG_FILE_LOCKING, run unlocked */
	if (flock(journal_fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK) {
		snprintf(why, len, "%s is locked: another IOMMU selftest is running",
			 journal_path);
		close(journal_fd);
		journal_fd = -1;
		return -EBUSY;
	}
	journal_owner = getpid();
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	if (!fstat(journal_fd, &st) && st.st_size) {
		ksft_print_msg("%s: an earlier run was killed before it restored the machine\n",
			       journal_path);
		done = journal_restore();
		ksft_print_msg("%s: restored (%d action(s))\n", journal_path, done);
	}
	return 0;
}

/* Devices the machine depends on */

#define MAX_NEEDED	64

static struct needed {
	char path[PATH_MAX];	/* /sys/devices/... */
	char why[128];
} needed[MAX_NEEDED];
static int nr_needed;

static inline void need_path(const char *syspath, const char *fmt, const char *what)
{
	char real[PATH_MAX];

	if (nr_needed == MAX_NEEDED || !realpath(syspath, real))
		return;
	for (int i = 0; i < nr_needed; i++)
		if (!strcmp(needed[i].path, real))
			return;
	snprintf(needed[nr_needed].path, PATH_MAX, "%s", real);
	snprintf(needed[nr_needed].why, sizeof(needed[0].why), fmt, what);
	nr_needed++;
}

/* A block device and, for dm/md, the devices it sits on. */
static inline void need_block(unsigned int maj, unsigned int min, const char *fmt,
			      const char *what, int depth)
{
	char path[PATH_MAX], sub[PATH_MAX + NAME_MAX + 16], buf[32];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", maj, min);
	need_path(path, fmt, what);
	snprintf(sub, sizeof(sub), "%s/slaves", path);
	d = depth < 8 ? opendir(sub) : NULL;
	while (d && (de = readdir(d))) {
		unsigned int a, b;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/slaves/%s/dev", path, de->d_name);
		f = fopen(sub, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &a, &b) == 2)
			need_block(a, b, fmt, what, depth + 1);
		fclose(f);
	}
	if (d)
		closedir(d);
}

static inline void need_mounts(void)
{
	char line[4096], mnt[PATH_MAX], what[PATH_MAX + 32];
	unsigned int maj, min;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint ... */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3 || !maj)
			continue;
		snprintf(what, sizeof(what), "%s%s", !strcmp(mnt, "/") ? "the root " : "", mnt);
		need_block(maj, min, "holds the mounted filesystem %s", what, 0);
	}
	if (f)
		fclose(f);
}

static inline void need_swaps(void)
{
	char line[4096], name[PATH_MAX];
	struct stat st;
	FILE *f = fopen("/proc/swaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%4095s", name) != 1 || name[0] != '/' || stat(name, &st))
			continue;
		if (S_ISBLK(st.st_mode))
			need_block(major(st.st_rdev), minor(st.st_rdev), "holds swap %s", name, 0);
		else
			need_block(major(st.st_dev), minor(st.st_dev), "holds the swap file %s",
				   name, 0);
	}
	if (f)
		fclose(f);
}

static inline void need_tty(const char *tty, const char *fmt)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/class/tty/%s/device", tty);
	need_path(path, fmt, tty);
}

static inline void need_consoles(void)
{
	char buf[512], *tok, *save;
	struct stat st;
	FILE *f = fopen("/sys/class/tty/console/active", "r");

	if (f && fgets(buf, sizeof(buf), f))
		for (tok = strtok_r(buf, "\n ", &save); tok; tok = strtok_r(NULL, "\n ", &save))
			need_tty(tok, "is the console %s");
	if (f)
		fclose(f);
	/* The terminal or disk this program writes its results to */
	for (int fd = 0; fd <= 2; fd++) {
		char path[PATH_MAX], what[16];

		if (fstat(fd, &st))
			continue;
		snprintf(what, sizeof(what), "%d", fd);
		if (S_ISCHR(st.st_mode)) {
			snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/device",
				 major(st.st_rdev), minor(st.st_rdev));
			need_path(path, "is this program's file descriptor %s", what);
		} else if (S_ISREG(st.st_mode) && major(st.st_dev)) {
			need_block(major(st.st_dev), minor(st.st_dev),
				   "holds this program's file descriptor %s", what, 0);
		}
	}
}

static inline void need_route_file(const char *file, bool v6)
{
	char line[512], iface[64], dst[64], path[PATH_MAX];
	unsigned int plen = 0;
	FILE *f = fopen(file, "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (v6) {
			/* dst plen src plen next metric refcnt use flags iface */
			if (sscanf(line, "%63s %x %*s %*s %*s %*s %*s %*s %*s %63s",
				   dst, &plen, iface) != 3 || plen ||
			    strspn(dst, "0") != strlen(dst) || !strcmp(iface, "lo"))
				continue;
		} else if (sscanf(line, "%63s %63s", iface, dst) != 2 ||
			   strcmp(dst, "00000000")) {
			continue;
		}
		snprintf(path, sizeof(path), "/sys/class/net/%s/device", iface);
		need_path(path, "carries the default route (%s)", iface);
	}
	if (f)
		fclose(f);
}

/* Collect the devices the machine depends on. */
static inline void needed_scan(void)
{
	nr_needed = 0;
	need_mounts();
	need_swaps();
	need_consoles();
	need_route_file("/proc/net/route", false);
	need_route_file("/proc/net/ipv6_route", true);
}

/*
 * Why taking @syspath (a /sys/devices path) and everything under it away
 * would cut the branch we sit on, or NULL.
 */
static inline const char *needed_under(const char *syspath)
{
	char real[PATH_MAX];
	size_t len;

	if (!realpath(syspath, real))
		return NULL;
	len = strlen(real);
	for (int i = 0; i < nr_needed; i++)
		if (!strncmp(needed[i].path, real, len) &&
		    (needed[i].path[len] == '/' || !needed[i].path[len]))
			return needed[i].why;
	return NULL;
}

/* The kernel log */

static int kmsg_fd = -1;

/* From now on: records already in the log are not ours. */
static inline void kmsg_open(void)
{
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd < 0)
		ksft_print_msg("/dev/kmsg: %s: kernel splats are not checked\n",
			       strerror(errno));
	else
		lseek(kmsg_fd, 0, SEEK_END);
}

/*
 * Read the records logged since the last call; 1 with the first splat's
 * line in @line, 0 when there is none.
 */
static inline int kmsg_splat(char *line, size_t len)
{
	static const char * const heads[] = {
		"WARNING:", "BUG:", "Oops", "kernel BUG at", "KASAN:", "UBSAN:",
		"KFENCE:", "general protection fault", "Unable to handle kernel",
		"Internal error:", "refcount_t:", "possible circular locking",
		"inconsistent lock state", "possible recursive locking",
		"suspicious RCU usage", "Kernel panic", "list_add corruption",
		"list_del corruption",
	};
	char rec[8192];
	int found = 0;
	ssize_t n;

	if (kmsg_fd < 0)
		return 0;
	for (;;) {
		char *msg;

		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg || found)
			continue;
		msg++;
		msg[strcspn(msg, "\n")] = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
			if (strstr(msg, heads[i]) == msg ||
			    (i >= 9 && strstr(msg, heads[i]))) {
				snprintf(line, len, "%s", msg);
				found = 1;
				break;
			}
		}
	}
	return found;
}

#endif /* __SELFTESTS_IOMMU_SAFETY_H */
