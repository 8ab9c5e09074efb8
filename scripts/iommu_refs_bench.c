// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of CONFIG_IOMMU_DEBUG_REFS on an IOMMU unbind/rebind cycle.
 *
 * Loads the test IOMMU driver with one instance of -c N clients (default
 * 1000), then times N cycles (-n N, default 3, after one warm-up cycle):
 * unbind the instance, bind it, wait until every client is back in its
 * "devices" directory.  Prints the time of each cycle and a line for the
 * host to compare, with the same kernel configuration with the option on
 * and off:
 *
 *   iommu-bench: refs=on clients=1000 cycles=3 median_us=123456 min_us=120000
 *
 * Runs whatever the option, as it measures it.  Not a selftest (the times
 * mean nothing alone): "make bench" builds it with the selftests' headers
 * and the QEMU harness runs it.  Skips when not root or without the module.
 */
#define _GNU_SOURCE
#include "test_iommu.h"

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* One timed cycle of @inst and its @want clients: its time in us, or -errno. */
static long timed_cycle(const char *inst, int want)
{
	long start = now_us(), end;
	int ret;

	ret = test_iommu_rebind(inst);
	if (ret)
		return ret;
	end = start + timeout_ms * 1000L;
	while (test_iommu_clients(inst) != want) {
		if (now_us() > end)
			return -ETIMEDOUT;
		usleep(200);
	}
	return now_us() - start;
}

int main(int argc, char *argv[])
{
	char insts[TEST_IOMMU_MAX][NAME_MAX + 1], params[64];
	const char *why, *refs;
	int nr_clients = 1000, opt;
	long *us, ret;

	while ((opt = getopt(argc, argv, "c:n:")) != -1) {
		if (opt == 'c')
			nr_clients = parse_num(argv[0], "-c", optarg, 1);
		else if (opt == 'n')
			cycles = parse_num(argv[0], "-n", optarg, 1);
		else
			print_usage(argv[0], "usage: -c clients -n cycles");
	}
	why = test_iommu_unavailable();
	if (why)
		ksft_exit_skip("%s\n", why);
	refs = exists(REFS_DIR) ? "on" : "off";
	us = calloc(cycles, sizeof(*us));
	if (!us)
		ksft_exit_fail_msg("out of memory\n");

	ksft_print_header();
	ksft_set_plan(1);
	snprintf(params, sizeof(params), "instances=1 clients=%d", nr_clients);
	ret = test_iommu_load(params);
	if (!ret)
		ret = test_iommu_instances(insts) == 1 ? 0 : -ENODEV;
	if (ret)
		ksft_exit_fail_msg("loading %s (%s): %s\n", test_iommu_path, params,
				   strerror(-ret));

	/* Warm-up, and the clients of the first probe are all there */
	ret = timed_cycle(insts[0], nr_clients);
	for (int c = 0; ret >= 0 && c < cycles; c++) {
		ret = timed_cycle(insts[0], nr_clients);
		if (ret >= 0) {
			us[c] = ret;
			ksft_print_msg("cycle %d: %ld us\n", c + 1, ret);
		}
	}
	if (ret < 0) {
		test_iommu_unload();
		ksft_exit_fail_msg("%s: cycle: %s\n", insts[0], strerror(-ret));
	}
	qsort(us, cycles, sizeof(*us), cmp_long);
	printf("iommu-bench: refs=%s clients=%d cycles=%d median_us=%ld min_us=%ld\n",
	       refs, nr_clients, cycles, us[cycles / 2], us[0]);
	ret = test_iommu_unload();
	ksft_test_result(!ret, "bench.unbind_rebind_%d_clients\n", nr_clients);
	free(us);
	ksft_finished();
}
