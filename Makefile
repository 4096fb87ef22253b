# The two commands of the README, and a few helpers.  CMake does the build.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build run test test-asan test-plain bench fuzz format lint lint-format lint-analyze clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@./scripts/run.sh $(BUILD)

test: test-plain test-asan

test-plain: build
	@cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTANOMU_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

bench: build
	@./bench/run.sh $(BUILD)

# libFuzzer with clang (apt-get install clang), by hand: FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DTANOMU_SANITIZE=ON -DTANOMU_FUZZ=ON -DTANOMU_WERROR=OFF \
	  -DTANOMU_TEST_SUBDIRS=fuzz >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_http fuzz_config fuzz_router fuzz_csv
	@for t in http config router csv; do \
	  mkdir -p build-fuzz/corpus-$$t && \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	  ./build-fuzz/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	    build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# Style (.clang-format) and static analysis, by hand or in review; not part
# of `make test`.  `make format` rewrites files in place.
CLANG_FORMAT ?= clang-format
FORMAT_FILES = $(shell find host sdk plugins tests -name '*.[ch]' -not -path '*/corpus/*' | sort)
ANALYZE_BUILD ?= build-analyze

format:
	@$(CLANG_FORMAT) -i --style=file $(FORMAT_FILES)

# lint = the format check (fails on a difference), then the analyzers, which
# report but do not fail: their findings need a person to judge them.
lint: lint-format lint-analyze

lint-format:
	@$(CLANG_FORMAT) --dry-run --Werror --style=file $(FORMAT_FILES)

lint-analyze:
	@cmake -S . -B $(ANALYZE_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTANOMU_WERROR=OFF \
	  -DTANOMU_BUILD_TESTS=OFF -DCMAKE_C_FLAGS=-fanalyzer >/dev/null
	@cmake --build $(ANALYZE_BUILD) --clean-first -j $(JOBS) --target tanomu \
	  >$(ANALYZE_BUILD)/analyzer.log 2>&1 || true
	@grep -E 'warning: .*\[-Wanalyzer' $(ANALYZE_BUILD)/analyzer.log | sort -u \
	  >$(ANALYZE_BUILD)/analyzer-warnings.txt || true
	@echo "gcc -fanalyzer: $$(wc -l <$(ANALYZE_BUILD)/analyzer-warnings.txt) warning(s)," \
	  "details in $(ANALYZE_BUILD)/analyzer.log"
	@cppcheck --quiet --enable=warning,portability --inline-suppr --std=c11 \
	  -I host/src -I sdk/include host/src 2>$(ANALYZE_BUILD)/cppcheck.txt || true
	@echo "cppcheck: $$(grep -c ': \(error\|warning\|portability\)' $(ANALYZE_BUILD)/cppcheck.txt)" \
	  "finding(s), in $(ANALYZE_BUILD)/cppcheck.txt"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz $(ANALYZE_BUILD)
