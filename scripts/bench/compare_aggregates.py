"""Check that a `spanbill report --format json` output and the DuckDB aggregates agree.

Usage: compare_aggregates.py REPORT_JSON DUCKDB_TSV

Exits 1 and names the function when the count, p50/p95/p99, GB-seconds or cold-start rate
of a function differ.
"""

import json
import sys


def main():
    functions = json.load(open(sys.argv[1]))["functions"]
    mismatches = 0
    rows = 0
    for line in open(sys.argv[2]):
        rows += 1
        name, count, percentiles, gb_seconds, cold = line.rstrip("\n").split("\t")
        figures = functions[name]
        expected = json.loads(percentiles)
        measured = [figures["duration_ms"][key] for key in ("p50", "p95", "p99")]
        same = (
            figures["invocations"] == int(count)
            and abs(float(figures["gb_seconds"]) - float(gb_seconds)) < 1e-6
            and all(abs(a - b) < 1e-9 for a, b in zip(measured, expected))
            and abs(figures["cold_start_rate"] - float(cold)) < 1e-12
        )
        if not same:
            mismatches += 1
            print(f"{name}: spanbill {figures}, duckdb {line.strip()}")
    if mismatches or rows != len(functions):
        sys.exit(f"{mismatches} of {rows} functions differ; spanbill has {len(functions)}")
    print(f"aggregates agree for all {rows} functions")


if __name__ == "__main__":
    main()
