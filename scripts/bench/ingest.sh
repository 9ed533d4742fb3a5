#!/usr/bin/env bash
# Measures OTLP/HTTP trace ingest of `spanbill collect` side by side with rotel, a Rust
# OpenTelemetry collector (PyPI `rotel`) that exports to its blackhole exporter.
#
# Both collectors are driven by the same load generator (`collector/examples/otlp_load`)
# with the same request, duration and connection count, once with protobuf and once with
# JSON bodies. Each collector starts fresh for each encoding, listens on free ports on
# 127.0.0.1 only, and is stopped by its process id. spanbill runs with its default durable
# store (write-ahead log fsynced before each response, Parquet parts) in a new data directory
# under $TMPDIR.
#
# Peak RSS is VmHWM from /proc/PID/status, read after the load ends and before the stop
# signal, so the final flush at shutdown is not part of it. CPU is the collector's user plus
# system time over its whole life up to that point.
#
# Usage: scripts/bench/ingest.sh
# Settings, as environment variables:
#   DURATION=20      measured seconds per run
#   WARMUP=3         seconds sent before each measured window and not counted
#   CONNECTIONS=8    keep-alive connections, each with one request in flight
#   SPANS=512        spans per request
#   ROUNDS=1         repetitions of the four runs; even rounds start with rotel
#   ROTEL_VERSION    rotel release to install into .venv-bench [default: 0.0.1a15]
#   SPANBILL_BIN, OTLP_LOAD_BIN
#                    use these binaries instead of building them with cargo
#
# Without SPANBILL_BIN and OTLP_LOAD_BIN the script builds both in release mode (with
# CARGO_TARGET_DIR when set) and copies `spanbill` to a temporary directory, so a rebuild
# during the run cannot change the binary under test. The load generator shares the
# machine with the collector under test: on a 2-core machine it takes part of the CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=${DURATION:-20}
warmup=${WARMUP:-3}
connections=${CONNECTIONS:-8}
spans=${SPANS:-512}
rounds=${ROUNDS:-1}
rotel_version=${ROTEL_VERSION:-0.0.1a15}
venv=.venv-bench

work=$(mktemp -d "${TMPDIR:-/tmp}/spanbill-ingest-bench.XXXXXX")
collector_pid=

stop_collector() {
  if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
    kill -TERM "$collector_pid"
    # spanbill flushes its buffer to Parquet on SIGTERM; give it time before SIGKILL.
    for _ in $(seq 1 300); do
      kill -0 "$collector_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$collector_pid" 2>/dev/null; then
      echo "collector $collector_pid did not stop within 30 s of SIGTERM; killing it" >&2
      kill -KILL "$collector_pid"
    fi
    wait "$collector_pid" 2>/dev/null || true
  fi
  collector_pid=
}

cleanup() {
  stop_collector
  rm -rf "$work"
}
trap cleanup EXIT

# rotel ships its collector binary inside the wheel.
if ! "$venv/bin/python" -c 'import rotel' 2>/dev/null; then
  echo "installing rotel $rotel_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "rotel==$rotel_version"
fi
rotel_agent=$("$venv/bin/python" -c \
  'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
if [ ! -x "$rotel_agent" ]; then
  echo "rotel agent binary not found at $rotel_agent; reinstall with: rm -rf $venv" >&2
  exit 1
fi

if [ -n "${SPANBILL_BIN:-}" ] && [ -n "${OTLP_LOAD_BIN:-}" ]; then
  spanbill=$SPANBILL_BIN
  otlp_load=$OTLP_LOAD_BIN
else
  target_dir=${CARGO_TARGET_DIR:-target}
  cargo build --release -p spanbill-collector --example otlp_load
  cargo build --release --bin spanbill
  cp "$target_dir/release/spanbill" "$work/spanbill"
  cp "$target_dir/release/examples/otlp_load" "$work/otlp_load"
  spanbill=$work/spanbill
  otlp_load=$work/otlp_load
fi

# Prints a TCP port on 127.0.0.1 that is free now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on 127.0.0.1:$1, without connecting to it.
wait_for_listener() {
  local port=$1
  for _ in $(seq 1 100); do
    if ss -Hltn "sport = :$port" | grep -q "127.0.0.1:$port"; then
      return 0
    fi
    if ! kill -0 "$collector_pid" 2>/dev/null; then
      echo "collector exited before listening on port $port" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$port after 10 s" >&2
  return 1
}

# Prints user plus system CPU seconds of process $1.
cpu_seconds() {
  local ticks
  ticks=$(getconf CLK_TCK)
  # utime and stime are fields 14 and 15 of /proc/PID/stat, so $12 and $13 once the pid and
  # the command name in parentheses are cut off.
  sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$ticks" '{ printf "%.1f", ($12 + $13) / hz }'
}

# Starts one collector on fresh ports, drives it with the load generator and appends one
# row to $work/results.
run_one() {
  local collector=$1 encoding=$2 round=$3
  local grpc_port http_port log data_dir
  grpc_port=$(free_port)
  http_port=$(free_port)
  log=$work/$collector-$encoding-$round.log

  case $collector in
    spanbill)
      data_dir=$work/data-$encoding-$round
      env -i PATH="$PATH" HOME="$HOME" "$spanbill" collect \
        --data-dir "$data_dir" \
        --grpc-listen "127.0.0.1:$grpc_port" \
        --http-listen "127.0.0.1:$http_port" >"$log" 2>&1 &
      ;;
    rotel)
      env -i PATH="$PATH" HOME="$HOME" "$rotel_agent" start \
        --otlp-grpc-endpoint "127.0.0.1:$grpc_port" \
        --otlp-http-endpoint "127.0.0.1:$http_port" \
        --exporter blackhole >"$log" 2>&1 &
      ;;
  esac
  collector_pid=$!
  wait_for_listener "$http_port"

  local output status=0
  output=$("$otlp_load" --target "127.0.0.1:$http_port" --encoding "$encoding" \
    --spans "$spans" --connections "$connections" --duration "$duration" \
    --warmup "$warmup" 2>&1) || status=$?
  echo "$output" | sed "s/^/  [$collector $encoding] /"
  if [ "$status" -ne 0 ]; then
    echo "load generator failed against $collector ($encoding); collector log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi

  local hwm_kb cpu
  hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$collector_pid/status")
  cpu=$(cpu_seconds "$collector_pid")
  stop_collector
  if [ "$collector" = spanbill ]; then
    grep -o ' spans=[0-9]*' "$log" | sed "s/^ spans=\(.*\)/  [$collector $encoding] at shutdown: \1 spans stored/" || true
  fi

  local result
  result=$(echo "$output" | grep '^result ')
  echo "$collector $encoding $round $hwm_kb $cpu ${result#result }" >>"$work/results"
}

# Prints field $2 (a name=value pair) of a result row.
field() {
  echo "$1" | tr ' ' '\n' | awk -F= -v name="$2" '$1 == name { print $2 }'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average$(uptime | sed 's/.*load average//')"
echo "data directory filesystem: $(df -T "$work" | awk 'NR == 2 { print $2 }')"
echo "rotel: $("$rotel_agent" --version), PyPI rotel $("$venv/bin/pip" show rotel | awk '/^Version/ { print $2 }')"
if pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null; then
  echo "warning: cargo or rustc is running; the numbers below share the CPU with it" >&2
fi
echo "settings: ${spans} spans per request, $connections connections, ${duration} s measured after ${warmup} s warm-up, $rounds round(s)"

: >"$work/results"
for round in $(seq 1 "$rounds"); do
  order=(spanbill rotel)
  if [ $((round % 2)) -eq 0 ]; then
    order=(rotel spanbill)
  fi
  for encoding in protobuf json; do
    for collector in "${order[@]}"; do
      run_one "$collector" "$encoding" "$round"
    done
  done
done

echo
printf '%-9s %-9s %5s %12s %10s %9s %9s %7s %9s %7s\n' \
  collector encoding round 'spans/s' 'requests/s' 'p50 ms' 'p99 ms' errors 'RSS MiB' 'CPU s'
while read -r collector encoding round hwm_kb cpu rest; do
  errors=$(($(field "$rest" http_errors) + $(field "$rest" transport_errors) + $(field "$rest" unreadable_responses)))
  printf '%-9s %-9s %5s %12s %10s %9s %9s %7s %9.1f %7s\n' \
    "$collector" "$encoding" "$round" "$(field "$rest" spans_per_s)" \
    "$(field "$rest" requests_per_s)" "$(field "$rest" p50_ms)" "$(field "$rest" p99_ms)" \
    "$errors" "$(echo "$hwm_kb" | awk '{ print $1 / 1024 }')" "$cpu"
done <"$work/results"

echo
for encoding in protobuf json; do
  for round in $(seq 1 "$rounds"); do
    ours=$(awk -v e="$encoding" -v r="$round" '$1 == "spanbill" && $2 == e && $3 == r' "$work/results")
    theirs=$(awk -v e="$encoding" -v r="$round" '$1 == "rotel" && $2 == e && $3 == r' "$work/results")
    awk -v e="$encoding" -v r="$round" -v a="$(field "$ours" spans_per_s)" -v b="$(field "$theirs" spans_per_s)" \
      'BEGIN { printf "spanbill/rotel spans/s, %s, round %s: %.2fx\n", e, r, (b > 0 ? a / b : 0) }'
  done
done
