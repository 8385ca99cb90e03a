# The two commands: `make run` and `make test`. Both install what is missing
# from Debian packages, configure and build.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan build-fuzz run test test-fast test-asan test-fuzz tidy clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j$(JOBS)

run: build
	@scripts/run-demo.sh $(BUILD)

# Every test, on the normal build and again under ASan+UBSan, then each
# libFuzzer driver briefly (clang), then clang-tidy on the sources.
test: test-fast test-asan test-fuzz tidy

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j2 --timeout 600

test-asan: build-asan
	@cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j2 --timeout 900

build-fuzz: deps
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DVIGIL_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j$(JOBS) --target $$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$$//')

test-fuzz: build-fuzz
	@cd $(BUILD_FUZZ) && ctest --output-on-failure -j2 -R '^fuzz\.'

# clang-tidy (.clang-tidy) on every compiled .c outside tests/; fails on any warning.
tidy: build
	@scripts/tidy.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
