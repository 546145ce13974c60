#!/usr/bin/env bash
# Object scanner measurements (part of `make bench`; figures in BENCHMARKS.md, "Object scanner"):
# peak memory scanning a 1 GiB object (pipeline only, and the worker path against the local AWS),
# and objects per second through the local AWS. Needs .venv (make venv) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
cargo build --release -p qrie --example object_scan_bench
bench="$CARGO_TARGET_DIR/release/examples/object_scan_bench"
peak() { /usr/bin/time -v "$@" 2>&1 >/dev/null | grep -E "Maximum resident|Elapsed" | sed 's/^\s*/    /'; }

echo "pipeline, 1 GiB plain:"; peak "$bench" pipeline 1024
echo "pipeline, 1 GiB gzip:"; peak "$bench" pipeline 1024 gzip

exec 3< <(.venv/bin/python tests/moto/server.py --parent-pid $$ 2>/dev/null)
read -r port <&3
endpoint="http://127.0.0.1:$port"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
"$bench" upload "$endpoint" 1024 >/dev/null
echo "worker path, 1 GiB multipart object in the local AWS:"; RUST_LOG=warn peak "$bench" scan "$endpoint"
echo "objects per second through the local AWS:"; RUST_LOG=warn "$bench" throughput "$endpoint" "${OBJECTS:-500}"
