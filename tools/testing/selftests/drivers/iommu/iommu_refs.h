/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the IOMMU unbind/rebind selftests: sysfs writes and bounded
 * polls, and the counters of CONFIG_IOMMU_DEBUG_REFS
 * (/sys/kernel/debug/iommu/refs/<device>/counters, one "key value" per
 * line, see Documentation/iommu/debug-refs.rst).
 */
#ifndef __SELFTESTS_IOMMU_REFS_H
#define __SELFTESTS_IOMMU_REFS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "../../kselftest.h"

#define IOMMU_CLASS	"/sys/class/iommu"
#define REFS_DIR	"/sys/kernel/debug/iommu/refs"
#define REFS_MAX_KEYS	64
#define REFS_MAX_STACKS	32
#define REFS_MAX_COMPS	16
/* Reading it returns once deferred puts (device link releases) are done */
#define REFS_SETTLE	REFS_DIR "/settle"
#define TEST_IOMMU_DRIVER_NAME	"test-iommu"

static int cycles = 3;
static int timeout_ms = 10000;
static bool use_reprobe;	/* -r */
static bool restore_only;	/* -R */
static int fail_points;		/* -F: fault injection points per IOMMU */
static int fail_first = 1;	/* -F M-N: the first of them */

static const char * const refs_sites[] = {
	"of_xlate", "probe_device", "release_device", "driver_probe", "driver_remove",
};

#define REFS_NR_SITES	((int)ARRAY_SIZE(refs_sites))

/* References the callbacks kept, per stack (the "stacks" file) */
struct refs_stack {
	char site[16];
	char on[64];		/* the companion they were kept on, or "" */
	long long count;
	char at[96];		/* the innermost frame: the caller of get_device() */
	char in[96];		/* the frame in the callback's function, or "" */
	char frames[1024];	/* all of them, to match stacks across readings */
};

struct refs {
	int n;
	struct {
		char key[48];
		char val[112];
	} kv[REFS_MAX_KEYS];
	int nstk;
	struct refs_stack stk[REFS_MAX_STACKS];
	/* The "companions" file: references held on other devices */
	int ncomp;
	struct {
		char name[64];
		long long held;
		long long kept;
	} comp[REFS_MAX_COMPS];
};

static inline int read_link_base(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	snprintf(buf, len, "%s", strrchr(target, '/') + 1);
	return 0;
}

static inline int write_str(const char *path, const char *val)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static inline bool exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

static inline long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll until exists(path) == want; bounded by timeout_ms. */
static inline int wait_for(const char *path, bool want)
{
	long end = now_ms() + timeout_ms;

	while (exists(path) != want) {
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

static inline bool debugfs_mounted(void)
{
	char line[512];
	bool found = false;
	FILE *f;

	f = fopen("/proc/mounts", "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " /sys/kernel/debug debugfs ");
	fclose(f);
	return found;
}

/*
 * Real IOMMUs named with -d (or all of them with -d all): only these are
 * unbound or have clients removed; by default only the test IOMMU driver's
 * instances are.
 */
#define MAX_SELECTED	16
static const char *selected[MAX_SELECTED];
static int nr_selected;
static bool select_all;

static inline __noreturn void print_usage(const char *prog, const char *err)
{
	fprintf(stderr, "%s: %s\n"
		"Usage: %s [-d IOMMU|all]... [-n cycles] [-t timeout_ms]\n"
		"       [-r] [-R] [-F [M-]N]\n"
		"  -d IOMMU  also cycle this real IOMMU (a name in " IOMMU_CLASS
		" or its device), repeatable;\n"
		"            -d all: every real IOMMU.  By default only the test IOMMU\n"
		"            driver's instances are cycled.  Devices a mounted filesystem,\n"
		"            swap, the console or the default route need are never taken.\n"
		"  -n N      measured cycles after one warm-up cycle (default 3)\n"
		"  -t MS     bound of each wait (default 10000)\n"
		"  -r        also probe again the clients without a driver of IOMMUs that\n"
		"            can be unbound (those that cannot always are)\n"
		"  -R        only restore what the journal of a killed run records, and\n"
		"            leave it empty (the programs that journal)\n"
		"  -F N      fault injection: iommu_unbind_rebind fails the 1st, 2nd, ...\n"
		"            Nth allocation of each bind (or reprobe), then cycles cleanly\n"
		"            and checks that nothing leaked; -F M-N: the Mth to the Nth\n"
		"            only, to carry on a sweep; iommu_test_driver runs\n"
		"            test_iommu.alloc_fail_leak (0: off, the default)\n",
		prog, err, prog);
	exit(KSFT_FAIL);
}

static inline int parse_num(const char *prog, const char *opt, const char *s, int min)
{
	char *end, err[128];
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < min || v > 1000000) {
		snprintf(err, sizeof(err), "%s: '%s' is not a number >= %d", opt, s, min);
		print_usage(prog, err);
	}
	return v;
}

/*
 * The options of every program: -d, -n cycles, -t timeout_ms, -r, -R, -F.
 * Bad input is a usage message and exit code 1, before anything is done.
 */
static inline void parse_args(int argc, char *argv[])
{
	int opt;

	while ((opt = getopt(argc, argv, ":d:F:hn:rRt:")) != -1) {
		char err[128], first[16];
		const char *dash;

		switch (opt) {
		case 'd':
			if (!strcmp(optarg, "all"))
				select_all = true;
			else if (nr_selected == MAX_SELECTED || !*optarg)
				print_usage(argv[0], "-d: too many IOMMUs, or an empty name");
			else
				selected[nr_selected++] = optarg;
			break;
		case 'F':
			dash = strchr(optarg, '-');
			fail_first = 1;
			if (!dash) {
				/* 0 turns it off */
				fail_points = parse_num(argv[0], "-F", optarg, 0);
				break;
			}
			snprintf(first, sizeof(first), "%.*s", (int)(dash - optarg), optarg);
			fail_first = parse_num(argv[0], "-F M-N (M)", first, 1);
			fail_points = parse_num(argv[0], "-F M-N (N)", dash + 1, fail_first);
			break;
		case 'n':
			cycles = parse_num(argv[0], "-n", optarg, 1);
			break;
		case 'r':
			use_reprobe = true;
			break;
		case 'R':
			restore_only = true;
			break;
		case 't':
			timeout_ms = parse_num(argv[0], "-t", optarg, 1);
			break;
		case 'h':
			print_usage(argv[0], "help");
		case ':':
			snprintf(err, sizeof(err), "-%c needs an argument", optopt);
			print_usage(argv[0], err);
		default:
			snprintf(err, sizeof(err), "unknown option -%c", optopt);
			print_usage(argv[0], err);
		}
	}
	if (optind < argc)
		print_usage(argv[0], "unexpected argument");
}

/*
 * Every -d NAME must name an IOMMU of IOMMU_CLASS, by its name or its
 * device's, or a test IOMMU instance (which a program may load later):
 * otherwise a usage error, before anything is done.
 */
static inline void check_selected(const char *prog)
{
	for (int s = 0; s < nr_selected; s++) {
		bool found = !strncmp(selected[s], "test-iommus:", 12);
		char path[PATH_MAX], dev[NAME_MAX + 1], err[NAME_MAX + 64];
		DIR *dir = opendir(IOMMU_CLASS);
		struct dirent *de;

		while (dir && !found && (de = readdir(dir))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), IOMMU_CLASS "/%s/device", de->d_name);
			found = !strcmp(selected[s], de->d_name) ||
				(!read_link_base(path, dev, sizeof(dev)) &&
				 !strcmp(selected[s], dev));
		}
		if (dir)
			closedir(dir);
		if (!found) {
			snprintf(err, sizeof(err), "-d %s: no such IOMMU in " IOMMU_CLASS,
				 selected[s]);
			print_usage(prog, err);
		}
	}
}

/*
 * Was this real IOMMU (class name or device name) opted in?  With @by_name,
 * only when named: -d all does not select it.
 */
static inline bool iommu_selected(const char *name, const char *dev, bool by_name)
{
	if (select_all && !by_name)
		return true;
	for (int i = 0; i < nr_selected; i++)
		if (!strcmp(selected[i], name) || (*dev && !strcmp(selected[i], dev)))
			return true;
	return false;
}

/*
 * Why the counters cannot be used, or NULL when they can: the test is
 * skipped with this reason.
 */
static inline const char *refs_unavailable(void)
{
	if (geteuid())
		return "must be root to read debugfs";
	if (!debugfs_mounted())
		return "debugfs is not mounted on /sys/kernel/debug";
	if (!exists(REFS_DIR))
		return "no " REFS_DIR ": kernel without CONFIG_IOMMU_DEBUG_REFS";
	return NULL;
}

static inline const char *refs_str(const struct refs *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->kv[i].key, key))
			return r->kv[i].val;
	return "";
}

/* Whether stack frame @frame ("fn+0x1/0x2 [mod]") is in function @fn */
static inline bool refs_frame_in(const char *frame, const char *fn)
{
	size_t n = strcspn(fn, " ");

	return n && !strncmp(frame, fn, n) && frame[n] == '+';
}

/*
 * Read REFS_DIR/@dev/stacks, if the kernel has it, into @r: blocks of
 * "<site>: <N> references kept[ on <companion>], taken at:" then one frame
 * per indented line, innermost first.
 */
static inline void refs_read_stacks(const char *dev, struct refs *r)
{
	char path[PATH_MAX], line[256], fn[64];
	struct refs_stack *st = NULL;
	FILE *f;

	r->nstk = 0;
	snprintf(path, sizeof(path), REFS_DIR "/%s/stacks", dev);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *frame = line + strspn(line, " \t");

		frame[strcspn(frame, "\n")] = '\0';
		if (frame == line) {
			st = NULL;
			if (r->nstk == REFS_MAX_STACKS)
				continue;
			st = &r->stk[r->nstk];
			memset(st, 0, sizeof(*st));
			if (sscanf(line, "%15[a-z_]: %lld references kept", st->site,
				   &st->count) != 2) {
				st = NULL;
				continue;
			}
			if (strstr(line, " kept on "))
				sscanf(strstr(line, " kept on ") + 9, "%63[^,\n]", st->on);
			snprintf(fn, sizeof(fn), "%s.fn", st->site);
			snprintf(fn, sizeof(fn), "%s", refs_str(r, fn));
			r->nstk++;
			continue;
		}
		if (!st || !*frame)
			continue;
		if (!*st->at)
			snprintf(st->at, sizeof(st->at), "%s", frame);
		if (!*st->in && refs_frame_in(frame, fn))
			snprintf(st->in, sizeof(st->in), "%s", frame);
		if (strlen(st->frames) + strlen(frame) + 2 < sizeof(st->frames)) {
			strcat(st->frames, frame);
			strcat(st->frames, ";");
		}
	}
	fclose(f);
}

/* Read REFS_DIR/@dev/companions, if the kernel has it: "<name> held <H> kept <K> ..." */
static inline void refs_read_comps(const char *dev, struct refs *r)
{
	char path[PATH_MAX], line[256];
	FILE *f;

	r->ncomp = 0;
	snprintf(path, sizeof(path), REFS_DIR "/%s/companions", dev);
	f = fopen(path, "r");
	if (!f)
		return;
	while (r->ncomp < REFS_MAX_COMPS && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s held %lld kept %lld", r->comp[r->ncomp].name,
			   &r->comp[r->ncomp].held, &r->comp[r->ncomp].kept) == 3)
			r->ncomp++;
	fclose(f);
}

/* Read the counters of IOMMU device @dev, its stacks and companions: 0, or -errno. */
static inline int refs_read(const char *dev, struct refs *r)
{
	char path[PATH_MAX], line[256];
	FILE *f;

	snprintf(path, sizeof(path), REFS_DIR "/%s/counters", dev);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	r->n = 0;
	while (r->n < REFS_MAX_KEYS && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%47s %111[^\n]", r->kv[r->n].key,
			   r->kv[r->n].val) == 2)
			r->n++;
	}
	fclose(f);
	if (!r->n)
		return -ENODATA;
	refs_read_stacks(dev, r);
	refs_read_comps(dev, r);
	return 0;
}

/* How much the references kept at stack @st grew since @base */
static inline long long refs_stack_grew(const struct refs *base, const struct refs_stack *st)
{
	long long d = st->count;

	for (int j = 0; j < base->nstk; j++)
		if (!strcmp(base->stk[j].site, st->site) && !strcmp(base->stk[j].on, st->on) &&
		    !strcmp(base->stk[j].frames, st->frames))
			d -= base->stk[j].count;
	return d;
}

/*
 * The stack of @site (or of any site, when NULL) whose references kept on
 * @on (a companion's name, or "" for the IOMMU's own device) grew most
 * between @base and @now, or NULL (none grew, or the kernel has no
 * "stacks" file). Of two that grew as much, the one with fewer references
 * before @base: a reference kept on purpose and dropped later (by
 * release_device()) also counts as kept, since boot.
 */
static inline const struct refs_stack *
refs_top_stack(const struct refs *base, const struct refs *now, const char *site,
	       const char *on, long long *grew)
{
	const struct refs_stack *top = NULL;

	*grew = 0;
	for (int i = 0; i < now->nstk; i++) {
		const struct refs_stack *st = &now->stk[i];
		long long d;

		if ((site && strcmp(st->site, site)) || strcmp(st->on, on))
			continue;
		d = refs_stack_grew(base, st);
		if (d > *grew || (d && d == *grew && st->count - d < top->count - *grew)) {
			*grew = d;
			top = st;
		}
	}
	return top;
}

/* How much the references held on companion @i of @now grew since @base */
static inline long long refs_comp_grew(const struct refs *base, const struct refs *now, int i)
{
	for (int j = 0; j < base->ncomp; j++)
		if (!strcmp(base->comp[j].name, now->comp[i].name))
			return now->comp[i].held - base->comp[j].held;
	return now->comp[i].held;
}

/* The companion of @now whose held references grew most since @base, or -1 */
static inline int refs_top_comp(const struct refs *base, const struct refs *now)
{
	long long best = 0;
	int top = -1;

	for (int i = 0; i < now->ncomp; i++) {
		if (refs_comp_grew(base, now, i) > best) {
			best = refs_comp_grew(base, now, i);
			top = i;
		}
	}
	return top;
}

static inline long long refs_num(const struct refs *r, const char *key)
{
	return atoll(refs_str(r, key));
}

static inline long long refs_site(const struct refs *r, const char *site,
				  const char *counter)
{
	char key[64];

	snprintf(key, sizeof(key), "%s.%s", site, counter);
	return refs_num(r, key);
}

/* References a site holds: taken minus dropped */
static inline long long refs_net(const struct refs *r, const char *site)
{
	return refs_site(r, site, "taken") - refs_site(r, site, "dropped");
}

/* Wait until the kernel says deferred puts are done: 0, or -errno */
static inline int refs_settle(void)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(REFS_SETTLE, O_RDONLY);
	if (fd < 0)
		return -errno;
	do {
		n = read(fd, buf, sizeof(buf));
	} while (n > 0);
	close(fd);
	return n < 0 ? -errno : 0;
}

/*
 * The verdict: after @cycles bind cycles the device's reference count (and
 * its sysfs parent's, when the same parent is watched) must be back to
 * @base, and no companion may hold more references than at @base. Reads
 * REFS_SETTLE first (the kernel decides when deferred puts are done) and
 * then decides on one reading. On a mismatch, fills @msg with the counts,
 * the companions that grew and, per site, what changed per cycle, and
 * returns 1; returns 0 when balanced, -errno when unreadable. @now gets
 * the last counters read.
 */
static inline int refs_check(const char *dev, const struct refs *base,
			     int cycles, struct refs *now, char *msg,
			     size_t len)
{
	long long rc, prc = 0;
	bool parent;
	size_t off;
	int ret;

	ret = refs_settle() ?: refs_read(dev, now);
	if (ret)
		return ret;
	parent = strcmp(refs_str(base, "parent"), "-") &&
		 !strcmp(refs_str(base, "parent"), refs_str(now, "parent"));
	rc = refs_num(now, "refcount") - refs_num(base, "refcount");
	if (parent)
		prc = refs_num(now, "parent_refcount") -
		      refs_num(base, "parent_refcount");
	if (!rc && !prc && refs_top_comp(base, now) < 0)
		return 0;

	off = snprintf(msg, len, "%s", rc < 0 || prc < 0 ? "underflow: " : "leak: ");
	if (rc)
		off += snprintf(msg + off, len - off, "refcount %lld -> %lld (%+.1f per cycle)",
				refs_num(base, "refcount"), refs_num(now, "refcount"),
				(double)rc / cycles);
	if (prc)
		off += snprintf(msg + off, len - off, "%sparent %s refcount %+.1f per cycle",
				rc ? ", " : "", refs_str(now, "parent"),
				(double)prc / cycles);
	for (int i = 0, shown = rc || prc; i < now->ncomp && off < len; i++) {
		long long held = refs_comp_grew(base, now, i), grew;
		const struct refs_stack *st;

		if (held <= 0)
			continue;
		off += snprintf(msg + off, len - off, "%scompanion %s held %+.1f per cycle",
				shown++ ? ", " : "", now->comp[i].name,
				(double)held / cycles);
		st = refs_top_stack(base, now, NULL, now->comp[i].name, &grew);
		if (st && off < len)
			off += snprintf(msg + off, len - off, ", kept in %s at %s%s%s", st->site,
					st->at, *st->in && strcmp(st->in, st->at) ? " in " : "",
					strcmp(st->in, st->at) ? st->in : "");
	}
	for (int s = 0; s < REFS_NR_SITES && off < len; s++) {
		const char *site = refs_sites[s];
		long long dt = refs_site(now, site, "taken") - refs_site(base, site, "taken");
		long long dd = refs_site(now, site, "dropped") - refs_site(base, site, "dropped");
		long long de = refs_site(now, site, "error_leaks") -
			       refs_site(base, site, "error_leaks");
		char key[64];

		if (dt == dd && !de)
			continue;
		snprintf(key, sizeof(key), "%s.fn", site);
		off += snprintf(msg + off, len - off,
				"; %s (%s): taken %+.1f dropped %+.1f per cycle",
				site, refs_str(now, key), (double)dt / cycles,
				(double)dd / cycles);
		if (de && off < len)
			off += snprintf(msg + off, len - off,
					", %+.1f leaked by failed calls", (double)de / cycles);
		if (dt > dd && off < len) {
			long long grew;
			const struct refs_stack *st = refs_top_stack(base, now, site, "", &grew);

			if (st)
				off += snprintf(msg + off, len - off,
						", kept %+.1f per cycle taken at %s%s%s",
						(double)grew / cycles, st->at,
						*st->in && strcmp(st->in, st->at) ? " in " : "",
						strcmp(st->in, st->at) ? st->in : "");
			/*
			 * References the callback keeps and gives back later,
			 * outside the callbacks (a device link's), grow as much:
			 * a put cannot be matched to its get, so name them all.
			 */
			for (int i = 0; st && i < now->nstk && off < len; i++) {
				const struct refs_stack *o = &now->stk[i];

				if (o == st || strcmp(o->site, site) || *o->on ||
				    refs_stack_grew(base, o) != grew)
					continue;
				off += snprintf(msg + off, len - off, " or at %s%s%s", o->at,
						*o->in && strcmp(o->in, o->at) ? " in " : "",
						strcmp(o->in, o->at) ? o->in : "");
			}
		}
	}
	return 1;
}

#endif /* __SELFTESTS_IOMMU_REFS_H */
