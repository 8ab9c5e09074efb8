// SPDX-License-Identifier: GPL-2.0
/*
 * Guest init for the IOMMU selftests QEMU harness.
 *
 * Mounts the pseudo filesystems, runs every program in /tests the way
 * tools/testing/selftests/run_kselftest.sh does (KTAP, one "# selftests:"
 * header and one top-level result per program, the program's own output
 * prefixed with "# "), then reports each KUnit suite the kernel ran at boot
 * as a program of its own ("# selftests: kunit: SUITE", read from
 * /sys/kernel/debug/kunit), shows the IOMMU reference counters
 * (/sys/kernel/debug/iommu/refs), reports kmemleak findings and powers off.  The host
 * side (the Makefile) reads the console: it fails on any "not ok", on any
 * kernel splat and when the final "iommu-qemu: done" line is missing.
 *
 * Kernel command line knobs, for testing the harness itself:
 *   iommu_qemu.inject=fail   add a program result that fails
 *   iommu_qemu.inject=warn   make the kernel WARN through lkdtm
 *   iommu_qemu.inject=oops   make the kernel oops through lkdtm
 *   iommu_qemu.inject=hang   add a program that never ends (timeout)
 *   iommu_qemu.timeout=N     per-program timeout in seconds (default 120)
 *   iommu_qemu.args="..."    extra arguments passed to every program
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define TESTS_DIR	"/tests"
#define MAX_TESTS	64
#define KUNIT_DIR	"/sys/kernel/debug/kunit"
#define REFS_DIR	"/sys/kernel/debug/iommu/refs"

static char inject[32];
static char extra_args[512];
static unsigned int test_timeout = 120;

static void __attribute__((noreturn)) poweroff(void)
{
	fflush(stdout);
	fflush(stderr);
	sync();
	reboot(RB_POWER_OFF);
	sleep(30);
	fprintf(stderr, "iommu-qemu: failed to power off\n");
	exit(1);
}

static void __attribute__((noreturn)) fatal(const char *what)
{
	printf("iommu-qemu: fatal: %s: %s\n", what, strerror(errno));
	poweroff();
}

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0)
		printf("# iommu-qemu: write %s to %s: %s\n", val, path,
		       strerror(errno));
	close(fd);
}

static void ensure_console(void)
{
	for (int i = 0; i < 1000; i++) {
		int fd = open("/dev/console", O_RDWR);

		if (fd < 0) {
			usleep(50000);
			continue;
		}
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
		setvbuf(stdout, NULL, _IOLBF, 0);
		return;
	}
	poweroff();
}

static void mount_filesystems(void)
{
	mkdir("/dev", 0755);
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/tmp", 01777);
	if (mount("none", "/dev", "devtmpfs", 0, NULL) && errno != EBUSY)
		fatal("mount devtmpfs");
	if (mount("none", "/proc", "proc", 0, NULL))
		fatal("mount proc");
	if (mount("none", "/sys", "sysfs", 0, NULL))
		fatal("mount sysfs");
	if (mount("none", "/tmp", "tmpfs", 0, NULL))
		fatal("mount tmpfs");
	/* As on any system: shells need it for process substitution. */
	symlink("/proc/self/fd", "/dev/fd");
	/* The tests report a clean skip when debugfs is missing. */
	mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
}

/* Read "iommu_qemu.KEY=VALUE" from the kernel command line. */
static void parse_cmdline(void)
{
	char buf[4096], *p, *val;
	ssize_t n;
	int fd;

	fd = open("/proc/cmdline", O_RDONLY);
	if (fd < 0)
		fatal("open /proc/cmdline");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		fatal("read /proc/cmdline");
	buf[n] = '\0';

	for (p = buf; *p; ) {
		char *end;
		bool quoted;

		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;
		val = strchr(p, '=');
		quoted = val && val[1] == '"';
		end = quoted ? strchr(val + 2, '"') : strpbrk(p, " \n");
		if (!end)
			end = p + strlen(p);
		if (*end)
			*end++ = '\0';
		if (val && !strncmp(p, "iommu_qemu.", 11)) {
			*val++ = '\0';
			if (quoted)
				val++;
			if (!strcmp(p + 11, "inject"))
				snprintf(inject, sizeof(inject), "%s", val);
			else if (!strcmp(p + 11, "timeout"))
				test_timeout = strtoul(val, NULL, 0);
			else if (!strcmp(p + 11, "args"))
				snprintf(extra_args, sizeof(extra_args), "%s",
					 val);
		}
		p = end;
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

/* Sorted names of the executables (or, with dirs, directories) in path. */
static int list_dir(const char *path, char **names, int max, bool dirs)
{
	struct dirent *de;
	int n = 0;
	DIR *dir;

	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir)) && n < max) {
		char file[512];
		struct stat st;

		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		if (de->d_name[0] == '.' || stat(file, &st))
			continue;
		if (dirs ? !S_ISDIR(st.st_mode) :
			   !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
			continue;
		names[n++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), cmp_names);
	return n;
}

/*
 * Relay the KTAP results of a KUnit suite, nested one level deeper per
 * four spaces of indentation, as run_kselftest.sh would nest a program's
 * output. Returns 0 pass, 4 skip, 1 fail.
 */
static int report_kunit(const char *suite)
{
	char path[512], line[1024];
	int ret = 1;
	FILE *f;

	snprintf(path, sizeof(path), KUNIT_DIR "/%s/results", suite);
	f = fopen(path, "r");
	if (!f) {
		printf("# iommu-qemu: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		int depth = 1;

		line[strcspn(line, "\n")] = '\0';
		for (; !strncmp(p, "    ", 4); p += 4)
			depth++;
		if (depth == 1 && !strncmp(p, "ok 1 ", 5))
			ret = strstr(p, "# SKIP") ? 4 : 0;
		while (depth--)
			fputs("# ", stdout);
		puts(p);
	}
	fclose(f);
	return ret;
}

/* Show every IOMMU's reference counters (CONFIG_IOMMU_DEBUG_REFS). */
static void show_refs(void)
{
	char *names[MAX_TESTS], path[512], line[256];
	int n = list_dir(REFS_DIR, names, MAX_TESTS, true);

	for (int i = 0; i < n; i++) {
		FILE *f;

		snprintf(path, sizeof(path), REFS_DIR "/%s/counters", names[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		printf("# iommu-qemu: %s:\n", path);
		while (fgets(line, sizeof(line), f))
			printf("#   %s", line);
		fclose(f);
	}
}

/* Copy the child's output to the console, each line prefixed with "# ". */
static void relay_output(int fd)
{
	static char line[4096];
	size_t len = 0;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c != '\n' && len < sizeof(line) - 2) {
			line[len++] = c;
			continue;
		}
		line[len] = '\0';
		printf("# %s\n", line);
		len = 0;
	}
	if (len) {
		line[len] = '\0';
		printf("# %s\n", line);
	}
}

static void run_child(const char *name, int out)
{
	char path[512], args[sizeof(extra_args)], *argv[32];
	int argc = 0;

	dup2(out, 1);
	dup2(out, 2);
	close(out);
	setpgid(0, 0);

	if (!strcmp(name, "inject_hang")) {
		printf("TAP version 13\n1..1\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(name, "inject_fail")) {
		printf("TAP version 13\n1..1\n");
		printf("not ok 1 inject_fail # injected by iommu_qemu.inject=fail\n");
		exit(1);
	}

	snprintf(path, sizeof(path), TESTS_DIR "/%s", name);
	argv[argc++] = path;
	snprintf(args, sizeof(args), "%s", extra_args);
	for (char *a = strtok(args, " "); a && argc < 31; a = strtok(NULL, " "))
		argv[argc++] = a;
	argv[argc] = NULL;
	execv(path, argv);
	printf("exec %s: %s\n", path, strerror(errno));
	exit(1);
}

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	timed_out = 1;
}

/* Returns 0 pass, 4 skip, anything else fail (as run_kselftest.sh). */
static int run_test(const char *name)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int pipefd[2], status;
	pid_t pid;

	if (pipe(pipefd))
		fatal("pipe");
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (!pid) {
		close(pipefd[0]);
		run_child(name, pipefd[1]);
	}
	close(pipefd[1]);

	/*
	 * The relay loop ends when the child (and everything it started)
	 * closes the pipe.  On timeout, kill the child's process group: the
	 * read() is interrupted by SIGALRM (no SA_RESTART) and then sees EOF.
	 */
	timed_out = 0;
	sigaction(SIGALRM, &sa, NULL);
	alarm(test_timeout);
	for (;;) {
		relay_output(pipefd[0]);
		if (!timed_out)
			break;
		printf("# iommu-qemu: %s timed out after %u s, killing it\n",
		       name, test_timeout);
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		timed_out = 0;
		alarm(5);
	}
	alarm(0);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			fatal("waitpid");
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	printf("# iommu-qemu: %s killed by signal %d\n", name,
	       WTERMSIG(status));
	return 128 + WTERMSIG(status);
}

static void provoke(const char *what)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* An oops kills this child, not init. */
		write_file("/sys/kernel/debug/provoke-crash/DIRECT", what);
		exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void check_leaks(void)
{
	char buf[4096];
	ssize_t n;
	int fd;

	if (access("/sys/kernel/debug/kmemleak", F_OK))
		return;
	printf("# iommu-qemu: scanning for memory leaks\n");
	write_file("/sys/kernel/debug/kmemleak", "scan");
	sleep(1);
	write_file("/sys/kernel/debug/kmemleak", "scan");
	fd = open("/sys/kernel/debug/kmemleak", O_RDONLY);
	if (fd < 0)
		return;
	/* Every report starts with "unreferenced object": the host fails on it. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, n, stdout);
	close(fd);
}

int main(int argc, char *argv[])
{
	char *names[MAX_TESTS + 2], *suites[MAX_TESTS];
	int n, nsuites, failed = 0;
	struct utsname u;

	ensure_console();
	mount_filesystems();
	parse_cmdline();
	write_file("/proc/sys/kernel/printk", "7");
	write_file("/sys/kernel/debug/kmemleak", "clear");

	uname(&u);
	printf("iommu-qemu: %s %s %s\n", u.sysname, u.release, u.machine);

	if (!strcmp(inject, "warn"))
		provoke("WARNING");
	else if (!strcmp(inject, "oops"))
		provoke("EXCEPTION");

	n = list_dir(TESTS_DIR, names, MAX_TESTS, false);
	if (!strcmp(inject, "fail"))
		names[n++] = "inject_fail";
	else if (!strcmp(inject, "hang"))
		names[n++] = "inject_hang";

	nsuites = list_dir(KUNIT_DIR, suites, MAX_TESTS, true);
	printf("TAP version 13\n1..%d\n", n + nsuites);
	for (int i = 0; i < n; i++) {
		int ret;

		printf("# timeout set to %u\n", test_timeout);
		printf("# selftests: iommu: %s\n", names[i]);
		ret = run_test(names[i]);
		if (ret == 0) {
			printf("ok %d selftests: iommu: %s\n", i + 1, names[i]);
		} else if (ret == 4) {
			printf("ok %d selftests: iommu: %s # SKIP\n", i + 1,
			       names[i]);
		} else {
			printf("not ok %d selftests: iommu: %s # exit=%d\n",
			       i + 1, names[i], ret);
			failed++;
		}
	}

	for (int i = 0; i < nsuites; i++) {
		int ret;

		printf("# selftests: kunit: %s\n", suites[i]);
		ret = report_kunit(suites[i]);
		printf("%sok %d selftests: kunit: %s%s\n", ret == 1 ? "not " : "",
		       n + i + 1, suites[i], ret == 4 ? " # SKIP" : "");
		failed += ret == 1;
	}

	show_refs();
	check_leaks();
	printf("iommu-qemu: done, %d of %d programs failed\n", failed,
	       n + nsuites);
	poweroff();
}
