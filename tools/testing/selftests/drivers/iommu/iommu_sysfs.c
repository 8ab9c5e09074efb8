// SPDX-License-Identifier: GPL-2.0
/*
 * Check that every IOMMU in /sys/class/iommu is linked to its hardware
 * device and lists the client devices it translates for.
 *
 * One KTAP result per IOMMU instance, named "sysfs.<instance>".  An IOMMU
 * registered without a parent device (Intel VT-d's dmar*, AMD-Vi's ivhd*)
 * is a SKIP; when every IOMMU is, the program exits with KSFT_SKIP.  Read
 * only: it takes the other programs' options, checks them and otherwise
 * ignores them.
 */
#define _GNU_SOURCE
#include "iommu_refs.h"

#define MAX_IOMMUS	64

static int count_entries(const char *path)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int main(int argc, char *argv[])
{
	char names[MAX_IOMMUS][NAME_MAX + 1];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	parse_args(argc, argv);
	check_selected(argv[0]);
	ksft_print_header();
	dir = opendir(IOMMU_CLASS);
	if (!dir)
		ksft_exit_skip("%s: %s (no IOMMU support in this kernel)\n",
			       IOMMU_CLASS, strerror(errno));
	while ((de = readdir(dir)) && n < MAX_IOMMUS)
		if (de->d_name[0] != '.')
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	closedir(dir);
	if (!n)
		ksft_exit_skip("no IOMMU registered in %s\n", IOMMU_CLASS);

	ksft_set_plan(n);
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX], target[PATH_MAX], name[NAME_MAX + 8];
		ssize_t len;
		int clients;

		if (snprintf(name, sizeof(name), "sysfs.%s", names[i]) >=
		    (int)sizeof(name) ||
		    snprintf(path, sizeof(path), IOMMU_CLASS "/%s/device",
			     names[i]) >= (int)sizeof(path)) {
			ksft_test_result_code(KSFT_FAIL, names[i], "name too long");
			continue;
		}
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0 && errno == ENOENT) {
			ksft_test_result_code(KSFT_SKIP, name,
					      "no parent device (as Intel VT-d and AMD-Vi register their IOMMUs)");
			continue;
		}
		if (len < 0) {
			ksft_test_result_code(KSFT_FAIL, name, "%s: %s",
					      path, strerror(errno));
			continue;
		}
		target[len] = '\0';
		clients = -ENAMETOOLONG;
		if (snprintf(path, sizeof(path), IOMMU_CLASS "/%s/devices",
			     names[i]) < (int)sizeof(path))
			clients = count_entries(path);
		if (clients < 0) {
			ksft_test_result_code(KSFT_FAIL, name, "%s: %s",
					      path, strerror(-clients));
			continue;
		}
		ksft_print_msg("%s: hardware device %s, %d client(s)\n",
			       names[i], strrchr(target, '/') + 1, clients);
		ksft_test_result_code(KSFT_PASS, name, NULL);
	}
	if (!ksft_get_pass_cnt() && !ksft_get_fail_cnt()) {
		ksft_print_cnts();
		exit(KSFT_SKIP);
	}
	ksft_finished();
}
