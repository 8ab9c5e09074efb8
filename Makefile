# SPDX-License-Identifier: GPL-2.0
#
# make        install missing packages (as root), fetch the base kernel,
#             assemble it with this project, build it for x86_64, boot it in
#             QEMU, run the IOMMU selftests; last line: N passed, N failed,
#             N skipped
# make check  everything the project verifies (see README.md)
#
# Variables: BASE=7.3 (Debian linux-source-BASE), KSRC=/path/to/tree (use
# that tree as the base instead), BUILD=./build (logs and results),
# CACHE=~/.cache/iommu-debug-refs (downloads, the assembled tree in
# CACHE/src-BASE, the kernel builds in CACHE/kbuild-BASE), FRESH=1 (make
# check runs every stage, even those whose inputs did not change)

BASE ?= 7.3
KSRC ?=
BUILD ?= $(CURDIR)/build
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/iommu-debug-refs
# The assembled tree lives in the cache, at the same path for every clone:
# kernel compile commands name it, so ccache hits from any checkout.
SRC := $(CACHE)/src-$(if $(KSRC),ksrc,$(BASE))
# So do the kernel builds: a checkout finds the kernels another one built
# and rebuilds only what changed (scripts/check.sh locks the cache).
KBUILD := $(CACHE)/kbuild-$(if $(KSRC),ksrc,$(BASE))
QEMU_DIR := $(SRC)/tools/testing/selftests/drivers/iommu/qemu
# What writes to the cache holds its lock (scripts/check.sh holds it for
# all of make and make check)
LOCK = $(if $(IOMMU_CACHE_LOCKED),,mkdir -p $(CACHE) && \
	{ flock -n $(CACHE)/lock true || echo "waiting for the make that holds $(CACHE)/lock"; } && \
	flock $(CACHE)/lock)
HARNESS = $(LOCK) $(MAKE) --no-print-directory -C $(QEMU_DIR) BUILD_PATH=$(BUILD)/qemu/$(1) \
	KERNEL_BUILD_ROOT=$(KBUILD)/$(1) DEBS_CACHE=$(CACHE)/debs ARCH=$(1)
LOGS := $(BUILD)/qemu
# Targets assemble the tree first; scripts/check.sh does it once (TREE=).
TREE ?= tree

all: $(if $(DRIVER),driver,run)

deps:
	@$(CURDIR)/scripts/deps.sh

# Assemble the tree every time: it is a no-op when nothing changed.
tree: deps
	@base="$(KSRC)"; \
	if [ -z "$$base" ]; then base=$$($(CURDIR)/scripts/fetch-base.sh $(BASE) $(CACHE)/base) || exit 1; fi; \
	$(LOCK) $(CURDIR)/scripts/assemble.sh "$$base" $(SRC)

# make and make check print one line per stage with its time; the full
# output goes to build/make.log and build/check.log (scripts/check.sh).
CYCLES ?= 3
BASE2 ?= 7.2
CHECK_SH = ROOT=$(CURDIR) BUILD=$(BUILD) CACHE=$(CACHE) KBUILD=$(KBUILD) SRC=$(SRC) \
	LOGS=$(LOGS) BASE=$(BASE) KSRC=$(KSRC) BASE2=$(BASE2) CYCLES=$(CYCLES) FRESH=$(FRESH) \
	$(CURDIR)/scripts/check.sh
run:
	@$(CHECK_SH) run

# Your own IOMMU driver in the arm64 guest (scripts/driver.sh):
# make DRIVER=my-iommu.c|dir DT=my-nodes.dtsi [REPLACE=drivers/iommu/x.c]
#      [ARCH=aarch64] [KERNEL_CMDLINE=...]
driver: $(TREE)
	@[ -n "$(DRIVER)" ] || { echo "make driver: DRIVER=file.c|dir is missing"; exit 1; }
	@$(LOCK) env BUILD='$(BUILD)' CACHE='$(CACHE)' KBUILD='$(KBUILD)' SRC='$(SRC)' \
		DRIVER='$(DRIVER)' DT='$(DT)' REPLACE='$(REPLACE)' ARCH='$(or $(ARCH),aarch64)' \
		KERNEL_CMDLINE='$(KERNEL_CMDLINE)' CYCLES='$(CYCLES)' FAIL_POINTS='$(FAIL_POINTS)' \
		$(CURDIR)/scripts/driver.sh
# make check's test of it: the example driver, bad input
check-driver: $(TREE)
	@ROOT=$(CURDIR) LOGS=$(LOGS) SRC=$(SRC) CYCLES=2 $(CURDIR)/scripts/check-driver.sh

# One kernel per architecture, with the debug config (KASAN, lockdep,
# kmemleak, DEBUG_OBJECTS, UBSAN bounds), shared by its guests.
X86 := MACHINE=virtio DEBUG_KERNEL=yes
ARM := MACHINE=virtio DEBUG_KERNEL=yes
build-x86_64: $(TREE)
	@$(call HARNESS,x86_64) $(X86) kernel
build-aarch64: $(TREE)
	@$(call HARNESS,aarch64) $(ARM) kernel
# make's kernel: the guests' config without the debug options (bench,
# bisect-check and check-harness use it too)
FAST := MACHINE=virtio
config-x86_64: $(TREE)
	@$(call HARNESS,x86_64) $(FAST) config
build-x86_64-fast: $(TREE)
	@$(call HARNESS,x86_64) $(FAST) kernel

# The guests.  CYCLES sets the measured unbind/rebind cycles.
# make's guest: virtio-iommu and the test driver, the suite alone, on the
# kernel without the debug options (make check runs it too).
qemu-x86_64-fast: $(TREE)
	@$(call HARNESS,x86_64) $(FAST) TEST_ARGS="-d all -n $(CYCLES)" QEMU_TIMEOUT=300 qemu
# make check's: the same with the safety checks (a mounted disk behind
# virtio-iommu) and the debug kernel.
qemu-x86_64: $(TREE)
	@$(call HARNESS,x86_64) $(X86) SAFETY=1 TEST_ARGS="-d all -n $(CYCLES)" QEMU_TIMEOUT=900 qemu
# The fault injection sweep (iommu_unbind_rebind -F) of make check's vtd,
# arm64 virtio and smmuv3 guests: the first FAIL_POINTS fault points of
# each bind (of each reprobe and PCI rescan for arm-smmu-v3, of each PCI
# rescan for VT-d) fail in turn; make fail-nth runs every point.
FAIL_POINTS ?= 60
FAIL_TIMEOUT ?= 1200
FAIL_RUN = TEST_TIMEOUT=$(FAIL_TIMEOUT) QEMU_TIMEOUT=$(shell echo $$(($(FAIL_TIMEOUT) + 600)))
# QEMU's intel-iommu (VT-d: no parent device, cannot be unbound, named
# with -d since -d all leaves IOMMUs without a driver alone), and the
# selftests built with LLVM=1 (clang and lld): the gcc build runs in the
# other guests, so one boot tests both
qemu-x86_64-vtd: $(TREE)
	@$(call HARNESS,x86_64) $(X86) MACHINE=vtd LLVM=1 TEST_ARGS="-d all $(FAIL_NAMED_vtd) -n $(CYCLES) -F $(FAIL_POINTS)" $(FAIL_RUN) qemu
# QEMU's amd-iommu (AMD-Vi: a PCI device of its own, so it has counters,
# but no driver to unbind), the same kernel as the other x86_64 guests:
# its endpoints are removed and rescanned, its driverless clients probed
# again, and both operations swept
qemu-x86_64-amd: $(TREE)
	@$(call HARNESS,x86_64) $(X86) MACHINE=amd TESTS=iommu_unbind_rebind TEST_ARGS="-d all $(FAIL_NAMED_amd) -n $(CYCLES) -F $(FAIL_POINTS)" $(FAIL_RUN) qemu
qemu-aarch64: $(TREE)
	@$(call HARNESS,aarch64) $(ARM) TEST_ARGS="-d all -r -n $(CYCLES) -F $(FAIL_POINTS)" $(FAIL_RUN) qemu
qemu-aarch64-smmuv3: $(TREE)
	@$(call HARNESS,aarch64) $(ARM) MACHINE=smmuv3 TEST_ARGS="-d all -n $(CYCLES) -F $(FAIL_POINTS)" $(FAIL_RUN) qemu

# The driver core's device_get/device_put events alone, on a device
# outside the IOMMU code (trace-recipe/trace-recipe.sh): the arm64 guest
# with a syscon-reboot-mode node, the recipe run on Linux 7.3-rc7's
# reboot-mode.c, built as a module, and on the kernel's, which has the fix.
RECIPE = $(QEMU_DIR)/trace-recipe
trace-recipe: $(TREE)
	@d=$(LOGS)/trace-recipe; rm -rf $$d; mkdir -p $$d; \
	$(call HARNESS,aarch64) $(ARM) kernel >$$d/kernel.log 2>&1 || { tail -20 $$d/kernel.log; exit 1; }; \
	base=$$($(CURDIR)/scripts/fetch-base.sh $(BASE) $(CACHE)/base) || exit 1; \
	cp $$base/drivers/power/reset/reboot-mode.c $$d/ && echo 'obj-m := reboot-mode.o' >$$d/Kbuild && \
	$(LOCK) $(MAKE) -s -C $(SRC) O=$(KBUILD)/aarch64/kernel-debug ARCH=arm64 \
		CROSS_COMPILE=$(if $(filter aarch64,$(shell uname -m)),,aarch64-linux-gnu-) M=$$d modules && \
	$(call HARNESS,aarch64) $(ARM) BUILD_PATH=$$d/guest DT=$(RECIPE)/reboot-mode.dtsi \
		TESTS=trace-recipe.sh EXTRA_PROGS="$(RECIPE)/trace-recipe.sh $$d/reboot-mode.ko" \
		QEMU_TIMEOUT=600 qemu

# 100 unbind/rebind cycles of virtio-iommu under the debug config, both
# arches (iommu_unbind_rebind only, SOAK_CYCLES cycles).
SOAK_CYCLES ?= 100
SOAK = $(call HARNESS,$(1)) MACHINE=virtio DEBUG_KERNEL=yes TESTS=iommu_unbind_rebind \
	TEST_ARGS="-d all -n $(SOAK_CYCLES)" TEST_TIMEOUT=1200 QEMU_TIMEOUT=1500 qemu
soak: $(TREE)
	@status=0; \
	$(call SOAK,x86_64) || status=1; \
	$(call SOAK,aarch64) || status=1; \
	exit $$status

# Every fault injection point (make check's guests run the first
# FAIL_POINTS) of the guests' IOMMUs: virtio-iommu on both arches,
# arm-smmu-v3 through the reprobe of its driverless client and the PCI
# rescan of an endpoint, VT-d through that rescan, AMD-Vi through that
# rescan and a reprobe, and the test driver; iommu_unbind_rebind only,
# quickest first, logs in $(LOGS)/fail-nth-*;
# FAIL_GUESTS="x86_64,virtio" runs one guest; FAIL_FROM=M starts each
# sweep at point M, to carry one guest's on after a fix: the other
# sweeps, shorter, skip, and point numbers move by a few from boot to
# boot, so start a few points before the one that failed.
FAIL_FROM ?= 1
# FAIL_DEBUG=no sweeps on make's kernel, without the debug options: about
# half the points and a fraction of the time, but no KASAN, lockdep or
# kmemleak behind the leak checks
FAIL_DEBUG ?= yes
# The IOMMU without a driver each machine names with -d
FAIL_NAMED_vtd := -d dmar0
FAIL_NAMED_amd := -d ivhd0
FAIL_GUESTS ?= x86_64,amd x86_64,vtd aarch64,smmuv3 x86_64,virtio aarch64,virtio
FAIL_ALL = $(LOCK) $(MAKE) --no-print-directory -C $(QEMU_DIR) BUILD_PATH=$(LOGS)/fail-nth-$(1)-$(2) \
	KERNEL_BUILD_ROOT=$(KBUILD)/$(1) DEBS_CACHE=$(CACHE)/debs ARCH=$(1) DEBUG_KERNEL=$(FAIL_DEBUG) \
	MACHINE=$(2) TESTS=iommu_unbind_rebind TEST_ARGS="-d all $$(case $(2) in (vtd) echo '$(FAIL_NAMED_vtd)';; (amd) echo '$(FAIL_NAMED_amd)';; esac) -n 1 -F $(FAIL_FROM)-100000" \
	TEST_TIMEOUT=10800 QEMU_TIMEOUT=11400 qemu >$(LOGS)/fail-nth-$(1)-$(2).out 2>&1
fail-nth: $(TREE)
	@case '$(FAIL_FROM)' in ''|*[!0-9]*|0*) echo "FAIL_FROM=$(FAIL_FROM): a point number, 1 or more" >&2; exit 2;; esac
	@case '$(FAIL_DEBUG)' in yes|no) ;; *) echo "FAIL_DEBUG=$(FAIL_DEBUG): yes or no" >&2; exit 2;; esac
	@status=0; mkdir -p $(LOGS); \
	for g in $(FAIL_GUESTS); do \
		a=$${g%,*}; m=$${g#*,}; \
		$(call FAIL_ALL,$$a,$$m) || status=1; \
		grep -ho 'fail_nth[_a-z]*\.[^ ]* ([^)]*): [0-9]* points.*' $(LOGS)/fail-nth-$$a-$$m/ktap-*.log | \
			sed "s/$$/ ($$a $$m)/"; \
	done; exit $$status

# The cost of CONFIG_IOMMU_DEBUG_REFS on an unbind/rebind cycle of a test
# IOMMU with BENCH_CLIENTS clients: the x86_64 guest kernel with the option
# off and on, booted in turn BENCH_BOOTS times each, BENCH_CYCLES timed
# cycles per boot; prints the per-cycle medians and their ratio.
BENCH_CLIENTS ?= 1000
BENCH_CYCLES ?= 5
BENCH_BOOTS ?= 2
# The benchmark is the project's, not a selftest: built here, static, with
# the selftests' headers, and run by the harness as an extra program.
BENCH_PROG := $(BUILD)/bench/iommu_refs_bench
bench: $(TREE)
	@mkdir -p $(dir $(BENCH_PROG)) && \
	gcc -static -O2 -Wall -Werror -I$(SRC)/tools/testing/selftests/drivers/iommu \
		-o $(BENCH_PROG) $(CURDIR)/scripts/iommu_refs_bench.c
	@for i in $$(seq $(BENCH_BOOTS)); do for r in n y; do \
		$(call HARNESS,x86_64) MACHINE=virtio REFS=$$r TESTS=iommu_refs_bench \
			EXTRA_PROGS=$(BENCH_PROG) \
			TEST_ARGS="-c $(BENCH_CLIENTS) -n $(BENCH_CYCLES)" qemu \
			>$(LOGS)/bench-$$r-$$i.out 2>&1 || { tail -20 $(LOGS)/bench-$$r-$$i.out; exit 1; }; \
		grep -h -o 'iommu-bench: .*' $(LOGS)/bench-$$r-$$i.out; \
	done; done | tee $(LOGS)/bench.txt
	@$(CURDIR)/scripts/bench-ratio.sh $(LOGS)/bench.txt

# The files the patches change that QEMU cannot run, built from allmodconfig.
compile-test: $(TREE)
	@status=0; for a in arm64 arm sparc x86_64; do \
		$(LOCK) $(CURDIR)/scripts/compile-test.sh $(SRC) $(KBUILD)/compile-test-$$a $$a || status=1; \
	done; exit $$status

# CONFIG_IOMMU_DEBUG_REFS=n adds nothing: a small x86_64 config with the
# option off, built without and with the accounting patches, compared.
size-check: $(TREE)
	@$(LOCK) $(CURDIR)/scripts/size-check.sh $(SRC) $(KBUILD)/size

# The same on Debian's amd64 configuration (linux-config-$(BASE)), where the
# driver core's trace events are built, and the option on against off: the
# vmlinux sizes (not in make check: the first build takes the better part
# of an hour on two cores).
distro-cost: $(TREE)
	@cfg=$$(FETCH_PKG=linux-config $(CURDIR)/scripts/fetch-base.sh $(BASE) $(CACHE)/base) || exit 1; \
	mkdir -p $(KBUILD)/distro && \
	xz -dc $$cfg/usr/src/linux-config-$(BASE)/config.amd64_none_amd64.xz >$(KBUILD)/distro/debian.config && \
	$(LOCK) $(CURDIR)/scripts/size-check.sh $(SRC) $(KBUILD)/distro $(KBUILD)/distro/debian.config

# The upstream series: git format-patch output and a cover letter in
# $(BUILD)/series.
series: $(TREE)
	@$(LOCK) $(CURDIR)/scripts/series.sh $(SRC) $(BUILD)/series

# The series: checkpatch --strict, kernel-doc, reStructuredText, and git am
# on the second base (Debian's linux-source-$(BASE2)).
check-series: series
	@base2=$$($(CURDIR)/scripts/fetch-base.sh $(BASE2) $(CACHE)/base) || exit 1; \
	base=$(BASE_TREE) || exit 1; \
	$(CURDIR)/scripts/check-series.sh $(BUILD)/series "$$base2" $(BASE2) "$$base" $(BASE)

# Every commit of the series builds (x86_64 guest config): one incremental
# build per commit, too long for make check.
bisect-check: series
	@$(call HARNESS,x86_64) MACHINE=virtio kernel >/dev/null
	@$(CURDIR)/scripts/bisect-check.sh $(BUILD)/series $(BUILD)/bisect $(KBUILD)/x86_64/kernel/.config

# The selftests build in the source tree with gcc and LLVM=1, without a
# warning (the guests build them out of tree), and LOCAL_HDRS rebuild them.
check-ksft-build: $(TREE)
	@$(call HARNESS,x86_64) $(X86) kernel >/dev/null
	@$(LOCK) $(CURDIR)/scripts/ksft-build-check.sh $(SRC) $(KBUILD)/x86_64/kernel-debug $(BUILD)/ksft-build

# The static checker (scripts/coccinelle/free/device_ref_leak.cocci): the
# 11 leaks of the seed series on the drivers before the fixes, beside
# put_device.cocci; its reports on the base's drivers/iommu; make
# coccicheck on the assembled tree.
BASE_TREE = $(if $(KSRC),$(KSRC),$$($(CURDIR)/scripts/fetch-base.sh $(BASE) $(CACHE)/base))
check-checker: $(TREE)
	@base=$(BASE_TREE) || exit 1; \
	$(LOCK) $(CURDIR)/scripts/checker-score.sh $(SRC) "$$base" $(CACHE) $(BUILD)/checker

# The checker on every file of the base that calls a lookup, twice (two
# jobs in file order, one job in reverse order: the reports must match),
# against its triage, scripts/checker-triage.tsv (README.md).
checker-tree: $(TREE)
	@base=$(BASE_TREE) || exit 1; out=$(BUILD)/checker-tree; mkdir -p $$out; \
	cocci=$(SRC)/scripts/coccinelle/free/device_ref_leak.cocci; \
	start=$$(date +%s); \
	$(CURDIR)/scripts/checker-tree.sh "$$base" $$cocci 2 sorted >$$out/reports.txt || exit 1; \
	echo "checker-tree: $$(wc -l <$$out/reports.txt) reports in $$(($$(date +%s) - start)) s (--jobs 2)"; \
	$(CURDIR)/scripts/checker-tree.sh "$$base" $$cocci 1 reversed >$$out/reports-1.txt || exit 1; \
	cmp -s $$out/reports.txt $$out/reports-1.txt || \
		{ echo "not ok checker-tree: reports differ with file order and --jobs"; exit 1; }; \
	echo "ok checker-tree: the same reports in reverse order with --jobs 1"; \
	cut -d: -f1,2 $$out/reports.txt >$$out/sites.txt; \
	awk -F'\t' '!/^#/ && $$6 != "rule" { print $$1 ":" $$2 }' $(CURDIR)/scripts/checker-triage.tsv | \
		sort -t: -k1,1 -k2,2n >$$out/triaged.txt; \
	if diff $$out/triaged.txt $$out/sites.txt; then \
		echo "ok checker-tree: every report is in scripts/checker-triage.tsv"; \
	else echo "not ok checker-tree: reports and scripts/checker-triage.tsv differ"; exit 1; fi

# Every patch applies with git am on the base.
check-patches: $(TREE)
	@$(LOCK) $(CURDIR)/scripts/check-patches.sh $(SRC)

# The harness must fail when a guest test fails, when the kernel WARNs or
# oopses and when a test hangs: boot make's kernel with the faults injected
# and expect each failure.  Two boots: a failing program, a hanging one, a
# WARN and a leak on an allocation failure path share one, as each gives
# its own failed result; an oops stops the guest.
# "warn" loads the test driver with warn_on_release=1: the program must
# fail the result of the instance whose cycle WARNed, from the kernel log
# it reads itself.  "allocfail" sets alloc_fail_leak on the second
# instance and runs iommu_unbind_rebind -F: its filtered sweep must fail
# that instance at a point whose allocation failure leaked in probe_device.
HARNESS_BOOTS := fail+hang+warn+allocfail oops
HARNESS_EXPECT_fail := not ok .*selftests: harness: inject-fail.sh \# exit=1
HARNESS_EXPECT_hang := not ok .*selftests: harness: inject-hang.sh \# TIMEOUT
HARNESS_EXPECT_warn := not ok [0-9]+ unbind_rebind.test-iommus:iommu0 \# +kernel splat during its cycles: WARNING
HARNESS_EXPECT_allocfail := not ok [0-9]+ fail_nth.test-iommus:iommu1 \# +[0-9]+ leak\(s\), the first at point [0-9]+ of the bind \(Cannot allocate memory\)
# (the point's line names the failed probe_device() that leaked, and the
# instance's plain cycles pass: the leak is on the failure path only)
HARNESS_SITE_allocfail := test-iommus:iommu1: point [0-9]+ of the bind \(Cannot allocate memory\): .*probe_device \([^)]*\): [^;]*leaked by failed calls
HARNESS_PLAIN_allocfail := ^\# ok [0-9]+ unbind_rebind.test-iommus:iommu1$$
HARNESS_EXPECT_oops := the guest did not finish
check-harness: $(TREE)
	@for boot in $(HARNESS_BOOTS); do \
		out=$(LOGS)/harness-$$boot.out; ktap=$(LOGS)/x86_64/ktap-virtio-inject-$$boot.log; \
		if $(call HARNESS,x86_64) $(FAST) INJECT=$$boot TESTS=iommu_unbind_rebind \
			QEMU_TIMEOUT=300 qemu >$$out 2>&1; then \
			echo "not ok harness detects injected $$boot: run passed"; exit 1; \
		fi; \
		grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' $$out || \
			{ echo "not ok harness detects injected $$boot: no summary"; exit 1; }; \
		for inject in $$(echo $$boot | tr + ' '); do \
			site=. plain=.; \
			case $$inject in \
			allocfail) expect='$(HARNESS_EXPECT_allocfail)' site='$(HARNESS_SITE_allocfail)' \
				plain='$(HARNESS_PLAIN_allocfail)' ;; \
			fail) expect='$(HARNESS_EXPECT_fail)' ;; hang) expect='$(HARNESS_EXPECT_hang)' ;; \
			warn) expect='$(HARNESS_EXPECT_warn)' ;; oops) expect='$(HARNESS_EXPECT_oops)' ;; esac; \
			for e in "$$expect" "$$site" "$$plain"; do grep -qE "$$e" $$out $$ktap || \
				{ echo "not ok harness detects injected $$inject: no line matching: $$e"; exit 1; }; done; \
			echo "ok harness detects injected $$inject: $$(cat $$out $$ktap | grep -m1 -E "$$expect")"; \
		done; \
	done

# Everything the project verifies (scripts/check.sh has the stages)
check:
	@$(CHECK_SH) check

clean:
	rm -rf $(BUILD)

.PHONY: all deps tree run driver check-driver build-x86_64 build-aarch64 config-x86_64 qemu-x86_64 \
	build-x86_64-fast qemu-x86_64-fast \
	qemu-x86_64-vtd qemu-x86_64-amd qemu-aarch64 qemu-aarch64-smmuv3 check-ksft-build \
	check-checker checker-tree soak bench trace-recipe series check-series bisect-check compile-test \
	size-check distro-cost check-patches check-harness check clean
