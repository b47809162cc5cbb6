# whale — build, test and run. Read top to bottom; every target is small.
#
#   make            build libwhale.a and the whale program
#   make run        run the main job (MODEL=path/to/model, see README)
#   make test       build and run the test suite
#   make test-san   the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      benchmarks (not tests)
#   make setup      install the Debian packages whale needs (when missing)
#   make fixtures   regenerate the reference fixtures (needs python3-torch)

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

# Library layers, in dependency order (see docs/ARCHITECTURE.md).
LIB_DIRS := base kernels formats tokenizer model runtime train serve
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

.PHONY: all run test test-san bench setup fixtures clean format

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

# The main job. Until whale ships its own trained model, MODEL names a model
# folder (config.json + safetensors) or a .gguf file.
MODEL ?=
TOKENS ?= 0,17,42,7
run: all
	@if [ -z "$(MODEL)" ]; then \
	  echo "make run: no MODEL given."; \
	  echo "  Run a model you have:   make run MODEL=/path/to/DeepSeek-R1-Distill-Qwen-1.5B   (or a .gguf file)"; \
	  echo "  Showing the built-in tiny DeepSeek-V3 test model instead (random weights, output is noise):"; \
	  $(BIN) info tests/fixtures/dsv3 && $(BIN) run -m tests/fixtures/dsv3 --tokens $(TOKENS) -n 16 --top 3; \
	else \
	  $(BIN) info "$(MODEL)" && $(BIN) run -m "$(MODEL)" --tokens $(TOKENS) -n 32; \
	fi

test: all $(TESTS) $(LLAMACPP_STAMP)
	@BUILD=$(BUILD) sh tests/run.sh $(TESTS)

test-san:
	$(MAKE) SAN=1 test

BENCH_BINS := $(BUILD)/bench/gen_model $(BUILD)/bench/whale_bench $(BUILD)/bench/stream

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

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
