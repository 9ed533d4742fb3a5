"""Compute per-function aggregates of a spanbill dataset with DuckDB, for the report benchmark.

Usage: duckdb_aggregates.py DATA_DIR

Reads `<DATA_DIR>/invocations/date=*/part-*.parquet` and prints, per function, the count,
p50/p95/p99 duration, GB-seconds and cold-start rate: the figures `spanbill report` puts in
its per-function table.
"""

import sys

import duckdb


def main():
    data_dir = sys.argv[1]
    rows = duckdb.sql(
        f"""
        SELECT
            function,
            count(*) AS invocations,
            quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS duration_ms,
            sum(billed_ms * memory_mb) / 1024000.0 AS gb_seconds,
            avg(CAST(cold_start AS INTEGER)) AS cold_start_rate
        FROM read_parquet('{data_dir}/invocations/date=*/part-*.parquet', hive_partitioning = true)
        GROUP BY function
        ORDER BY function
        """
    ).fetchall()
    for row in rows:
        print(*row, sep="\t")


if __name__ == "__main__":
    main()
