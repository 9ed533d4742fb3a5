#!/usr/bin/env bash
# Times `spanbill report` against DuckDB computing the per-function aggregates (count,
# p50/p95/p99, GB-seconds, cold-start rate) from the same Parquet files, in one run. The
# first report builds the day rollups under DATA_DIR/rollups; the timed runs read them.
#
# Usage: [TRACE_IDS=random] scripts/bench/report.sh INVOCATIONS [DATA_DIR]
# Needs .venv-test (scripts/test.sh creates it), hyperfine and a release build of spanbill
# (`cargo build --release --bin spanbill`). The dataset is generated once per size.
set -euo pipefail
cd "$(dirname "$0")/../.."

count=${1:?pass the number of invocations, such as 10000000}
data_dir=${2:-/tmp/spanbill-bench-$count}
python=.venv-test/bin/python
spanbill=${SPANBILL:-target/release/spanbill}

if [ ! -d "$data_dir/invocations" ]; then
  mkdir -p "$data_dir"
  echo "generating $count invocations in $data_dir"
  "$python" scripts/bench/generate_dataset.py "$data_dir" "$count" "${TRACE_IDS:-sequential}"
fi
du -sh "$data_dir"/invocations "$data_dir"/spans

# A report that builds the day rollups, then peak memory of one run of each that reads
# them, and a check that both computed the same aggregates.
rm -rf "$data_dir/rollups"
/usr/bin/time -f "spanbill report, building rollups: %e s, peak RSS %M KiB" \
  "$spanbill" report --data-dir "$data_dir" --format json --output "$data_dir/report-cold.json"
/usr/bin/time -f "spanbill report: %e s, peak RSS %M KiB" \
  "$spanbill" report --data-dir "$data_dir" --format json --output "$data_dir/report.json"
cmp "$data_dir/report-cold.json" "$data_dir/report.json"
/usr/bin/time -f "duckdb aggregates: %e s, peak RSS %M KiB" \
  "$python" scripts/bench/duckdb_aggregates.py "$data_dir" >"$data_dir/duckdb.tsv"
"$python" scripts/bench/compare_aggregates.py "$data_dir/report.json" "$data_dir/duckdb.tsv"

hyperfine --warmup 1 --runs "${RUNS:-3}" \
  -n "spanbill report" "$spanbill report --data-dir $data_dir --format json --output /dev/null" \
  -n "duckdb aggregates" "$python scripts/bench/duckdb_aggregates.py $data_dir"
