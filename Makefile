# The README's commands. Each installs what it needs (Debian 12, as root),
# configures, builds and runs.
JOBS ?= $(shell nproc)

.PHONY: demo test deps build bench package clean

# The programs only (no tests), so a fresh machine plays within minutes.
# Unoptimised: it compiles in about half the time of Release on 2 cores, and
# one virtual device needs no speed (`make build` for a deployment).
demo:
	scripts/install-deps demo
	cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE= -DMICSTREAM_TESTS=OFF -DMICSTREAM_BENCH=OFF >/dev/null
	cmake --build build/demo -j $(JOBS) --target micstream-server micstream-device micstream-rtsp
	BUILD_DIR=build/demo scripts/demo

test: deps
	scripts/run-tests

build: deps
	cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build/release -j $(JOBS)

# The Debian package (packaging/): build/package/micstream_<version>_<arch>.deb.
package:
	scripts/install-deps package
	scripts/make-package build/package

bench: deps
	scripts/run-bench

deps:
	scripts/install-deps

clean:
	rm -rf build
