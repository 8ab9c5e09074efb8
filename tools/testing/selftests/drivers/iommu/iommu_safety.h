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
#define JOURNAL_MAX	(256 * 1024)

static char journal_path[PATH_MAX];
static int journal_fd = -1;
static pid_t journal_owner;
static off_t journal_base;	/* after the "boot" line */
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

struct sig_dirent {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* A directory read with getdents64, not opendir(), which may allocate */
struct sig_dir {
	int fd;
	long n, off;
	char buf[4096];
};

static inline bool sig_dir_open(struct sig_dir *d, const char *dir)
{
	d->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->n = 0;
	d->off = 0;
	return d->fd >= 0;
}

/* The next entry of @d, or NULL at its end, where @d is closed */
static inline struct sig_dirent *sig_dir_next(struct sig_dir *d)
{
	struct sig_dirent *de;

	if (d->off >= d->n) {
		d->n = syscall(SYS_getdents64, d->fd, d->buf, sizeof(d->buf));
		d->off = 0;
		if (d->n <= 0) {
			close(d->fd);
			return NULL;
		}
	}
	de = (struct sig_dirent *)(d->buf + d->off);
	d->off += de->d_reclen;
	return de;
}

/*
 * Unbind every device bound to the driver in /sys/bus/@bus/drivers/@drv
 * (its entries that are symlinks)
 */
static inline void sig_unbind_all(const char *bus, const char *drv)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct sig_dirent *de;
	struct sig_dir d;

	snprintf(dir, sizeof(dir), "/sys/bus/%s/drivers/%s", bus, drv);
	if (snprintf(path, sizeof(path), "%s/unbind", dir) >= (int)sizeof(path) ||
	    !sig_dir_open(&d, dir))
		return;
	while ((de = sig_dir_next(&d)))
		if (de->d_type == DT_LNK && strcmp(de->d_name, "module"))
			sig_write(path, de->d_name);
}

/*
 * Release the test driver's instances that cannot be unbound: write to the
 * "release" file of each directory of /sys/kernel/debug/test-iommu that
 * has one.
 */
static inline void sig_release_fixed(void)
{
	char path[PATH_MAX];
	struct sig_dirent *de;
	struct sig_dir d;

	if (!sig_dir_open(&d, "/sys/kernel/debug/test-iommu"))
		return;
	while ((de = sig_dir_next(&d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "/sys/kernel/debug/test-iommu/%s/release",
			     de->d_name) < (int)sizeof(path) && !access(path, F_OK))
			sig_write(path, "1");
}

/*
 * delete_module() of the test module, retried while the core drops its
 * references, after unbinding its instances (the IOMMU core holds a
 * module reference for each client of a bound instance).
 */
static inline int sig_unload(const char *mod)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	sig_unbind_all("platform", "test-iommu");
	sig_release_fixed();
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
 * A name from the journal, used as one component of a sysfs path: not
 * empty, no '/', not "." or "..", so that no line reaches a file outside
 * the directories a genuine journal names.
 */
static inline bool journal_name_ok(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/*
 * The fault injection attributes iommu_unbind_rebind -F changes (and
 * journals as "fault DIR FILE VALUE"): nothing else is ever written there.
 */
#define FAULT_DIR	"/sys/kernel/debug"
static const char * const fault_dirs[] = { "failslab", "fail_page_alloc", "fail_usercopy" };
static const char * const fault_files[] = {
	"ignore-gfp-wait", "ignore-gfp-highmem", "min-order", "verbose", "cache-filter",
	"require-start", "require-end", "reject-start", "reject-end", "stacktrace-depth",
};

static inline bool fault_attr_ok(const char *dir, const char *file, const char *val)
{
	bool d = false, f = false;

	for (size_t i = 0; i < ARRAY_SIZE(fault_dirs); i++)
		d |= !strcmp(dir, fault_dirs[i]);
	for (size_t i = 0; i < ARRAY_SIZE(fault_files); i++)
		f |= !strcmp(file, fault_files[i]);
	if (!d || !f || !*val)
		return false;
	/* The stack-trace filter's addresses, as debugfs prints them */
	if (!strncmp(file, "require-", 8) || !strncmp(file, "reject-", 7))
		return !strncmp(val, "0x", 2) && val[2] && strlen(val) <= 18 &&
		       strspn(val + 2, "0123456789abcdef") == strlen(val + 2);
	return strlen(val) < 4 && strspn(val, "0123456789YN") == strlen(val);
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
 * "unbind platform test-iommu DEV", "fault DIR FILE VALUE" (fault_attr_ok()),
 * "unload test_iommu": nothing else is
 * ever unbound or unloaded, whatever the file says, and a line with a name
 * journal_name_ok() refuses is skipped.
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
			if ((n >= 2 && !journal_name_ok(b)) || (n >= 3 && !journal_name_ok(c)) ||
			    (n >= 4 && !journal_name_ok(d)))
				continue;
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
			} else if (pass == 3 && n == 4 && !strcmp(a, "unbind") &&
				   !strcmp(c, "test-iommu")) {
				snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/%s", b, c, d);
				if (access(path, F_OK))
					continue;
				snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/unbind", b, c);
				sig_write(path, d);
				done++;
			} else if (pass == 4 && n == 4 && !strcmp(a, "fault") &&
				   fault_attr_ok(b, c, d)) {
				snprintf(path, sizeof(path), FAULT_DIR "/%s/%s", b, c);
				sig_write(path, d);
				done++;
			} else if (pass == 4 && n == 2 && !strcmp(a, "unload") &&
				   !strcmp(b, "test_iommu")) {
				snprintf(path, sizeof(path), "/sys/module/%s/initstate", b);
				if (!access(path, F_OK) && !sig_unload(b))
					done++;
			}
		}
	}
	return done;
}

/* Replay what was journaled after @from (a journal_mark()), then forget it. */
static inline int journal_restore_from(off_t from)
{
	static char buf[JOURNAL_MAX];
	ssize_t n;
	int done;

	if (journal_fd < 0)
		return 0;
	n = pread(journal_fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	done = journal_replay(buf);
	if (ftruncate(journal_fd, from))
		sig_puts("# restore: cannot empty the journal\n");
	return done;
}

/* Replay and forget everything this run journaled. */
static inline int journal_restore(void)
{
	return journal_restore_from(journal_base);
}

/* Where the lines journaled from now on start. */
static inline off_t journal_mark(void)
{
	struct stat st;

	return journal_fd >= 0 && !fstat(journal_fd, &st) ? st.st_size : 0;
}

/* What was journaled after @from is back: forget it. */
static inline void journal_clear_from(off_t from)
{
	if (journal_fd >= 0 && ftruncate(journal_fd, from))
		ksft_print_msg("cannot truncate %s: %s\n", journal_path, strerror(errno));
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
	journal_clear_from(journal_base);
}

/* /proc/self/task/<tid>/fail-nth, while -F is used (fail_nth_init()) */
static int fail_nth_fd = -1;

static inline void journal_signal(int sig)
{
	char msg[128];
	int done;

	if (getpid() == journal_owner && !journal_restoring) {
		journal_restoring = 1;
		/* A fault armed for the interrupted write must not hit the replay */
		if (fail_nth_fd >= 0 && pwrite(fail_nth_fd, "0", 1, 0) < 0)
			sig_puts("# restore: fail-nth not disarmed\n");
		snprintf(msg, sizeof(msg), "# signal %d: restoring what this run changed\n", sig);
		sig_puts(msg);
		done = journal_restore_from(0);
		snprintf(msg, sizeof(msg), "# restored: %d action(s)\n", done);
		sig_puts(msg);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* At exit: restore what is still journaled, leave an empty journal. */
static inline void journal_atexit(void)
{
	if (getpid() != journal_owner || journal_fd < 0)
		return;
	if (journal_mark() > journal_base)
		ksft_print_msg("%s: restoring at exit: %d action(s)\n", journal_path,
			       journal_restore());
	journal_clear_from(0);
}

/* The first line of a journal names the boot it was written in. */
static inline void journal_boot_id(char *id, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	if (!f || !fgets(id, len, f))
		snprintf(id, len, "unknown");
	id[strcspn(id, "\n")] = '\0';
	if (f)
		fclose(f);
}

static inline bool journal_boot_matches(void)
{
	char id[64], line[80] = "";

	journal_boot_id(id, sizeof(id));
	if (pread(journal_fd, line, sizeof(line) - 1, 0) <= 0)
		return false;
	line[strcspn(line, "\n")] = '\0';
	return !strncmp(line, "boot ", 5) && !strcmp(line + 5, id);
}

static inline int journal_boot_add(void)
{
	char id[64];

	journal_boot_id(id, sizeof(id));
	return journal_add("boot %s", id);
}

/*
 * Open (and lock) the journal; replay what an earlier run that was killed
 * left in it, and say so; restore on the signals that end a program.
 * Returns 0, or -errno with @why filled (the program is then skipped).
 */
static inline int journal_init(char *why, size_t len)
{
	static const int sigs[] = {
		SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
		SIGILL,
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
	/* Results reach the runner even when a signal ends us */
	setvbuf(stdout, NULL, _IOLBF, 0);
	journal_fd = open(journal_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
			  0600);
	if (journal_fd < 0) {
		snprintf(why, len, "cannot open the journal %s: %s", journal_path,
			 strerror(errno));
		return -errno;
	}
	/* Only a journal of ours is replayed (or truncated): not a hard link */
	if (fstat(journal_fd, &st) || !S_ISREG(st.st_mode) || st.st_uid ||
	    (st.st_mode & 077) || st.st_nlink != 1) {
		snprintf(why, len, "%s is not a root-owned 0600 file with one link: not replayed",
			 journal_path);
		close(journal_fd);
		journal_fd = -1;
		return -EPERM;
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
		if (journal_boot_matches()) {
			ksft_print_msg("%s: %s\n", journal_path,
				       "an earlier run was killed before it restored the machine");
			done = journal_restore_from(0);
			ksft_print_msg("%s: restored (%d action(s))\n", journal_path, done);
		} else {
			ksft_print_msg("%s: left by an earlier boot: dropped\n", journal_path);
			journal_clear_from(0);
		}
	}
	if (journal_boot_add())
		return -EIO;
	journal_base = journal_mark();
	atexit(journal_atexit);
	return 0;
}

/* Devices the machine depends on */

#define MAX_NEEDED	256

static struct needed {
	char path[PATH_MAX];	/* /sys/devices/... */
	char why[128];
} needed[MAX_NEEDED];
static int nr_needed;
static bool needed_overflow;	/* then nothing real is cycled */

static inline void need_path(const char *syspath, const char *fmt, const char *what)
{
	char real[PATH_MAX];

	if (!realpath(syspath, real))
		return;
	if (nr_needed == MAX_NEEDED) {
		needed_overflow = true;
		return;
	}
	for (int i = 0; i < nr_needed; i++)
		if (!strcmp(needed[i].path, real))
			return;
	snprintf(needed[nr_needed].path, PATH_MAX, "%s", real);
	/* A long mount point is cut short in the message */
	if (snprintf(needed[nr_needed].why, sizeof(needed[0].why), fmt, what) < 0)
		needed[nr_needed].why[0] = '\0';
	nr_needed++;
}

static inline void need_block(unsigned int maj, unsigned int min, const char *fmt,
			      const char *what, int depth);

/*
 * What a block device needs besides its own parents: the whole disk of a
 * partition (an md or dm partition's slaves are the disk's), and every
 * controller of an NVMe multipath head (under nvme-subsystem, not under a
 * PCI device).
 */
static inline void need_block_links(const char *path, const char *fmt, const char *what,
				    int depth)
{
	char real[PATH_MAX], sub[PATH_MAX + NAME_MAX + 16], buf[32];
	unsigned int a, b;
	struct dirent *de;
	char *slash;
	FILE *f;
	DIR *d;

	if (depth >= 8 || !realpath(path, real))
		return;
	snprintf(sub, sizeof(sub), "%s/partition", real);
	slash = strrchr(real, '/');
	if (!access(sub, F_OK) && slash) {
		*slash = '\0';
		snprintf(sub, sizeof(sub), "%s/dev", real);
		f = fopen(sub, "r");
		if (f && fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &a, &b) == 2)
			need_block(a, b, fmt, what, depth + 1);
		if (f)
			fclose(f);
		*slash = '/';
	}
	slash = strrchr(real, '/');
	if (!strstr(real, "/nvme-subsystem/") || !slash)
		return;
	*slash = '\0';
	d = opendir(real);
	while (d && (de = readdir(d))) {
		/* The controllers: nvme<N>, links to their PCI devices */
		if (strncmp(de->d_name, "nvme", 4) || !de->d_name[4] ||
		    strspn(de->d_name + 4, "0123456789") != strlen(de->d_name + 4))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", real, de->d_name);
		need_path(sub, fmt, what);
	}
	if (d)
		closedir(d);
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
	need_block_links(path, fmt, what, depth);
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

/* Every device of a class or bus directory (/sys/class/net, ...). */
static inline void need_all(const char *dir, const char *sub, const char *fmt,
			    const char *what)
{
	char path[PATH_MAX + 2 * NAME_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s%s", dir, de->d_name, sub);
		need_path(path, fmt, what);
	}
	if (d)
		closedir(d);
}

#define NETWORK_FS	"nfs nfs4 cifs smb3 smbfs ceph glusterfs afs ncpfs lustre fuse.sshfs"

/* Every device of every btrfs (which one is mounted where is not told) */
static inline void need_btrfs(const char *what)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir("/sys/fs/btrfs");

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "/sys/fs/btrfs/%s/devices", de->d_name) >=
		    (int)sizeof(path))
			continue;
		need_all(path, "", "may hold the btrfs %s", what);
	}
	if (d)
		closedir(d);
}

static inline bool fstype_in(const char *type, const char *list)
{
	size_t len = strlen(type);

	for (const char *p = strstr(list, type); p; p = strstr(p + 1, type))
		if ((p == list || p[-1] == ' ') && (!p[len] || p[len] == ' '))
			return true;
	return false;
}

/*
 * The devices under every mounted filesystem: its block device (and what
 * that sits on), the block device its source names (btrfs and others
 * report an anonymous device number), every device of a btrfs, every
 * network device for a network filesystem and every virtio device for
 * 9p and virtiofs (which one serves it is not known: fail closed).
 */
static inline void need_mounts(void)
{
	char line[4096], mnt[PATH_MAX], what[PATH_MAX + 32], type[64], src[PATH_MAX];
	unsigned int maj, min;
	struct stat st;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");

		/* id parent maj:min root mountpoint ... - type source options */
		if (!sep || sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3 ||
		    sscanf(sep + 3, "%63s %4095s", type, src) != 2)
			continue;
		snprintf(what, sizeof(what), "%s%s", !strcmp(mnt, "/") ? "the root " : "", mnt);
		if (maj)
			need_block(maj, min, "holds the mounted filesystem %s", what, 0);
		if (src[0] == '/' && !stat(src, &st) && S_ISBLK(st.st_mode))
			need_block(major(st.st_rdev), minor(st.st_rdev),
				   "holds the mounted filesystem %s", what, 0);
		if (!strcmp(type, "btrfs"))
			need_btrfs(what);
		if (fstype_in(type, NETWORK_FS))
			need_all("/sys/class/net", "/device",
				 "may carry the network filesystem %s", what);
		if (fstype_in(type, "9p virtiofs"))
			need_all("/sys/bus/virtio/devices", "",
				 "may serve the filesystem %s", what);
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

/*
 * A network interface's device and, for a bond, bridge, team or VLAN
 * (which have none), the devices of the interfaces below it (lower_*).
 */
static inline void need_net(const char *iface, const char *route, int depth)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (depth >= 8 ||
	    snprintf(path, sizeof(path), "/sys/class/net/%s", iface) >= (int)sizeof(path))
		return;
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (!strncmp(de->d_name, "lower_", 6))
			need_net(de->d_name + 6, route, depth + 1);
	}
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "/sys/class/net/%s/device", iface);
	need_path(path, "carries the default route (%s)", route);
}

static inline void need_route_file(const char *file, bool v6)
{
	char line[512], iface[64], dst[64];
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
		need_net(iface, iface, 0);
	}
	if (f)
		fclose(f);
}

/* Collect the devices the machine depends on. */
/* The device of each entry of @dir (a class or a driver's directory) */
static inline void need_entries(const char *dir, const char *sub, const char *fmt)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "module"))
			continue;
		snprintf(path, sizeof(path), "%s/%s%s", dir, de->d_name, sub);
		need_path(path, fmt, de->d_name);
	}
	if (d)
		closedir(d);
}

static inline void needed_scan(void)
{
	nr_needed = 0;
	needed_overflow = false;
	need_mounts();
	need_swaps();
	need_consoles();
	/* A display, a keyboard or mouse, a device assigned to a VM */
	need_entries("/sys/class/drm", "/device", "drives the display %s");
	need_entries("/sys/class/input", "/device", "has the input device %s");
	need_entries("/sys/bus/pci/drivers/vfio-pci", "", "is bound to vfio-pci (%s)");
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

	if (needed_overflow)
		return "may be needed: more devices the machine needs than this program tracks";
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

/*
 * The extent of the kernel function @fn, named as "%ps" names it ("name",
 * or "name [module]"): from its address in /proc/kallsyms to the next
 * symbol's.  Returns NULL, or why it cannot be had.
 */
static inline const char *fn_extent(const char *fn, unsigned long *start, unsigned long *end)
{
	char want[512], want_mod[64] = "", name[512], mod[64], type, *line = NULL;
	unsigned long addr;
	bool hidden = false;
	size_t size = 0;
	int found = 0;
	FILE *f;

	if (sscanf(fn, "%511s [%63[^]]]", want, want_mod) < 1)
		return "no function name";
	f = fopen("/proc/kallsyms", "r");
	if (!f)
		return "no /proc/kallsyms";
	*start = *end = 0;
	while (getline(&line, &size, f) > 0) {
		mod[0] = '\0';
		if (sscanf(line, "%lx %c %511s [%63[^]]]", &addr, &type, name, mod) < 3 ||
		    !strchr("tT", type) || strcmp(name, want) || strcmp(mod, want_mod))
			continue;
		hidden |= !addr;
		*start = addr;
		found++;
	}
	/* Not sorted: modules come after the kernel's symbols */
	rewind(f);
	while (found == 1 && *start && getline(&line, &size, f) > 0) {
		addr = strtoul(line, NULL, 16);
		if (addr > *start && (!*end || addr < *end))
			*end = addr;
	}
	free(line);
	fclose(f);
	if (!found)
		return "not in /proc/kallsyms";
	if (found > 1)
		return "several functions of that name in /proc/kallsyms";
	if (hidden)
		return "/proc/kallsyms hides the addresses (kptr_restrict)";
	return *end ? NULL : "no symbol after it in /proc/kallsyms";
}

/* Journal @dir/@file's value and write @val there; 0 or -1 */
static inline int fault_set(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX], old[24];
	FILE *f;

	snprintf(path, sizeof(path), FAULT_DIR "/%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return 0;	/* not in this kernel */
	if (!fgets(old, sizeof(old), f))
		old[0] = '\0';
	fclose(f);
	old[strcspn(old, "\n")] = '\0';
	if (!fault_attr_ok(dir, file, old) || journal_add("fault %s %s %s", dir, file, old) ||
	    write_str(path, val))
		return -1;
	return 0;
}

/*
 * Systematic fault injection, as iommufd_fail_nth.c does it
 * (Documentation/fault-injection/fault-injection.rst, "Systematic faults
 * using fail-nth"): the n-th slab or page allocation of this task fails.
 *
 * Let failslab and fail_page_alloc fail any allocation of this task,
 * GFP_KERNEL ones included, without logging each failure (verbose 0), as
 * iommufd_fail_nth.c does, and order-0 pages too (min-order 0).  The
 * stack-trace filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER) of every
 * capability fail-nth drives is set too: with @fn, only what is done under
 * the kernel function @fn (fn_extent()), within the 32 innermost frames,
 * counts and fails; without, anything does.  The old values are journaled
 * ("fault" lines) and put back by journal_restore_from(@mark).  Returns
 * NULL, or why fault injection (with @fn: filtered) is not available.
 */
static inline const char *fail_nth_init(off_t *mark, const char *fn)
{
	static const struct { const char *dir, *file, *val; } set[] = {
		{ "failslab", "ignore-gfp-wait", "N" },
		{ "failslab", "cache-filter", "N" },
		{ "failslab", "verbose", "0" },
		{ "fail_page_alloc", "ignore-gfp-wait", "N" },
		{ "fail_page_alloc", "ignore-gfp-highmem", "N" },
		{ "fail_page_alloc", "min-order", "0" },
		{ "fail_page_alloc", "verbose", "0" },
	};
	char path[PATH_MAX], range[2][24], slab[2][24] = { "0x0", "0x0" };
	unsigned long start = 0, end = ~0UL, s_start, s_end;
	const char *why;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
	if (fail_nth_fd < 0)
		fail_nth_fd = open(path, O_RDWR | O_CLOEXEC);
	if (fail_nth_fd < 0)
		return "no /proc/self/task/TID/fail-nth (CONFIG_FAULT_INJECTION)";
	if (!exists(FAULT_DIR "/failslab"))
		return "no " FAULT_DIR "/failslab (CONFIG_FAILSLAB, FAULT_INJECTION_DEBUG_FS)";
	if (fn && !exists(FAULT_DIR "/failslab/require-start"))
		return "no stack-trace filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)";
	if (fn) {
		why = fn_extent(fn, &start, &end);
		if (why)
			return why;
	}
	/*
	 * What a slab refill allocates (its pages, its object extensions) is
	 * not a point of its own: whether one is needed depends on the slab's
	 * state, which shifts the numbering from one operation to the next,
	 * and a sweep would step over allocations (a harness boot missed its
	 * leak in 4 of 10 runs)
	 */
	if (exists(FAULT_DIR "/failslab/reject-start")) {
		why = fn_extent("new_slab", &s_start, &s_end);
		if (!why) {
			snprintf(slab[0], sizeof(slab[0]), "0x%016lx", s_start);
			snprintf(slab[1], sizeof(slab[1]), "0x%016lx", s_end);
		} else {
			ksft_print_msg("fault injection: slab refills count as points (%s)\n",
				       why);
		}
	}
	*mark = journal_mark();
	for (size_t i = 0; i < ARRAY_SIZE(set); i++)
		if (fault_set(set[i].dir, set[i].file, set[i].val))
			goto fail;
	snprintf(range[0], sizeof(range[0]), "0x%016lx", start);
	snprintf(range[1], sizeof(range[1]), "0x%016lx", end);
	for (size_t i = 0; i < ARRAY_SIZE(fault_dirs); i++)
		if (fault_set(fault_dirs[i], "require-start", range[0]) ||
		    fault_set(fault_dirs[i], "require-end", range[1]) ||
		    fault_set(fault_dirs[i], "reject-start", slab[0]) ||
		    fault_set(fault_dirs[i], "reject-end", slab[1]) ||
		    fault_set(fault_dirs[i], "stacktrace-depth", "32"))
			goto fail;
	return NULL;
fail:
	journal_restore_from(*mark);
	return "cannot set " FAULT_DIR "/fail*: see fault_attr_ok()";
}

/*
 * Write @val to @path with the @n-th allocation of this task failing;
 * *@injected: whether the write got that far (the failure was injected);
 * *@left, when not NULL: what was left of @n (lib/fault-inject.c counts
 * fail-nth down at each point), or -1 when it could not be read.
 * Returns the write's result.
 */
static inline int fail_nth_write(const char *path, const char *val, int n, bool *injected,
				 long *left)
{
	char buf[16];
	long count;
	ssize_t r;
	int fd, ret = 0;

	*injected = false;
	if (left)
		*left = -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(buf, sizeof(buf), "%d", n);
	if (pwrite(fail_nth_fd, buf, strlen(buf), 0) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	/* (with CONFIG_FAIL_USERCOPY, these can be failed too) */
	r = pread(fail_nth_fd, buf, sizeof(buf) - 1, 0);
	buf[r > 0 ? r : 0] = '\0';
	count = r > 0 ? strtol(buf, NULL, 10) : -1;
	*injected = !count;
	if (left)
		*left = count;
	for (int i = 0; i < 3 && pwrite(fail_nth_fd, "0", 1, 0) < 0; i++)
		;
	close(fd);
	return ret;
}

#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

/*
 * kmemleak's suspects: with @clear, grey those found so far (scan first
 * to find them all); else scan and return how many there are, with the
 * first one's first lines in @first.  -errno without kmemleak.  Objects
 * younger than 5 s are not reported yet.
 */
static inline int kmemleak(bool clear, char *first, size_t len)
{
	char line[256];
	size_t off = 0;
	int n = 0, ret;
	FILE *f;

	ret = write_str(KMEMLEAK, clear ? "clear" : "scan");
	if (ret || clear)
		return ret;
	f = fopen(KMEMLEAK, "r");
	if (!f)
		return -errno;
	first[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		n += !strncmp(line, "unreferenced object", 19);
		if (n == 1 && off < len / 2) {
			line[strcspn(line, "\n")] = '\0';
			off += snprintf(first + off, len - off, "%s%s", off ? " | " : "",
					line + strspn(line, " "));
		}
	}
	fclose(f);
	return n;
}

#endif /* __SELFTESTS_IOMMU_SAFETY_H */
