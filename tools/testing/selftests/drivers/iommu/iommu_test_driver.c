// SPDX-License-Identifier: GPL-2.0
/*
 * Prove that the IOMMU reference accounting catches leaks, with the test
 * IOMMU driver (CONFIG_TEST_IOMMU): a clean run and its controls, each
 * fault the driver can inject caught at its instance, site and stack, and
 * the 11 leaks of the "iommu: fix device leaks" series. Every change is
 * journaled and undone (iommu_safety.h). See
 * Documentation/iommu/selftests.rst.
 */
#define _GNU_SOURCE
#include "iommu_safety.h"
#include "test_iommu.h"

#define MODULE_PARAMS	"instances=3 clients=4 fixed=1 dual=1"
#define CLIENTS		4
/* insts[FIXED], when there is one: the instance that cannot be unbound */
#define FIXED		2
#define FIXED_DRIVER	"/sys/bus/platform/drivers/test-iommu-fixed"
/* A client of the first two instances */
#define DUAL_CLIENT	"/sys/bus/platform/devices/test-iommus:dual0"

/* In the order of refs_sites[] */
enum site { XLATE, PROBE, RELEASE, DRIVER_PROBE };

struct scenario {
	const char *name;	/* test_iommu.<name> */
	const char *mode;	/* the fault injected */
	enum site site;		/* where the fault must show */
	int sign;		/* +1 leak, -1 underflow */
	bool error_path;	/* counted as leaked by failed calls */
	bool clients_back;	/* clients are probed again after bind */
	bool companion;		/* on the instance's companion device */
	int inst;		/* injected in insts[inst]: 0, or FIXED (reprobe cycles) */
	int target;		/* the instance that must show it */
	bool first_only;	/* bind cycles of the first instance only */
	bool dual;		/* needs the client of two instances */
};

static const struct scenario scenarios[] = {
	{ "xlate_leak", "xlate_leak", XLATE, 1, .clients_back = true },
	{ "probe_leak", "probe_leak", PROBE, 1, .clients_back = true },
	{ "release_leak", "release_leak", RELEASE, 1, .clients_back = true },
	{ "probe_error_leak", "probe_error_leak", PROBE, 1, .error_path = true },
	{ "extra_put", "extra_put", RELEASE, -1, .clients_back = true },
	{ "xlate_error_leak", "xlate_error_leak", XLATE, 1, .error_path = true },
	{ "companion_leak", "companion_leak", PROBE, 1, .clients_back = true,
	  .companion = true },
	{ "driver_probe_leak", "driver_probe_leak", DRIVER_PROBE, 1, .clients_back = true,
	  .companion = true },
	/* The client of two IOMMUs keeps the other one's device */
	{ "other_leak", "other_leak", PROBE, 1, .clients_back = true, .target = 1,
	  .first_only = true, .dual = true },
	{ "fixed.xlate_leak", "xlate_leak", XLATE, 1, .clients_back = true, .inst = FIXED,
	  .target = FIXED },
	{ "fixed.probe_leak", "probe_leak", PROBE, 1, .clients_back = true, .inst = FIXED,
	  .target = FIXED },
};

/*
 * The eleven leaks of the "iommu: fix device leaks" series, each with the
 * scenario that reproduces its pattern.
 */
static const struct {
	const char *leak;
	const char *scenario;
} seeds[] = {
	{ "apple-dart.of_xlate", "fixed.xlate_leak" },
	{ "qcom.of_xlate", "xlate_leak" },
	{ "exynos.of_xlate", "fixed.xlate_leak" },
	{ "ipmmu-vmsa.of_xlate", "xlate_leak" },
	{ "mediatek.of_xlate", "xlate_leak" },
	{ "mediatek.probe", "driver_probe_leak" },
	{ "mediatek-v1.probe_device", "probe_leak" },
	{ "mediatek-v1.probe", "driver_probe_leak" },
	{ "omap.probe_device", "other_leak" },
	{ "sun50i.of_xlate", "fixed.xlate_leak" },
	{ "tegra.probe_device", "fixed.probe_leak" },
};

#define NR_SCENARIOS	((int)ARRAY_SIZE(scenarios))

static char insts[TEST_IOMMU_MAX][NAME_MAX + 1];
static int nr_insts;		/* 3 with the fixed instance, else 2 */
static bool has_dual;
/* Clean per-cycle net of each site, per instance */
static double clean_net[3][REFS_NR_SITES];
/* Per scenario: passed, and where the fault was caught */
static bool caught[NR_SCENARIOS];
static char caught_at[NR_SCENARIOS][256];
/* The controls of the clean run: kept on purpose, balanced */
static bool control_release, control_remove;

/* Clients expected in insts[@i]'s devices directory */
static int clients_of(int i)
{
	return CLIENTS + (i == 0 && has_dual);
}

/*
 * Load (journaled: unloaded again if we are killed) and find the
 * instances: two that can be unbound, and the fixed one when the module
 * was loaded here (built in, only the two made at boot).
 */
static int load(void)
{
	char path[PATH_MAX];
	int ret = 0, n;

	if (!test_iommu_builtin())
		ret = journal_add("unload %s", TEST_IOMMU_MODULE);
	if (!ret)
		ret = test_iommu_load(MODULE_PARAMS);
	n = ret ? 0 : test_iommu_instances(insts);
	/* Built in, unbound instances are bound again; a module, unloaded */
	for (int i = 0; i < n && i < FIXED && !ret; i++)
		ret = journal_add("%s platform %s %s", test_iommu_builtin() ? "bind" : "unbind",
				  TEST_IOMMU_DRIVER_NAME, insts[i]);
	if (!ret && n == 3) {
		snprintf(path, sizeof(path), FIXED_DRIVER "/%s", insts[FIXED]);
		if (!exists(path))
			ret = -ENODEV;
	}
	if (!ret && n != 2 && n != 3)
		ret = -ENODEV;
	nr_insts = ret ? 0 : n;
	has_dual = exists(DUAL_CLIENT);
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

/* Wait until insts[@i] has @want clients; @err names what failed. */
static int wait_clients(int i, int want, char *err, size_t len)
{
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
	return 0;
}

/*
 * One unbind/bind cycle of both instances that can be unbound (of the
 * first only with @first_only); @err names what failed.
 */
static int cycle(bool clients_back, bool first_only, char *err, size_t len)
{
	int ret, n = first_only ? 1 : 2;

	for (int i = 0; i < n; i++) {
		ret = test_iommu_rebind(insts[i]);
		if (ret) {
			if (snprintf(err, len, "unbind/bind %s: %s", insts[i], strerror(-ret)) < 0)
				err[0] = '\0';
			return ret;
		}
	}
	for (int i = 0; i < n; i++) {
		ret = wait_clients(i, i == 0 && !clients_back ? 0 : clients_of(i), err, len);
		if (ret)
			return ret;
	}
	return 0;
}

/* Write @name to the reprobe file of @inst: 0 or -errno */
static int write_reprobe(const char *inst, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), REFS_DIR "/%s/reprobe", inst);
	return write_str(path, name);
}

/*
 * Probe every client of insts[@i] again through the reprobe file, as the
 * unbind/rebind test does for an IOMMU that cannot be unbound; @err names
 * what failed.
 */
static int reprobe_cycle(int i, char *err, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = 0, n = 0;
	DIR *d;

	snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices", insts[i]);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		ret = write_reprobe(insts[i], de->d_name);
		if (ret && snprintf(err, len, "reprobe %s: %s", de->d_name, strerror(-ret)) < 0)
			err[0] = '\0';
		n++;
	}
	closedir(d);
	if (!ret && test_iommu_clients(insts[i]) != clients_of(i)) {
		if (snprintf(err, len, "%s: %d clients after reprobing %d, expected %d", insts[i],
			     test_iommu_clients(insts[i]), n, clients_of(i)) < 0)
			err[0] = '\0';
		ret = -ENODEV;
	}
	return ret;
}

/* The cycle of scenario @sc: reprobe for the fixed instance, else bind */
static int sc_cycle(const struct scenario *sc, char *err, size_t len)
{
	if (sc->inst == FIXED)
		return reprobe_cycle(FIXED, err, len);
	return cycle(sc->clients_back, sc->first_only, err, len);
}

static int snapshot(struct refs *r, char *err, size_t len)
{
	for (int i = 0; i < nr_insts; i++) {
		int ret = refs_read(insts[i], &r[i]);

		if (ret) {
			if (snprintf(err, len, "counters of %s: %s", insts[i], strerror(-ret)) < 0)
				err[0] = '\0';
			return ret;
		}
	}
	return 0;
}

/* How many references companion @name kept since @base, and whether it holds as many */
static long long comp_kept(const struct refs *base, const struct refs *now, const char *name,
			   bool *same_held)
{
	long long k = -1, held = -1;

	for (int i = 0; i < now->ncomp; i++) {
		if (strcmp(now->comp[i].name, name))
			continue;
		k = now->comp[i].kept;
		held = now->comp[i].held;
	}
	for (int i = 0; i < base->ncomp; i++) {
		if (strcmp(base->comp[i].name, name))
			continue;
		k -= base->comp[i].kept;
		held -= base->comp[i].held;
	}
	*same_held = !held;
	return k;
}

/*
 * The two controls, from the clean run of the first instance: references
 * kept on purpose must be seen and not be reported. probe_device() keeps
 * one per client until release_device(); probe() keeps one on the
 * companion until remove().
 */
static void test_controls(const struct refs *base, const struct refs *now, bool balanced)
{
	char companion[64];
	long long grew = 0, kept;
	bool same = false;

	refs_top_stack(base, now, "probe_device", "", &grew);
	control_release = balanced && grew == (long long)cycles * clients_of(0);
	ksft_test_result(control_release, "test_iommu.control.release_device%s%lld%s\n",
			 " # probe_device() kept ", grew / cycles,
			 " per cycle on purpose, all dropped by release_device()");

	snprintf(companion, sizeof(companion), "test-iommus:companion%c",
		 insts[0][strlen(insts[0]) - 1]);
	kept = comp_kept(base, now, companion, &same);
	control_remove = balanced && same && kept == cycles;
	ksft_test_result(control_remove, "test_iommu.control.remove # probe() kept %lld on %s%s\n",
			 kept, companion, same ? ", all dropped by remove()" : ", not all dropped");
}

static void test_clean(void)
{
	struct refs base[3], now[3];
	char msg[1024] = "", err[1024] = "";
	bool balanced0 = false;
	int ret, bad = 0;

	/* A warm-up cycle: the first probe() after load was not watched */
	ret = cycle(true, false, err, sizeof(err));
	if (!ret && nr_insts > FIXED)
		ret = reprobe_cycle(FIXED, err, sizeof(err));
	if (!ret)
		ret = snapshot(base, err, sizeof(err));
	for (int c = 0; !ret && c < cycles; c++) {
		ret = cycle(true, false, err, sizeof(err));
		if (!ret && nr_insts > FIXED)
			ret = reprobe_cycle(FIXED, err, sizeof(err));
	}
	for (int i = 0; !ret && i < nr_insts; i++) {
		int r = refs_check(insts[i], &base[i], cycles, &now[i], msg, sizeof(msg));

		if (r < 0) {
			if (snprintf(err, sizeof(err), "counters of %s: %s", insts[i],
				     strerror(-r)) < 0)
				err[0] = '\0';
			ret = r;
			break;
		}
		if (!i)
			balanced0 = !r;
		if (r > 0) {
			ksft_print_msg("%s: %s\n", insts[i], msg);
			if (!bad++ && snprintf(err, sizeof(err), "%s: %s", insts[i], msg) < 0)
				err[0] = '\0';
		}
		for (int s = 0; s < REFS_NR_SITES; s++)
			clean_net[i][s] = (double)(refs_net(&now[i], refs_sites[s]) -
						   refs_net(&base[i], refs_sites[s])) / cycles;
		if (!r)
			ksft_print_msg("%s: balanced, %d %s: refcount %lld, %s %lld calls\n",
				       insts[i], cycles, i == FIXED ? "reprobe cycles" : "cycles",
				       refs_num(&now[i], "refcount"), "probe_device",
				       refs_site(&now[i], "probe_device", "calls"));
	}
	if (logged_splat("test_iommu.clean"))
		ret = -EIO;
	else
		ksft_test_result_code(ret || bad ? KSFT_FAIL : KSFT_PASS, "test_iommu.clean",
				      ret || bad ? "%s" : NULL, err);
	if (ret) {
		ksft_test_result_code(KSFT_FAIL, "test_iommu.control.release_device",
				      "no clean run");
		ksft_test_result_code(KSFT_FAIL, "test_iommu.control.remove", "no clean run");
		return;
	}
	test_controls(&base[0], &now[0], balanced0);
}

/* End scenario @sc's injection and fail it with @fmt */
static void __printf(3, 4) sc_fail(const struct scenario *sc, const char *name,
				   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	set_inject(insts[sc->inst], "none");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ksft_test_result_code(KSFT_FAIL, name, "%s", msg);
}

static void test_scenario(int idx)
{
	const struct scenario *sc = &scenarios[idx];
	const char *site = refs_sites[sc->site];
	int f = sc->inst, t = sc->target, o = t ? 0 : 1;
	struct refs pre[3], base[3], now[3], after;
	char msg[1024] = "", name[64], key[64];
	long long grew = 0;
	const struct refs_stack *st = NULL;
	double site_growth, err_growth;
	int ret, c;

	snprintf(name, sizeof(name), "test_iommu.%s", sc->name);
	snprintf(key, sizeof(key), "%s.fn", site);
	if ((f == FIXED || t == FIXED) && nr_insts <= FIXED) {
		ksft_test_result_code(KSFT_SKIP, name,
				      "no instance that cannot be unbound (test-iommu built in)");
		return;
	}
	if (sc->dual && !has_dual) {
		ksft_test_result_code(KSFT_SKIP, name,
				      "no client of two instances (test-iommu built in)");
		return;
	}
	/* Setting a mode may take a reference: the baseline comes after */
	ret = snapshot(pre, msg, sizeof(msg));
	if (!ret)
		ret = set_inject(insts[f], sc->mode);
	if (!ret)
		ret = snapshot(base, msg, sizeof(msg));
	for (c = 0; !ret && c < cycles; c++)
		ret = sc_cycle(sc, msg, sizeof(msg));
	if (ret) {
		sc_fail(sc, name, "%s", msg);
		return;
	}

	/* The instance that must show the fault: the detector must report it */
	ret = refs_check(insts[t], &base[t], cycles, &now[t], msg, sizeof(msg));
	if (ret <= 0) {
		sc_fail(sc, name, "%s: %s", insts[t],
			ret ? strerror(-ret) : "not detected: refcount back to baseline");
		return;
	}
	ksft_print_msg("%s: detected: %s\n", insts[t], msg);

	/* On the companion, kept at the injected lookup in the right callback */
	if (sc->companion) {
		int i = refs_top_comp(&base[t], &now[t]);

		if (i >= 0)
			st = refs_top_stack(&base[t], &now[t], NULL, now[t].comp[i].name, &grew);
		if (!st || strcmp(st->site, site) || !strstr(now[t].comp[i].name, "companion") ||
		    !refs_frame_in(st->in, refs_str(&now[t], key))) {
			sc_fail(sc, name, "%s: no companion kept in %s (%s): %s %s",
				insts[t], site, refs_str(&now[t], key),
				i >= 0 ? now[t].comp[i].name : "none grew",
				st ? st->site : "");
			return;
		}
		ksft_print_msg("%s: companion %s kept %+.1f per cycle in %s at %s in %s\n",
			       insts[t], now[t].comp[i].name, (double)grew / cycles, st->site,
			       st->at, st->in);
		snprintf(caught_at[idx], sizeof(caught_at[idx]), "%s on %s at %s in %s",
			 st->site, now[t].comp[i].name, st->at, st->in);
	}

	/* At the right site (first_only cycles leave the target untouched) */
	site_growth = (double)(refs_net(&now[t], site) - refs_net(&base[t], site)) / cycles -
		      (sc->first_only && t ? 0 : clean_net[t][sc->site]);
	err_growth = (double)(refs_site(&now[t], site, "error_leaks") -
			      refs_site(&base[t], site, "error_leaks")) / cycles;
	if (!sc->companion &&
	    (sc->error_path ? err_growth <= 0 : site_growth * sc->sign <= 0)) {
		sc_fail(sc, name,
			"%s: %s holds %+.1f per cycle against the clean run, %s %+.1f",
			insts[t], site, site_growth, "leaked by failed calls",
			err_growth);
		return;
	}
	if (sc->error_path)
		snprintf(caught_at[idx], sizeof(caught_at[idx]), "%s (%s): %+.1f per cycle %s",
			 site, refs_str(&now[t], key), err_growth, "leaked by failed calls");
	/*
	 * And at the right stack: the injected lookup, in the callback, at
	 * which no reference was kept before (the lookup whose reference
	 * release_device() drops is kept at another one)
	 */
	if (sc->sign > 0 && sc->site != RELEASE && !sc->error_path && !sc->companion) {
		st = refs_top_stack(&base[t], &now[t], site, "", &grew);
		if (!st || !refs_frame_in(st->in, refs_str(&now[t], key)) || st->count != grew) {
			sc_fail(sc, name,
				"%s: kept references not attributed to the injected lookup in %s: %s%s",
				insts[t], refs_str(&now[t], key),
				st ? "top stack at " : "no stack grew", st ? st->at : "");
			return;
		}
		ksft_print_msg("%s: %s kept %+.1f per cycle taken at %s in %s\n", insts[t],
			       site, (double)grew / cycles, st->at, st->in);
		snprintf(caught_at[idx], sizeof(caught_at[idx]), "%s on %s at %s in %s", site,
			 insts[t], st->at, st->in);
	}
	for (int s = 0; s < REFS_NR_SITES && !sc->error_path; s++) {
		double other = (double)(refs_net(&now[t], refs_sites[s]) -
					refs_net(&base[t], refs_sites[s])) / cycles -
			       (sc->first_only && t ? 0 : clean_net[t][s]);

		if (s != (int)sc->site && other) {
			sc_fail(sc, name, "%s: wrong site %s also changed %+.1f",
				insts[t], refs_sites[s], other);
			return;
		}
	}

	/* Not another instance */
	ret = refs_check(insts[o], &base[o], cycles, &now[o], msg, sizeof(msg));
	if (ret) {
		sc_fail(sc, name, "%s, not injected: %s", insts[o],
			ret < 0 ? strerror(-ret) : msg);
		return;
	}

	/* Ending the injection gives back the references */
	ret = set_inject(insts[f], "none");
	if (!ret && !sc->clients_back)
		ret = cycle(true, false, msg, sizeof(msg));
	if (!ret)
		ret = refs_read(insts[t], &after);
	if (ret || refs_num(&after, "refcount") != refs_num(&pre[t], "refcount") ||
	    refs_top_comp(&pre[t], &after) >= 0) {
		ksft_test_result_code(KSFT_FAIL, name,
				      "%s: not restored: refcount %lld, was %lld%s",
				      insts[t], ret ? -1LL : refs_num(&after, "refcount"),
				      refs_num(&pre[t], "refcount"),
				      !ret && refs_top_comp(&pre[t], &after) >= 0 ?
				      ", a companion holds more" : "");
		return;
	}
	if (logged_splat(name))
		return;
	caught[idx] = true;
	ksft_test_result_code(KSFT_PASS, name, NULL);
}

/*
 * test_iommu.alloc_fail_leak: a leak on an allocation failure path only.
 * Plain cycles of the first instance stay balanced; fault injection as
 * iommu_unbind_rebind -F does it (the n-th allocation of the bind fails,
 * n = 1, 2, ..., then a clean cycle) catches it in probe_device, counting,
 * with the stack-trace filter, only the allocations under the driver's
 * probe_device() (without it, all of the bind's: about 90 points).
 */
static void test_alloc_fail(void)
{
	const char *name = "test_iommu.alloc_fail_leak", *why;
	char msg[1024] = "", path[PATH_MAX];
	bool injected = true, caught = false, filtered;
	struct refs pre, now;
	int ret, n, err = 0;
	off_t fmark;

	why = fail_points ? NULL : "no -F: fault injection not asked for";
	/*
	 * Only what the driver's probe_device() allocates (the counters'
	 * probe_device.fn): its first point is the leaking allocation
	 */
	filtered = !why && !refs_read(insts[0], &pre) &&
		   !fail_nth_init(&fmark, refs_str(&pre, "probe_device.fn"));
	if (!why && !filtered)
		why = fail_nth_init(&fmark, NULL);
	if (why) {
		ksft_test_result_code(KSFT_SKIP, name, "%s", why);
		return;
	}
	snprintf(path, sizeof(path), TEST_IOMMU_DRIVER "/%s", insts[0]);
	ret = refs_read(insts[0], &pre) ?: set_inject(insts[0], "alloc_fail_leak");
	for (int c = 0; !ret && c < cycles; c++)
		ret = cycle(true, true, msg, sizeof(msg));
	if (!ret && refs_check(insts[0], &pre, cycles, &now, msg, sizeof(msg))) {
		journal_restore_from(fmark);
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name, "plain cycles: %s", msg);
		return;
	}
	for (n = 1; !ret && !caught && injected && n < 1000; n++) {
		ret = write_str(TEST_IOMMU_DRIVER "/unbind", insts[0]);
		if (!ret)
			err = fail_nth_write(TEST_IOMMU_DRIVER "/bind", insts[0], n, &injected,
					     NULL);
		if (!ret && exists(path))
			ret = write_str(TEST_IOMMU_DRIVER "/unbind", insts[0]);
		if (!ret)
			ret = write_str(TEST_IOMMU_DRIVER "/bind", insts[0]);
		if (!ret)
			ret = wait_clients(0, clients_of(0), msg, sizeof(msg));
		if (!ret)
			caught = refs_check(insts[0], &pre, 1, &now, msg, sizeof(msg)) > 0;
	}
	journal_restore_from(fmark);
	set_inject(insts[0], "none");
	/* A failed step may have left it unbound */
	if (!exists(path) && !write_str(TEST_IOMMU_DRIVER "/bind", insts[0]))
		wait_clients(0, clients_of(0), msg + strlen(msg), sizeof(msg) - strlen(msg));
	if (ret || !caught) {
		ksft_test_result_code(KSFT_FAIL, name, "%d fault injection points: %s", n - 1,
				      ret ? (*msg ? msg : strerror(-ret)) : "not caught");
		return;
	}
	ksft_print_msg("%s: plain cycles balanced; point %d%s (bind failed: %s): %s\n",
		       insts[0], n - 1, filtered ? " under probe_device()" : "",
		       err ? strerror(-err) : "no error", msg);
	/* Kept by a probe_device() call that failed */
	if (refs_site(&now, "probe_device", "error_leaks") <=
	    refs_site(&pre, "probe_device", "error_leaks")) {
		ksft_test_result_code(KSFT_FAIL, name, "not leaked by a failed probe_device()");
		return;
	}
	ret = refs_check(insts[0], &pre, 1, &now, msg, sizeof(msg));
	if (ret) {
		ksft_test_result_code(KSFT_FAIL, name, "not restored: %s",
				      ret < 0 ? strerror(-ret) : msg);
		return;
	}
	if (logged_splat(name))
		return;
	ksft_test_result_code(KSFT_PASS, name, NULL);
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
		ret = reprobe_cycle(0, msg, sizeof(msg));
	if (!ret)
		ret = refs_read(insts[0], &base);
	if (!ret)
		ret = set_inject(insts[0], "xlate_leak");
	for (int c = 0; !ret && c < cycles; c++)
		ret = reprobe_cycle(0, msg, sizeof(msg));
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
	if (rc != (long long)cycles * clients_of(0)) {
		set_inject(insts[0], "none");
		ksft_test_result_code(KSFT_FAIL, name, "%s: of_xlate kept %lld, expected %d",
				      insts[0], rc, cycles * clients_of(0));
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

/*
 * One result per leak of the "iommu: fix device leaks" series: caught when
 * the scenario that reproduces its pattern caught it, at the right site.
 * Then the score, one line a script can read.
 */
static void test_seeds(void)
{
	int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(seeds); i++) {
		char name[96];
		int sc;

		for (sc = 0; sc < NR_SCENARIOS; sc++)
			if (!strcmp(scenarios[sc].name, seeds[i].scenario))
				break;
		snprintf(name, sizeof(name), "test_iommu.seed.%s", seeds[i].leak);
		n += caught[sc];
		if (caught[sc])
			ksft_test_result_code(KSFT_PASS, name, NULL);
		else
			ksft_test_result_code(KSFT_FAIL, name, "test_iommu.%s did not catch it",
					      seeds[i].scenario);
		ksft_print_msg("seed %s: test_iommu.%s: %s\n", seeds[i].leak, seeds[i].scenario,
			       caught[sc] ? caught_at[sc] : "not caught");
	}
	ksft_print_msg("seed-leaks: caught %d/%zu, controls passed %d/2\n", n, ARRAY_SIZE(seeds),
		       control_release + control_remove);
}

int main(int argc, char *argv[])
{
	char jwhy[PATH_MAX + 64];
	const char *why;
	int ret;

	parse_args(argc, argv);
	/* Its sweep stops at its first catch: from point 1 */
	if (fail_first > 1)
		print_usage(argv[0], "-F M-N: only iommu_unbind_rebind sweeps a range");
	if (geteuid())
		check_selected(argv[0]);
	ksft_print_header();

	/* First bring back what a killed run left (it may have left the module) */
	if (!geteuid() && journal_init(jwhy, sizeof(jwhy)))
		ksft_exit_skip("%s\n", jwhy);
	if (restore_only) {
		if (geteuid())
			ksft_exit_skip("must be root to restore\n");
		journal_clear();
		exit(KSFT_PASS);
	}
	/* (after the replay: a -d IOMMU a killed run left unbound is back) */
	if (!geteuid())
		check_selected(argv[0]);
	why = refs_unavailable() ?: test_iommu_unavailable();
	if (why)
		ksft_exit_skip("%s\n", why);

	kmsg_open();
	ret = load();
	/* Refused (module signatures, lockdown, a blacklist) or not as asked */
	if (ret == -EPERM || ret == -EKEYREJECTED || ret == -ENOKEY || ret == -ENODEV)
		ksft_exit_skip("%s %s: %s\n", test_iommu_builtin() ? "built-in" : "loading",
			       TEST_IOMMU_MODULE, ret == -ENODEV ?
			       "not 2 instances (built in with other parameters?)" :
			       strerror(-ret));
	if (ret)
		ksft_exit_fail_msg("loading %s: %s\n", TEST_IOMMU_MODULE, strerror(-ret));
	ksft_set_plan(5 + NR_SCENARIOS + ARRAY_SIZE(seeds));
	ksft_print_msg("%s loaded (%s): instances %s and %s%s%s%s\n", TEST_IOMMU_MODULE,
		       MODULE_PARAMS, insts[0], insts[1], nr_insts > FIXED ? ", fixed " : "",
		       nr_insts > FIXED ? insts[FIXED] : "", has_dual ? ", a client of two" : "");

	test_clean();
	for (int i = 0; i < NR_SCENARIOS; i++)
		test_scenario(i);
	test_reprobe();
	test_alloc_fail();
	test_seeds();
	ret = test_iommu_unload();
	if (ret)
		ksft_exit_fail_msg("unloading %s: %s\n", TEST_IOMMU_MODULE,
				   strerror(-ret));
	journal_clear();
	if (!ksft_get_pass_cnt() && !ksft_get_fail_cnt()) {
		ksft_print_cnts();
		exit(KSFT_SKIP);
	}
	ksft_finished();
}
