# The two commands of the README's quick start, and a few more for developers.
#   make run    install what is missing, build, run the main job on ./tokyoia.db
#   make test   install what is missing, build with -Werror, run the whole suite on both
#               backends, then again under AddressSanitizer and UBSan
#   make bench  run the benchmarks (see bench/README.md)
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-fast test-asan bench clean schema

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

test: test-fast test-asan

bench: build
	@cmake --build $(BUILD) --target bench_all -j $(JOBS)
	bench/run.sh $(BUILD)

schema:
	scripts/gen-schema.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
