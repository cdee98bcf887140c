# SPDX-License-Identifier: BSD-3-Clause
#
# Thin wrapper around meson/ninja. The real build is meson.build.
#   make        install missing packages, configure and build (build/)
#   make run    build, then start idmd on 127.0.0.1:3260 with a 1 GiB file LUN
#   make test   build, then tests/run-all.sh (unit + integration, plain and ASan+UBSan)
#   make asan   build build-asan/ with -Db_sanitize=address,undefined
#   make fuzz   build build-fuzz/ (clang, libFuzzer, ASan+UBSan) and run each harness of
#               tests/fuzz in turn for FUZZ_SECONDS (default 60) or FUZZ_RUNS executions
#               (0: no bound), then print executions and crashes per harness
#               (FUZZ_HARNESSES="fuzz_keys fuzz_scsi": only those)
#   make clean  remove the build directories (keeps $(DATA_DIR))

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS  ?= 0
DATA_DIR   ?= ./var
PORTAL     ?= 127.0.0.1:3260
TARGET_IQN ?= iqn.2026-11.org.idm:default
LUN0_SIZE  ?= 1G
# how clients name the portal: the default port 3260 goes without saying
REACH       = $(patsubst %:3260,%,$(PORTAL))

.PHONY: all deps build run test asan fuzz clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	ninja -C $(BUILD)

asan: deps
	@test -f $(ASAN_BUILD)/build.ninja || \
		meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN_BUILD)

fuzz: deps
	tests/fuzz/fuzz.sh build $(FUZZ_BUILD)
	tests/fuzz/fuzz.sh run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_RUNS)

IDMD ?= $(BUILD)/idmd

run: build
	@idmd=$(IDMD); \
	test -x $$idmd || { echo "$(IDMD) not found (not built yet)"; exit 1; }; \
	mkdir -p $(DATA_DIR); \
	echo "idmd: target $(TARGET_IQN), LUN 0 = $(DATA_DIR)/lun0.img ($(LUN0_SIZE)), portal $(PORTAL)"; \
	echo "Reach it with:"; \
	echo "  iscsi-ls -s iscsi://$(REACH)"; \
	echo "  iscsi-inq iscsi://$(REACH)/$(TARGET_IQN)/0"; \
	echo "  qemu-img info iscsi://$(REACH)/$(TARGET_IQN)/0"; \
	echo "  iscsiadm -m discovery -t sendtargets -p $(REACH)"; \
	echo "  iscsiadm -m node -T $(TARGET_IQN) -p $(REACH) --login"; \
	echo "Stop with Ctrl-C."; \
	exec $$idmd --portal $(PORTAL) --target $(TARGET_IQN) \
		--lun file:$(DATA_DIR)/lun0.img:$(LUN0_SIZE) --state-dir $(DATA_DIR)/state

test: build
	tests/run-all.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
