# SPDX-License-Identifier: GPL-2.0
#
# make        install missing packages (as root), fetch the base kernel,
#             assemble it with this project, build it for x86_64, boot it in
#             QEMU, run the IOMMU selftests; last line: N passed, N failed,
#             N skipped
# make check  everything the project verifies (see README.md)
#
# Variables: BASE=7.3 (Debian linux-source-BASE), KSRC=/path/to/tree (use
# that tree as the base instead), BUILD=./build, CACHE=~/.cache/iommu-debug-refs
# (downloads and the assembled tree, CACHE/src-BASE)

BASE ?= 7.3
KSRC ?=
BUILD ?= $(CURDIR)/build
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/iommu-debug-refs
# The assembled tree lives in the cache, at the same path for every clone:
# kernel compile commands name it, so ccache hits from any checkout.
SRC := $(CACHE)/src-$(if $(KSRC),ksrc,$(BASE))
QEMU_DIR := $(SRC)/tools/testing/selftests/iommu/qemu
HARNESS = $(MAKE) --no-print-directory -C $(QEMU_DIR) BUILD_PATH=$(BUILD)/qemu/$(1) ARCH=$(1)
CHECK := $(QEMU_DIR)/console-check.sh
LOGS := $(BUILD)/qemu

all: run

deps:
	@$(CURDIR)/scripts/deps.sh

# Assemble the tree every time: it is a no-op when nothing changed.
tree: deps
	@base="$(KSRC)"; \
	if [ -z "$$base" ]; then base=$$($(CURDIR)/scripts/fetch-base.sh $(BASE) $(CACHE)/base) || exit 1; fi; \
	$(CURDIR)/scripts/assemble.sh "$$base" $(SRC)

# make and make check print one line per stage with its time; the full
# output goes to build/make.log and build/check.log.
STAGE := $(CURDIR)/scripts/stage.sh
BASE_STAGES = \
	$$st deps $(CURDIR)/scripts/deps.sh && \
	$$st fetch $(if $(KSRC),true,$(CURDIR)/scripts/fetch-base.sh $(BASE) $(CACHE)/base) && \
	$$st assemble $(MAKE) --no-print-directory tree
# The results of a guest, from its KTAP log, and its summary line.
RESULTS = grep -hE '^iommu-qemu: base|^([\#] )*not ok |^[0-9]+ passed, ' $(1) | grep -v '^[\#] [|]' || true

# make: the x86_64 guest (virtio-iommu, a mounted disk behind it: the
# safety checks, then the suite with every IOMMU opted in).
run:
	@export STAGE_LOG=$(BUILD)/make.log; st=$(STAGE); $$st --start; \
	{ $(BASE_STAGES) && \
	  $$st -p $(LOGS)/x86_64/kernel build.x86_64 $(call HARNESS,x86_64) MACHINE=virtio SAFETY=1 kernel && \
	  $$st initramfs.x86_64 $(call HARNESS,x86_64) MACHINE=virtio SAFETY=1 initramfs; } || \
		{ $$st --summary; exit 1; }; \
	$$st -o $(LOGS)/run.out boot+tests.x86_64 $(call HARNESS,x86_64) MACHINE=virtio SAFETY=1 qemu; \
	status=$$?; $$st --summary; $(call RESULTS,$(LOGS)/run.out); exit $$status

# Individual boots, also used by check.
qemu-x86_64: tree
	@$(call HARNESS,x86_64) MACHINE=virtio SAFETY=1 qemu
# QEMU's intel-iommu (VT-d: no parent device, cannot be unbound), same kernel
qemu-x86_64-vtd: tree
	@$(call HARNESS,x86_64) MACHINE=vtd qemu
qemu-aarch64: tree
	@$(call HARNESS,aarch64) MACHINE=virtio qemu
qemu-aarch64-smmuv3: tree
	@$(call HARNESS,aarch64) MACHINE=smmuv3 qemu

# The debug config (KASAN, lockdep, kmemleak, DEBUG_OBJECTS...): a kernel
# of its own per arch.  CYCLES sets the measured unbind/rebind cycles.
# The x86_64 one builds the selftests with LLVM=1 (clang and lld).
CYCLES ?= 3
qemu-x86_64-debug: tree
	@$(call HARNESS,x86_64) MACHINE=virtio DEBUG_KERNEL=yes LLVM=1 TEST_ARGS="-d all -n $(CYCLES)" qemu
qemu-aarch64-debug: tree
	@$(call HARNESS,aarch64) MACHINE=virtio DEBUG_KERNEL=yes TEST_ARGS="-d all -n $(CYCLES)" qemu
qemu-aarch64-smmuv3-debug: tree
	@$(call HARNESS,aarch64) MACHINE=smmuv3 DEBUG_KERNEL=yes TEST_ARGS="-d all -n $(CYCLES)" qemu

# 100 unbind/rebind cycles of virtio-iommu under the debug config, both
# arches (iommu_unbind_rebind only, SOAK_CYCLES cycles).
SOAK_CYCLES ?= 100
SOAK = $(call HARNESS,$(1)) MACHINE=virtio DEBUG_KERNEL=yes TESTS=iommu_unbind_rebind \
	TEST_ARGS="-d all -n $(SOAK_CYCLES)" TEST_TIMEOUT=1200 QEMU_TIMEOUT=1500 qemu
soak: tree
	@status=0; \
	$(call SOAK,x86_64) || status=1; \
	$(call SOAK,aarch64) || status=1; \
	exit $$status

# The cost of CONFIG_IOMMU_DEBUG_REFS on an unbind/rebind cycle of a test
# IOMMU with BENCH_CLIENTS clients: the x86_64 guest kernel with the option
# off and on, booted in turn BENCH_BOOTS times each, BENCH_CYCLES timed
# cycles per boot; prints the per-cycle medians and their ratio.
BENCH_CLIENTS ?= 1000
BENCH_CYCLES ?= 5
BENCH_BOOTS ?= 2
bench: tree
	@for i in $$(seq $(BENCH_BOOTS)); do for r in n y; do \
		$(call HARNESS,x86_64) MACHINE=virtio REFS=$$r TESTS=iommu_refs_bench \
			TEST_ARGS="-c $(BENCH_CLIENTS) -n $(BENCH_CYCLES)" qemu \
			>$(LOGS)/bench-$$r-$$i.out 2>&1 || { tail -20 $(LOGS)/bench-$$r-$$i.out; exit 1; }; \
		grep -h -o 'iommu-bench: .*' $(LOGS)/bench-$$r-$$i.out; \
	done; done | tee $(LOGS)/bench.txt
	@$(CURDIR)/scripts/bench-ratio.sh $(LOGS)/bench.txt

# The drivers the patches touch but QEMU cannot run, built with COMPILE_TEST.
compile-test: tree
	@status=0; for a in arm64 arm; do \
		$(CURDIR)/scripts/compile-test.sh $(SRC) $(BUILD)/compile-test/$$a $$a || status=1; \
	done; exit $$status

# CONFIG_IOMMU_DEBUG_REFS=n adds nothing: the x86_64 guest config with the
# option off, built without and with the accounting patches, compared.
size-check: tree
	@$(call HARNESS,x86_64) MACHINE=virtio kernel >/dev/null
	@$(CURDIR)/scripts/size-check.sh $(SRC) $(BUILD)/size $(LOGS)/x86_64/kernel/.config

# The upstream series: git format-patch output and a cover letter in
# $(BUILD)/series.
series: tree
	@$(CURDIR)/scripts/series.sh $(SRC) $(BUILD)/series

# The series: checkpatch --strict, kernel-doc, reStructuredText, and git am
# on the second base (Debian's linux-source-$(BASE2)).
BASE2 ?= 7.2
check-series: series
	@base2=$$($(CURDIR)/scripts/fetch-base.sh $(BASE2) $(CACHE)/base) || exit 1; \
	base=$(BASE_TREE) || exit 1; \
	$(CURDIR)/scripts/check-series.sh $(BUILD)/series "$$base2" $(BASE2) "$$base" $(BASE)

# Every commit of the series builds (x86_64 guest config): one incremental
# build per commit, too long for make check.
bisect-check: series
	@$(call HARNESS,x86_64) MACHINE=virtio kernel >/dev/null
	@$(CURDIR)/scripts/bisect-check.sh $(BUILD)/series $(BUILD)/bisect $(LOGS)/x86_64/kernel/.config

# The selftests build in the source tree with gcc and LLVM=1, without a
# warning (the guests build them out of tree), and LOCAL_HDRS rebuild them.
check-ksft-build: tree
	@$(call HARNESS,x86_64) MACHINE=virtio kernel >/dev/null
	@$(CURDIR)/scripts/ksft-build-check.sh $(SRC) $(LOGS)/x86_64/kernel $(BUILD)/ksft-build

# The static checker (scripts/coccinelle/free/device_ref_leak.cocci): the
# 11 leaks of the seed series on the drivers before the fixes, beside
# put_device.cocci; its reports on the base's drivers/iommu; make
# coccicheck on the assembled tree.
BASE_TREE = $(if $(KSRC),$(KSRC),$$($(CURDIR)/scripts/fetch-base.sh $(BASE) $(CACHE)/base))
check-checker: tree
	@base=$(BASE_TREE) || exit 1; \
	$(CURDIR)/scripts/checker-score.sh $(SRC) "$$base" $(CACHE) $(BUILD)/checker

# The checker on the subsystems with of_xlate-style lookups (README.md has
# the triage of what it reports).
SURVEY_DIRS ?= drivers/iommu drivers/dma drivers/phy drivers/reset drivers/mailbox \
	drivers/memory drivers/soc drivers/usb
checker-survey: tree
	@base=$(BASE_TREE) || exit 1; cd "$$base" && for d in $(SURVEY_DIRS); do \
		spatch -D report --very-quiet --no-show-diff --no-includes --include-headers --jobs 2 \
			--cocci-file $(SRC)/scripts/coccinelle/free/device_ref_leak.cocci --dir $$d; \
	done

# Every patch applies with git am on the base.
check-patches: tree
	@$(CURDIR)/scripts/check-patches.sh $(SRC)

# The harness must fail when a guest test fails, when the kernel WARNs or
# oopses and when a test hangs: boot with each fault injected and expect
# the failure.  "warn" loads the test driver with warn_on_release=1: the
# program must fail the result of the instance whose cycle WARNed, from
# the kernel log it reads itself.
HARNESS_EXPECT_fail := not ok .*selftests: harness: inject.sh \# exit=1
HARNESS_EXPECT_hang := not ok .*selftests: harness: inject.sh \# TIMEOUT
HARNESS_EXPECT_warn := not ok [0-9]+ unbind_rebind.test-iommus:iommu0 \# +kernel splat during its cycles: WARNING
HARNESS_EXPECT_oops := the guest did not finish
check-harness: tree
	@for inject in fail warn oops hang; do \
		case $$inject in \
		fail) expect='$(HARNESS_EXPECT_fail)' ;; hang) expect='$(HARNESS_EXPECT_hang)' ;; \
		warn) expect='$(HARNESS_EXPECT_warn)' ;; oops) expect='$(HARNESS_EXPECT_oops)' ;; esac; \
		if $(call HARNESS,x86_64) MACHINE=virtio INJECT=$$inject TESTS=iommu_unbind_rebind \
			QEMU_TIMEOUT=300 qemu >$(LOGS)/harness-$$inject.out 2>&1; then \
			echo "not ok harness detects injected $$inject: run passed"; exit 1; \
		fi; \
		grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' $(LOGS)/harness-$$inject.out || \
			{ echo "not ok harness detects injected $$inject: no summary"; exit 1; }; \
		grep -qE "$$expect" $(LOGS)/harness-$$inject.out $(LOGS)/x86_64/ktap-virtio-inject-$$inject.log || \
			{ echo "not ok harness detects injected $$inject: no line matching: $$expect"; exit 1; }; \
		echo "ok harness detects injected $$inject: $$(cat $(LOGS)/harness-$$inject.out $(LOGS)/x86_64/ktap-virtio-inject-$$inject.log | grep -m1 -E "$$expect")"; \
	done

check:
	@export STAGE_LOG=$(BUILD)/check.log; st=$(STAGE); $$st --start; status=0; \
	{ $(BASE_STAGES); } || { $$st --summary; exit 1; }; \
	mkdir -p $(LOGS); \
	$$st -o $(LOGS)/check-patches.log check-patches $(MAKE) --no-print-directory check-patches || status=1; \
	$$st -o $(LOGS)/check-series.log check-series $(MAKE) --no-print-directory check-series || status=1; \
	$$st -p $(LOGS)/x86_64/kernel build.x86_64 $(call HARNESS,x86_64) MACHINE=virtio kernel || status=1; \
	$$st -o $(LOGS)/check-harness.log check-harness $(MAKE) --no-print-directory check-harness || status=1; \
	$$st qemu-x86_64 $(MAKE) --no-print-directory qemu-x86_64 || status=1; \
	$$st qemu-x86_64-vtd $(MAKE) --no-print-directory qemu-x86_64-vtd || status=1; \
	$$st -p $(LOGS)/x86_64/kernel-debug build.x86_64-debug \
		$(call HARNESS,x86_64) MACHINE=virtio DEBUG_KERNEL=yes kernel || status=1; \
	$$st qemu-x86_64-debug $(MAKE) --no-print-directory qemu-x86_64-debug || status=1; \
	$$st -p $(LOGS)/aarch64/kernel-debug build.aarch64-debug \
		$(call HARNESS,aarch64) MACHINE=virtio DEBUG_KERNEL=yes kernel || status=1; \
	$$st qemu-aarch64-debug $(MAKE) --no-print-directory qemu-aarch64-debug || status=1; \
	$$st qemu-aarch64-smmuv3-debug $(MAKE) --no-print-directory qemu-aarch64-smmuv3-debug || status=1; \
	$$st -o $(LOGS)/check-checker.log check-checker $(MAKE) --no-print-directory check-checker || status=1; \
	$$st -o $(LOGS)/ksft-build.log check-ksft-build $(MAKE) --no-print-directory check-ksft-build || status=1; \
	$$st -o $(LOGS)/compile-test.log compile-test $(MAKE) --no-print-directory compile-test || status=1; \
	$$st -o $(LOGS)/size-check.log size-check $(MAKE) --no-print-directory size-check || status=1; \
	{ echo "# selftests: build: check"; cat $(LOGS)/check-patches.log $(LOGS)/check-series.log \
	  $(LOGS)/check-checker.log $(LOGS)/ksft-build.log $(LOGS)/compile-test.log \
	  $(LOGS)/size-check.log 2>/dev/null | \
	  awk '/^(not )?ok /{ sub(/ok /, "ok " ++n " ") } { print "# " $$0 }'; \
	  echo "iommu-qemu: done"; } > $(LOGS)/console-build-checks.log; \
	grep -h '^ok harness' $(LOGS)/check-harness.log 2>/dev/null; \
	grep -h '^checker: ' $(LOGS)/check-checker.log 2>/dev/null; \
	$$st --summary; \
	echo "== make check: all guests, compile tests and patch checks"; \
	$(CHECK) summary $(LOGS)/x86_64/ktap-virtio.log $(LOGS)/x86_64/ktap-vtd.log \
		$(LOGS)/x86_64/ktap-virtio-debug-llvm.log \
		$(LOGS)/aarch64/ktap-virtio-debug.log $(LOGS)/aarch64/ktap-smmuv3-debug.log \
		$(LOGS)/console-build-checks.log > $(LOGS)/summary.txt || status=1; \
	cat $(LOGS)/summary.txt; \
	echo "results: $(LOGS)/summary.txt, full output: $(BUILD)/check.log"; \
	exit $$status

clean:
	rm -rf $(BUILD)

.PHONY: all deps tree run qemu-x86_64 qemu-x86_64-vtd qemu-aarch64 qemu-aarch64-smmuv3 qemu-x86_64-debug \
	qemu-aarch64-debug qemu-aarch64-smmuv3-debug check-ksft-build check-checker checker-survey soak bench series check-series bisect-check compile-test size-check check-patches check-harness check clean
