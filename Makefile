# whale — build, test and run. Read top to bottom; every target is small.
#
#   make            build libwhale.a and the whale program
#   make run        run the main job (MODEL=path/to/model, see README)
#   make test       build and run the test suite
#   make test-san   the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      benchmarks (not tests)
#   make setup      install the Debian packages whale needs (when missing)
#   make fixtures   regenerate the reference fixtures (needs python3-torch)
#   make tiny-r1    reproduce models/whale-tiny-r1.gguf from scratch
#   make test-fuzz  libFuzzer targets (clang): regressions, then 50,000 inputs each
#   make coverage   gcov branch coverage of the parsers
#   make test-load  server load and abuse tests (about 7 minutes; not part of make test)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WFLAGS  := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
LDLIBS  := -lmicrohttpd -ledit -ljson-c -lpcre2-8 -lopenblas -lm -lpthread

ifeq ($(SAN),1)
  BUILD   := build-san
  CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
endif

# ---- build hardening (release builds) -----------------------------------------------
# _FORTIFY_SOURCE=3: libc checks buffer sizes known at compile or run time (needs -O1+);
# stack canaries in functions with local arrays; a position-independent executable with
# full RELRO (relocations done at start-up, then the GOT is read-only). Left out when
# CFLAGS has -fsanitize (ASan and fuzz builds: FORTIFY's wrappers hide accesses from
# ASan), -O0 (FORTIFY needs the optimiser) or --coverage (gcov builds).
ifeq ($(findstring -fsanitize,$(CFLAGS))$(findstring -O0,$(CFLAGS))$(findstring --coverage,$(CFLAGS)),)
  CPPFLAGS += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
  CFLAGS   += -fstack-protector-strong -fPIE
  LDFLAGS  += -pie -Wl,-z,relro,-z,now
endif

# Library layers, in dependency order (see docs/ARCHITECTURE.md).
LIB_DIRS := base kernels formats tokenizer model runtime r1 train serve
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.c))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOLS    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

LIB := $(BUILD)/libwhale.a
SETUP_STAMP := build/.setup-done
LLAMACPP_STAMP := build/.llamacpp-done
BIN := $(BUILD)/whale

.PHONY: all run test test-san bench setup fixtures clean format tiny-r1

all: $(SETUP_STAMP) $(LIB) $(BIN) $(TOOLS)

# Installs missing Debian packages once per checkout (scripts/setup.sh says which and why).
$(SETUP_STAMP): scripts/setup.sh
	@sh scripts/setup.sh
	@mkdir -p $(dir $@) && touch $@

# The llama.cpp oracle for the cross-check test (npm, test-only); optional.
$(LLAMACPP_STAMP):
	@bash tools/llamacpp/setup.sh >/dev/null 2>&1 || echo "note: llama.cpp oracle not installed; its cross-check is skipped"
	@mkdir -p $(dir $@) && touch $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB_OBJ) $(CLI_OBJ): | $(SETUP_STAMP)

# SIMD twins are compiled for their instruction set and chosen at run time.
$(BUILD)/src/kernels/%_avx2.o: CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/src/kernels/%_avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c
$(BUILD)/src/kernels/%_amx.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c -mamx-tile -mamx-int8

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) -lcmocka $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lm

# The main job: a chat with whale's own tiny R1 model (models/, trained by
# `make tiny-r1`), or `whale run` on a model given as MODEL=folder-or-gguf.
MODEL ?=
TINY := models/whale-tiny-r1.gguf
run: all
	@if [ -n "$(MODEL)" ]; then \
	  $(BIN) info "$(MODEL)" && $(BIN) run -m "$(MODEL)" -p "$${PROMPT:-What is 17 * 24?}" -n 512; \
	elif [ -f $(TINY) ]; then \
	  echo "whale: chatting with $(TINY), a tiny DeepSeek-V3-architecture model whale trained itself"; \
	  echo "       (see models/README.md; try: Compute 47 + 38.  or  Sort 5, 12, 3 in descending order.)"; \
	  $(BIN) chat -m $(TINY); \
	else \
	  echo "make run: no MODEL given and $(TINY) is missing (make tiny-r1 builds it)."; \
	  echo "  Run a model you have:   make run MODEL=/path/to/DeepSeek-R1-Distill-Qwen-1.5B   (or a .gguf file)"; \
	  echo "  Showing the built-in tiny DeepSeek-V3 test model instead (random weights, output is noise):"; \
	  $(BIN) info tests/fixtures/dsv3 && $(BIN) run -m tests/fixtures/dsv3 --tokens 0,17,42,7 -n 16 --top 3; \
	fi

# Reproduces models/whale-tiny-r1.gguf from scratch (data, tokenizer, training, export).
tiny-r1: all
	sh tools/tiny_r1/build.sh

test: all $(TESTS) $(LLAMACPP_STAMP)
	@BUILD=$(BUILD) sh tests/run.sh $(TESTS)

test-san:
	$(MAKE) SAN=1 test

BENCH_BINS := $(BUILD)/bench/gen_model $(BUILD)/bench/whale_bench $(BUILD)/bench/stream \
              $(BUILD)/bench/dot_bench

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/stream: bench/stream.c
	@mkdir -p $(dir $@)
	$(CC) $(WFLAGS) -O3 -mavx2 -o $@ $< -lpthread

bench: all $(BENCH_BINS) $(LLAMACPP_STAMP)
	@BUILD=$(BUILD) sh bench/run.sh

setup:
	sh scripts/setup.sh

fixtures:
	$(MAKE) -C tools/reference
	/usr/bin/python3 tools/reference/train_ref.py tests/fixtures/train/state.bin
	/usr/bin/python3 tools/reference/train_ref.py --no-qlora-no-mtp tests/fixtures/train/state_nolora.bin
	/usr/bin/python3 tools/reference/grpo_ref.py tests/fixtures/train/grpo.bin

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# ---- web chat page of `whale serve`: web/* embedded into the whale binary ----------
# tools/embed writes $(BUILD)/gen/web_assets.c (the wh_web_assets table of
# src/serve/http.h); it is linked into the program only, not into libwhale.
WEB_FILES := $(sort $(wildcard web/*.html web/*.css web/*.js web/*.svg))
EMBED     := $(BUILD)/gen/embed
WEB_OBJ   := $(BUILD)/gen/web_assets.o
CLI_OBJ   += $(WEB_OBJ)

$(EMBED): tools/embed/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/gen/web_assets.c: $(EMBED) $(WEB_FILES)
	$(EMBED) $@ $(WEB_FILES)

$(WEB_OBJ): $(BUILD)/gen/web_assets.c src/serve/http.h
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -c $< -o $@

$(BIN): $(WEB_OBJ)

# ---- MPI data parallel for `whale train` (optional) ---------------------------------
#   make MPI=1 BUILD=build-mpi      whale built with mpicc and -DWH_MPI (OpenMPI, Debian's
#                                   libopenmpi-dev + openmpi-bin); only src/cli/cmd_train.c
#                                   calls MPI, the library is unchanged.
#   mpirun -np N build-mpi/whale train CONFIG ...   (tests/cli/mpi.sh)
ifeq ($(MPI),1)
  CC := mpicc
  CPPFLAGS += -DWH_MPI
endif

# ---- fuzzing: the libFuzzer targets of tests/fuzz/ (clang, ASan + UBSan) -------------
#   make test-fuzz             replay tests/fuzz/regress/, then run each target for
#                              FUZZ_RUNS inputs from its seed corpus (part of CI)
#   make fuzz FUZZ_TIME=600    run each target FUZZ_TIME seconds; new inputs are kept in
#                              $(FUZZ_BUILD)/corpus/<target>, crashes in $(FUZZ_BUILD)/crashes
# The library is built a second time, with clang, into its own folder (flags through OPT:
# a CFLAGS given on the command line would override the per-file SIMD flags).
FUZZ_CC    ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_RUNS  ?= 50000
FUZZ_TIME  ?= 600
FUZZ_OPT   := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: test-fuzz fuzz fuzz-build fuzz-bins

fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="$(FUZZ_OPT) -fsanitize=fuzzer-no-link" fuzz-bins

fuzz-bins: $(FUZZ_BINS)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)

test-fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) -runs=$(FUZZ_RUNS)

fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) -max_total_time=$(FUZZ_TIME)

# ---- coverage: gcov branch coverage of the parsers -----------------------------------
#   make coverage    builds with --coverage into $(COV_BUILD), runs the parser tests and
#                    replays the fuzz inputs (seeds, regressions, and what `make fuzz`
#                    found) through the targets built with gcc, then prints branch
#                    coverage per parser file and the error reports never reached.
COV_BUILD ?= build-cov
COV_TESTS := test_bad_input test_tokenizer test_tokenizer_bad test_chat test_faults test_api \
             test_parsers_cov
COV_FUZZ  := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: coverage cov-bins

coverage:
	@rm -f $$(find $(COV_BUILD) -name '*.gcda' 2>/dev/null)
	$(MAKE) BUILD=$(COV_BUILD) OPT="-O0 --coverage" cov-bins
	@for t in $(COV_TESTS); do echo "== $$t"; $(COV_BUILD)/tests/$$t >/dev/null 2>&1 || \
	    { echo "coverage: $$t failed"; exit 1; }; done
	@for t in $(COV_FUZZ); do \
	    $(COV_BUILD)/fuzz-replay/$$t tests/fuzz/corpus/$$t \
	        $$(ls -d tests/fuzz/regress/$$t $(FUZZ_BUILD)/corpus/$$t 2>/dev/null) || exit 1; done
	@sh tests/coverage.sh $(COV_BUILD)

cov-bins: $(COV_TESTS:%=$(BUILD)/tests/%) $(COV_FUZZ:%=$(BUILD)/fuzz-replay/%)

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB) $(LDLIBS)

# ---- server load and abuse tests (issue 8); not part of `make test` -----------------
#   make test-load   tests/serve/load.mjs against `whale serve -m tests/fixtures/dsv3.gguf
#                    --parallel 8 --queue 64` on loopback: 32 streaming clients for
#                    SOAK_SECONDS (default 300) with RSS growth <= 5%, 1,000 connect-and-
#                    drop clients, slow clients, 100 MB and malformed bodies. Node only
#                    (no npm packages); CI runs it from .ci/run.
SOAK_SECONDS ?= 300
.PHONY: test-load
test-load: all
	@command -v node >/dev/null 2>&1 || { echo "test-load: FAIL: node not found"; exit 1; }
	BUILD=$(BUILD) SOAK_SECONDS=$(SOAK_SECONDS) timeout $$(( $(SOAK_SECONDS) + 330 )) node tests/serve/load.mjs
