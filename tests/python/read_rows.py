"""Print the span and metric rows of a spanbill dataset as DuckDB reads them, as JSON.

Usage: read_rows.py DATA_DIR

Spans and metric points are objects keyed by column name. Attribute columns stay JSON
text, as the dataset stores them.
"""

import json
import sys

import duckdb

SPAN_COLUMNS = ["trace_id", "span_id", "parent_span_id", "name", "kind", "service_name", "service_version", "attributes"]
METRIC_COLUMNS = ["name", "kind", "unit", "value_int", "value_double", "count", "sum", "attributes", "service_name"]


def rows(data_dir, table, columns):
    query = (
        f"select {', '.join(columns)} "
        f"from read_parquet('{data_dir}/{table}/*/*.parquet', hive_partitioning = true)"
    )
    return [dict(zip(columns, row)) for row in duckdb.sql(query).fetchall()]


def main():
    data_dir = sys.argv[1]
    print(
        json.dumps(
            {
                "spans": rows(data_dir, "spans", SPAN_COLUMNS),
                "metrics": rows(data_dir, "metrics", METRIC_COLUMNS),
            }
        )
    )


if __name__ == "__main__":
    main()
