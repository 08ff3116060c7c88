# The two commands of the README's quick start, and a few more for developers.
#   make run    install what is missing, build, run the main job on ./tokyoia.db
#   make test   install what is missing, build with -Werror, run the whole suite on both
#               backends, then again under AddressSanitizer and UBSan, then each fuzz
#               target for a minute (test-fuzz) and the store, engine and server tests
#               under valgrind (test-valgrind)
#   make fuzz   build the libFuzzer targets of fuzz/ with clang and run each for
#               FUZZ_SECONDS (60); new corpus entries stay in $(FUZZ_BUILD)/fuzz-runs
#   make bench  run the benchmarks (see bench/README.md)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-fast test-asan test-fuzz test-valgrind fuzz fuzz-build \
	bench clean schema

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DTIA_WERROR=ON $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/tokyoia demo --serve 127.0.0.1:$${PORT:-8080}

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DTIA_WERROR=ON -DTIA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug > /dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

# The fuzz targets in a clang build of their own (-O1: faster than Debug's -O0, and
# without RelWithDebInfo's NDEBUG).
fuzz-build: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DTIA_FUZZ=ON -DTIA_WERROR=ON \
		-DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" > /dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzz_all -j $(JOBS)

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(JOBS)

# A minute of each fuzz target, two at a time: fails on a crash, leak or sanitizer report.
test-fuzz: fuzz

# The store, engine and server tests under valgrind, on the normal build.
test-valgrind: build
	scripts/valgrind-tests.sh $(BUILD) $(JOBS)

test: test-fast test-asan test-fuzz test-valgrind

bench: build
	@cmake --build $(BUILD) --target bench_all -j $(JOBS)
	bench/run.sh $(BUILD)

schema:
	scripts/gen-schema.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
