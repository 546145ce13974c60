#!/usr/bin/env bash
# Prints the path of a ripgrep binary for the detectors bench's comparison (part of
# `make bench`; figures in BENCHMARKS.md, "Detectors"), installing it when there is none:
# `rg` on PATH, else the copy cached by an earlier run, else the Debian package (when run as
# root with apt-get), else `cargo install ripgrep` into the cache. `make test` never needs it.
# Exits non-zero, printing nothing on stdout, when no way worked.
set -euo pipefail
cache="${QRIE_RIPGREP_ROOT:-$HOME/.cache/qrie/ripgrep}"

if command -v rg >/dev/null 2>&1; then
    command -v rg
    exit 0
fi
if [ -x "$cache/bin/rg" ]; then
    echo "$cache/bin/rg"
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ripgrep: installing the Debian package" >&2
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ripgrep >&2 \
        || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ripgrep >&2; }; then
        command -v rg
        exit 0
    fi
fi
echo "ripgrep: cargo install ripgrep into $cache (a few minutes, once)" >&2
cargo install --quiet --locked --root "$cache" ripgrep >&2
echo "$cache/bin/rg"
