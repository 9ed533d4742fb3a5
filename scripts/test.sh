#!/usr/bin/env bash
# Sets up what the tests need on a fresh machine and runs the whole test suite.
#
# Creates `.venv-test` (moto server, boto3, the OpenTelemetry Python SDK with its OTLP
# exporters, and DuckDB) when it is missing or incomplete. Installs the OpenTelemetry JS SDK
# into tests/node/node_modules with `npm ci` when it is missing or older than the lock file.
# Then runs `cargo test --workspace`. Tests start their own servers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-test
python_packages=(
  'moto[server]==5.2.*'
  boto3
  opentelemetry-api==1.45.1
  opentelemetry-sdk==1.45.1
  opentelemetry-exporter-otlp-proto-http==1.45.1
  opentelemetry-exporter-otlp-proto-grpc==1.45.1
  opentelemetry-exporter-otlp-proto-common==1.45.1
  opentelemetry-proto==1.45.1
  duckdb
)

if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http, duckdb' 2>/dev/null; then
  echo "setting up $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet "${python_packages[@]}"
fi

node_lock=tests/node/package-lock.json
node_installed=tests/node/node_modules/.package-lock.json
if [ ! -f "$node_installed" ] || [ "$node_lock" -nt "$node_installed" ]; then
  echo "installing the Node.js test packages"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo test --workspace --all-targets --no-fail-fast
cargo test --workspace --doc
