// SPDX-License-Identifier: GPL-2.0
/*
 * Prove that the IOMMU reference accounting catches leaks, with the test
 * IOMMU driver (CONFIG_TEST_IOMMU, module test-iommu).
 *
 * Loads the module with two instances of a few clients each, and:
 *  - test_iommu.clean: unbinds and rebinds both instances N times (-n N,
 *    default 3); both must stay balanced;
 *  - test_iommu.<mode>: for each fault the driver can inject, injects it
 *    in the first instance only, cycles both instances, and passes only
 *    when the first instance's counters show the fault at the right site
 *    (compared with the clean run) and the second instance stays balanced;
 *    then ends the injection, which gives back the leaked references, and
 *    checks the reference count is back;
 *  - test_iommu.reload: loads and unloads the module 20 times; each load
 *    must create the instances and their counters, each unload remove them.
 *
 * The module is loaded with modprobe when there is one (compressed modules
 * work), else with finit_module(); built in (CONFIG_TEST_IOMMU=y), the two
 * instances made at boot are used and test_iommu.reload is skipped.  Every
 * change is journaled and undone on SIGTERM, SIGINT or a crash, and by the
 * next run after SIGKILL (iommu_safety.h).  A kernel splat logged during a
 * result's cycles fails it.  Each result has one "# iommu=... verdict=..."
 * line.
 *
 * Skips, with the reason, when not root, without debugfs, without
 * CONFIG_IOMMU_DEBUG_REFS or without the driver.
 */
#define _GNU_SOURCE
#include "iommu_safety.h"
#include "test_iommu.h"

#define MODULE_PARAMS	"instances=2 clients=4"
#define CLIENTS		4
#define RELOADS		20

enum site { XLATE, PROBE, RELEASE };

struct scenario {
	const char *mode;
	enum site site;		/* where the fault must show */
	int sign;		/* +1 leak, -1 underflow */
	bool error_path;	/* counted as leaked by failed calls */
	bool clients_back;	/* clients are probed again after bind */
};

static const struct scenario scenarios[] = {
	{ "xlate_leak", XLATE, 1, false, true },
	{ "probe_leak", PROBE, 1, false, true },
	{ "release_leak", RELEASE, 1, false, true },
	{ "probe_error_leak", PROBE, 1, true, false },
	{ "extra_put", RELEASE, -1, false, true },
};

static char insts[TEST_IOMMU_MAX][NAME_MAX + 1];
/* Clean per-cycle net of each site, per instance */
static double clean_net[2][3];

/* Load (journaled: unloaded again if we are killed) and find 2 instances */
static int load(void)
{
	int ret = 0, n;

	if (!test_iommu_builtin())
		ret = journal_add("unload %s", TEST_IOMMU_MODULE);
	if (!ret)
		ret = test_iommu_load(MODULE_PARAMS);
	n = ret ? 0 : test_iommu_instances(insts);
	/* Built in, unbound instances are bound again; a module, unloaded */
	for (int i = 0; i < n && !ret; i++)
		ret = journal_add("%s platform %s %s", test_iommu_builtin() ? "bind" : "unbind",
				  TEST_IOMMU_DRIVER_NAME, insts[i]);
	if (!ret && n != 2)
		ret = -ENODEV;
	return ret;
}

/* A kernel splat logged since the last check fails @name. */
static bool logged_splat(const char *name)
{
	char line[1024];

	if (!kmsg_splat(line, sizeof(line)))
		return false;
	ksft_test_result_code(KSFT_FAIL, name, "kernel splat: %s", line);
	return true;
}

static int set_inject(const char *inst, const char *mode)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), TEST_IOMMU_DEBUGFS "/%s/inject", inst);
	return write_str(path, mode);
}

/* One unbind/bind cycle of both instances; @err names what failed. */
static int cycle(bool clients_back, char *err, size_t len)
{
	int ret;

	for (int i = 0; i < 2; i++) {
		ret = test_iommu_rebind(insts[i]);
		if (ret) {
			snprintf(err, len, "unbind/bind %s: %s", insts[i], strerror(-ret));
			return ret;
		}
	}
	for (int i = 0; i < 2; i++) {
		int want = i == 0 && !clients_back ? 0 : CLIENTS;
		long end = now_ms() + timeout_ms;

		while (test_iommu_clients(insts[i]) != want) {
			if (now_ms() > end) {
				if (snprintf(err, len, "%s: %d clients, expected %d", insts[i],
					     test_iommu_clients(insts[i]), want) < 0)
					err[0] = '\0';
				return -ETIMEDOUT;
			}
			usleep(10000);
		}
	}
	return 0;
}

static int snapshot(struct refs *r, char *err, size_t len)
{
	for (int i = 0; i < 2; i++) {
		int ret = refs_read(insts[i], &r[i]);

		if (ret) {
			snprintf(err, len, "counters of %s: %s", insts[i], strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void test_clean(void)
{
	struct refs base[2], now[2];
	char msg[1024];
	int ret;

	ret = snapshot(base, msg, sizeof(msg));
	for (int c = 0; !ret && c < cycles; c++)
		ret = cycle(true, msg, sizeof(msg));
	for (int i = 0; !ret && i < 2; i++) {
		ret = refs_check(insts[i], &base[i], cycles, &now[i], msg, sizeof(msg));
		if (ret > 0)
			ksft_print_msg("%s: %s\n", insts[i], msg);
		for (int s = 0; !ret && s < 3; s++)
			clean_net[i][s] = (double)(refs_net(&now[i], refs_sites[s]) -
						   refs_net(&base[i], refs_sites[s])) / cycles;
		if (!ret)
			ksft_print_msg("%s: balanced, %d cycles: refcount %lld, %s %lld calls\n",
				       insts[i], cycles, refs_num(&now[i], "refcount"),
				       "probe_device",
				       refs_site(&now[i], "probe_device", "calls"));
	}
	for (int i = 0; i < 2 && ret >= 0; i++) {
		char site[128], at[128];

		refs_top_site(&base[i], &now[i], site, sizeof(site), at, sizeof(at));
		refs_print_kv(insts[i], TEST_IOMMU_DRIVER_NAME, cycles,
			      refs_num(&base[i], "refcount"), refs_num(&now[i], "refcount"),
			      0, NULL, site, at,
			      refs_num(&now[i], "refcount") == refs_num(&base[i], "refcount") ?
			      "balanced" : "leak");
	}
	if (logged_splat("test_iommu.clean"))
		return;
	ksft_test_result_code(ret ? KSFT_FAIL : KSFT_PASS, "test_iommu.clean",
			      ret ? "%s" : NULL, msg);
}

static void test_scenario(const struct scenario *sc)
{
	const char *site = refs_sites[sc->site];
	struct refs pre[2], base[2], now[2], after;
	char msg[1024] = "", name[64], kvsite[128], kvat[128];
	long long growth[64] = { 0 }, prev;
	double site_growth, err_growth;
	int ret;

	snprintf(name, sizeof(name), "test_iommu.%s", sc->mode);
	/* Setting a mode may take a reference: the baseline comes after */
	ret = snapshot(pre, msg, sizeof(msg));
	if (!ret)
		ret = set_inject(insts[0], sc->mode);
	if (!ret)
		ret = snapshot(base, msg, sizeof(msg));
	prev = refs_num(&base[0], "refcount");
	for (int c = 0; !ret && c < cycles; c++) {
		ret = cycle(sc->clients_back, msg, sizeof(msg));
		if (!ret && c < (int)ARRAY_SIZE(growth) && !refs_read(insts[0], &now[0])) {
			growth[c] = refs_num(&now[0], "refcount") - prev;
			prev = refs_num(&now[0], "refcount");
		}
	}
	if (ret) {
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name, "%s", msg);
		return;
	}

	/* The faulty instance: the detector must report it */
	ret = refs_check(insts[0], &base[0], cycles, &now[0], msg, sizeof(msg));
	if (ret <= 0) {
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name, "%s: %s", insts[0],
				      ret ? strerror(-ret) :
				      "not detected: refcount back to baseline");
		return;
	}
	ksft_print_msg("%s: detected: %s\n", insts[0], msg);
	refs_top_site(&base[0], &now[0], kvsite, sizeof(kvsite), kvat, sizeof(kvat));
	refs_print_kv(insts[0], TEST_IOMMU_DRIVER_NAME,
		      cycles < (int)ARRAY_SIZE(growth) ? cycles : (int)ARRAY_SIZE(growth),
		      refs_num(&base[0], "refcount"), refs_num(&now[0], "refcount"), 0, growth,
		      kvsite, kvat, sc->sign > 0 ? "leak" : "underflow");

	/* At the right site */
	site_growth = (double)(refs_net(&now[0], site) - refs_net(&base[0], site)) / cycles -
		      clean_net[0][sc->site];
	err_growth = (double)(refs_site(&now[0], site, "error_leaks") -
			      refs_site(&base[0], site, "error_leaks")) / cycles;
	if (sc->error_path ? err_growth <= 0 : site_growth * sc->sign <= 0) {
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name,
				      "%s: %s holds %+.1f per cycle against the clean run, %s %+.1f",
				      insts[0], site, site_growth, "leaked by failed calls",
				      err_growth);
		return;
	}
	/*
	 * And at the right stack: the injected lookup, in the callback, at
	 * which no reference was kept before (the lookup whose reference
	 * release_device() drops is kept at another one)
	 */
	if (sc->sign > 0 && sc->site != RELEASE && !sc->error_path &&
	    refs_has_stacks(insts[0])) {
		const struct refs_stack *st;
		char key[64];
		long long grew;

		st = refs_top_stack(&base[0], &now[0], site, &grew);
		snprintf(key, sizeof(key), "%s.fn", site);
		if (!st || !refs_frame_in(st->in, refs_str(&now[0], key)) ||
		    st->count != grew) {
			set_inject(insts[0], "none");
			ksft_test_result_code(KSFT_FAIL, name,
					      "%s: kept references not attributed to the injected lookup in %s: %s%s",
					      insts[0], refs_str(&now[0], key),
					      st ? "top stack at " : "no stack grew",
					      st ? st->at : "");
			return;
		}
		ksft_print_msg("%s: %s kept %+.1f per cycle taken at %s in %s\n", insts[0],
			       site, (double)grew / cycles, st->at, st->in);
	}
	for (int s = 0; s < 3 && !sc->error_path; s++) {
		double other = (double)(refs_net(&now[0], refs_sites[s]) -
					refs_net(&base[0], refs_sites[s])) / cycles -
			       clean_net[0][s];

		if (s != sc->site && other) {
			set_inject(insts[0], "none");
			ksft_test_result_code(KSFT_FAIL, name,
					      "%s: wrong site %s also changed %+.1f",
					      insts[0], refs_sites[s], other);
			return;
		}
	}

	/* Not the other instance */
	ret = refs_check(insts[1], &base[1], cycles, &now[1], msg, sizeof(msg));
	if (ret) {
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name, "%s, not injected: %s", insts[1],
				      ret < 0 ? strerror(-ret) : msg);
		return;
	}

	/* Ending the injection gives back the references */
	ret = set_inject(insts[0], "none");
	if (!ret && !sc->clients_back)
		ret = cycle(true, msg, sizeof(msg));
	if (!ret)
		ret = refs_read(insts[0], &after);
	if (ret || refs_num(&after, "refcount") != refs_num(&pre[0], "refcount")) {
		ksft_test_result_code(KSFT_FAIL, name, "%s: not restored: refcount %lld, was %lld",
				      insts[0], ret ? -1LL : refs_num(&after, "refcount"),
				      refs_num(&pre[0], "refcount"));
		return;
	}
	if (logged_splat(name))
		return;
	ksft_test_result_code(KSFT_PASS, name, NULL);
}

/* Write @name to the reprobe file of @inst: 0 or -errno */
static int write_reprobe(const char *inst, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), REFS_DIR "/%s/reprobe", inst);
	return write_str(path, name);
}

/*
 * Probe every client of the first instance again through the reprobe
 * file, as the unbind/rebind test does for an IOMMU that cannot be
 * unbound; @err names what failed.
 */
static int reprobe_cycle(char *err, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = 0, n = 0;
	DIR *d;

	snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices", insts[0]);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		ret = write_reprobe(insts[0], de->d_name);
		if (ret)
			snprintf(err, len, "reprobe %s: %s", de->d_name, strerror(-ret));
		n++;
	}
	closedir(d);
	if (!ret && test_iommu_clients(insts[0]) != CLIENTS) {
		snprintf(err, len, "%s: %d clients after reprobing %d, expected %d", insts[0],
			 test_iommu_clients(insts[0]), n, CLIENTS);
		ret = -ENODEV;
	}
	return ret;
}

/*
 * The reprobe file: an of_xlate() leak shows in cycles that probe the
 * clients again without unbinding the IOMMU; bad input is refused and
 * changes nothing.
 */
static void test_reprobe(void)
{
	static const struct {
		const char *name;
		int err;
	} bad[] = {
		{ " ", -EINVAL },	/* empty, once stripped */
		{ "no-such-device", -ENODEV },
		{ "test-iommus:client1-0", -EINVAL },	/* the other instance's */
		{ "test-iommus:iommu0", -EINVAL },	/* not a client */
	};
	const char *name = "test_iommu.reprobe";
	struct refs base, now;
	char msg[1024] = "";
	long long rc;
	int ret;

	if (!refs_has_reprobe(insts[0])) {
		ksft_test_result_code(KSFT_SKIP, name, "no %s/%s/reprobe in this kernel",
				      REFS_DIR, insts[0]);
		return;
	}
	ret = refs_read(insts[0], &base);
	for (size_t i = 0; !ret && i < ARRAY_SIZE(bad); i++) {
		ret = write_reprobe(insts[0], bad[i].name);
		if (ret != bad[i].err) {
			snprintf(msg, sizeof(msg), "reprobe \"%s\": %s, expected %s", bad[i].name,
				 ret ? strerror(-ret) : "accepted", strerror(-bad[i].err));
			ret = -EINVAL;
		} else {
			ret = 0;
		}
	}
	if (!ret)
		ret = refs_read(insts[0], &now);
	if (!ret && (refs_num(&now, "refcount") != refs_num(&base, "refcount") ||
		     refs_site(&now, "release_device", "calls") !=
		     refs_site(&base, "release_device", "calls"))) {
		snprintf(msg, sizeof(msg), "refused writes changed the counters");
		ret = -EINVAL;
	}
	/* A clean cycle, then one with the leak */
	if (!ret)
		ret = reprobe_cycle(msg, sizeof(msg));
	if (!ret)
		ret = refs_read(insts[0], &base);
	if (!ret)
		ret = set_inject(insts[0], "xlate_leak");
	for (int c = 0; !ret && c < cycles; c++)
		ret = reprobe_cycle(msg, sizeof(msg));
	/* Detected while injected: ending the injection gives them back */
	if (!ret)
		ret = refs_check(insts[0], &base, cycles, &now, msg, sizeof(msg));
	if (ret <= 0) {
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name, "%s: %s", insts[0],
				      !ret ? "xlate_leak not detected by reprobe cycles" :
				      *msg ? msg : strerror(-ret));
		return;
	}
	ksft_print_msg("%s: detected: %s\n", insts[0], msg);
	rc = (refs_site(&now, "of_xlate", "taken") - refs_site(&now, "of_xlate", "dropped")) -
	     (refs_site(&base, "of_xlate", "taken") - refs_site(&base, "of_xlate", "dropped"));
	if (rc != (long long)cycles * CLIENTS) {
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name, "%s: of_xlate kept %lld, expected %d",
				      insts[0], rc, cycles * CLIENTS);
		return;
	}
	ret = set_inject(insts[0], "none");
	if (!ret)
		ret = refs_read(insts[0], &now);
	if (ret || refs_num(&now, "refcount") != refs_num(&base, "refcount")) {
		ksft_test_result_code(KSFT_FAIL, name, "%s: not restored", insts[0]);
		return;
	}
	if (logged_splat(name))
		return;
	ksft_test_result_code(KSFT_PASS, name, NULL);
}

static void test_reload(void)
{
	char path[PATH_MAX];
	int ret = 0, i;

	if (test_iommu_builtin()) {
		ksft_test_result_code(KSFT_SKIP, "test_iommu.reload",
				      "built in (CONFIG_TEST_IOMMU=y): cannot be unloaded");
		return;
	}
	for (i = 0; !ret && i < RELOADS; i++) {
		ret = load();
		if (!ret) {
			snprintf(path, sizeof(path), REFS_DIR "/%s", insts[0]);
			ret = exists(path) ? 0 : -ENOENT;
		}
		if (!ret)
			ret = test_iommu_unload();
		if (!ret)
			ret = exists(TEST_IOMMU_DEBUGFS) || exists(path) ? -EEXIST : 0;
		if (!ret)
			journal_clear();
	}
	if (!ret && logged_splat("test_iommu.reload"))
		return;
	ksft_test_result_code(ret ? KSFT_FAIL : KSFT_PASS, "test_iommu.reload",
			      ret ? "load/unload %d: %s" : NULL, i, strerror(-ret));
}

int main(int argc, char *argv[])
{
	char jwhy[PATH_MAX + 64];
	const char *why;
	int ret;

	parse_args(argc, argv);

	/* First bring back what a killed run left (it may have left the module) */
	if (!geteuid() && journal_init(jwhy, sizeof(jwhy)))
		ksft_exit_skip("%s\n", jwhy);
	why = refs_unavailable() ?: test_iommu_unavailable();
	if (why)
		ksft_exit_skip("%s\n", why);

	ksft_print_header();
	kmsg_open();
	ret = load();
	/* Refused (module signatures, lockdown, a blacklist) or not as asked */
	if (ret == -EPERM || ret == -EKEYREJECTED || ret == -ENOKEY || ret == -ENODEV)
		ksft_exit_skip("%s %s: %s\n", test_iommu_builtin() ? "built-in" : "loading",
			       TEST_IOMMU_MODULE, ret == -ENODEV ?
			       "not 2 instances (built in with other parameters?)" :
			       strerror(-ret));
	if (ret)
		ksft_exit_fail_msg("loading %s: %s\n", test_iommu_path, strerror(-ret));
	ksft_set_plan(3 + ARRAY_SIZE(scenarios));
	ksft_print_msg("%s loaded (%s): instances %s and %s\n", test_iommu_path,
		       MODULE_PARAMS, insts[0], insts[1]);

	test_clean();
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		test_scenario(&scenarios[i]);
	test_reprobe();
	ret = test_iommu_unload();
	if (ret)
		ksft_exit_fail_msg("unloading %s: %s\n", TEST_IOMMU_MODULE,
				   strerror(-ret));
	journal_clear();
	test_reload();
	ksft_finished();
}
