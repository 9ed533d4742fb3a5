"""Print the span names and metric names of a spanbill dataset as DuckDB reads them.

Usage: read_duckdb.py DATA_DIR
"""

import json
import sys

import duckdb


def main():
    data_dir = sys.argv[1]
    spans = duckdb.sql(
        f"select name, service_name, date from read_parquet('{data_dir}/spans/*/*.parquet', hive_partitioning = true)"
    ).fetchall()
    metrics = duckdb.sql(
        f"select name, value_int, service_name from read_parquet('{data_dir}/metrics/*/*.parquet', hive_partitioning = true)"
    ).fetchall()
    print(
        json.dumps(
            {
                "spans": [[name, service, str(date)] for name, service, date in spans],
                "metrics": [[name, value, service] for name, value, service in metrics],
            }
        )
    )


if __name__ == "__main__":
    main()
