"""Write a synthetic spanbill dataset for the report benchmark, with DuckDB.

Usage: generate_dataset.py DATA_DIR INVOCATIONS [sequential|random]

Writes INVOCATIONS invocation records over 30 days and their spans. There are 20 functions
with version 2 of each from day 21 on, and one function slower in version 2. About 1.9% of
invocations are cold starts. Each invocation has its span, and every third one an SQS send
span. Trace ids count up from 1 by default; `random` makes them hashes, as W3C trace ids
are random. The files follow the collector's layout,
`<table>/date=YYYY-MM-DD/part-*.parquet`, with the collector's column names and types.
"""

import sys

import duckdb


def main():
    data_dir, count = sys.argv[1], int(sys.argv[2])
    trace_ids = sys.argv[3] if len(sys.argv) > 3 else "sequential"
    if trace_ids == "sequential":
        trace_id = "lpad(printf('%x', seq), 32, '0')"
    elif trace_ids == "random":
        trace_id = "md5('trace ' || seq::VARCHAR)"
    else:
        sys.exit(f"trace ids must be sequential or random, not {trace_ids!r}")
    db = duckdb.connect()
    db.execute("SET preserve_insertion_order = false")
    # 2026-10-01T00:00:00Z; invocations are spread evenly over 30 days.
    db.execute(
        f"""
        CREATE TABLE invocations AS
        SELECT
            -- Lambda request ids are lowercase UUIDs; these are made from a hash of i.
            regexp_replace(md5(i::VARCHAR), '^(.{{8}})(.{{4}})(.{{4}})(.{{4}})(.{{12}})$',
                '\\1-\\2-\\3-\\4-\\5') AS request_id,
            'function-' || (i % 20) AS function,
            CASE WHEN i >= {count} * 2 // 3 THEN '2' ELSE '1' END AS version,
            1790812800000000000 + i * {30 * 86400 * 1_000_000_000 // count} AS start_ns,
            CAST(20 + (hash(i) % 1000) / 10.0
                + CASE WHEN i >= {count} * 2 // 3 AND i % 20 = 3 THEN 15 ELSE 0 END AS DOUBLE)
                AS duration_ms,
            CAST(NULL AS BIGINT) AS billed_ms,
            CAST(128 * (1 + i % 8) AS BIGINT) AS memory_mb,
            CAST(60 + hash(i * 7) % 40 AS BIGINT) AS max_memory_used_mb,
            CASE WHEN i % 53 = 0 THEN CAST(180 + hash(i) % 100 AS DOUBLE) ELSE NULL END AS init_ms,
            CAST(NULL AS DOUBLE) AS restore_ms,
            CAST(NULL AS BIGINT) AS billed_restore_ms,
            CASE WHEN i % 997 = 0 THEN 'error' ELSE 'success' END AS status,
            CASE WHEN i % 997 = 0 THEN 'Runtime.HandlerError' ELSE NULL END AS error_type,
            false AS out_of_memory,
            i % 53 = 0 AS cold_start,
            'arm64' AS architecture,
            'us-east-1' AS region,
            '123456789012' AS account,
            CAST(NULL AS VARCHAR) AS xray_trace_id,
            'report_line' AS source,
            'init_billed' AS billing_era,
            CAST(i AS UBIGINT) AS seq
        FROM range({count}) AS t(i)
        """
    )
    db.execute(
        "UPDATE invocations SET billed_ms = CAST(ceil(duration_ms + coalesce(init_ms, 0)) AS BIGINT)"
    )
    db.execute(
        f"""
        COPY (
            SELECT *, strftime(make_timestamp(start_ns // 1000), '%Y-%m-%d') AS date
            FROM invocations
        ) TO '{data_dir}/invocations'
        (FORMAT parquet, PARTITION_BY (date), FILENAME_PATTERN 'part-{{i}}', OVERWRITE_OR_IGNORE)
        """
    )
    db.execute(
        f"""
        COPY (
            SELECT
                {trace_id} AS trace_id,
                lpad(printf('%x', seq), 16, '0') AS span_id,
                CAST(NULL AS VARCHAR) AS parent_span_id,
                function AS name,
                'consumer' AS kind,
                start_ns,
                start_ns + CAST(duration_ms * 1000000 AS BIGINT) AS end_ns,
                CAST(duration_ms * 1000000 AS BIGINT) AS duration_ns,
                status,
                function AS service_name,
                CAST(NULL AS VARCHAR) AS service_version,
                function AS faas_name,
                request_id AS faas_invocation_id,
                cold_start AS faas_coldstart,
                'pubsub' AS faas_trigger,
                '{{"faas.invocation_id":"' || request_id || '","faas.trigger":"pubsub"}}' AS attributes,
                '{{"faas.name":"' || function || '","faas.version":"' || version || '"}}'
                    AS resource_attributes,
                'spanbill' AS scope_name,
                seq,
                strftime(make_timestamp(start_ns // 1000), '%Y-%m-%d') AS date
            FROM invocations
            UNION ALL
            SELECT
                {trace_id},
                lpad(printf('%x', seq + {count}), 16, '0'),
                lpad(printf('%x', seq), 16, '0'),
                'orders send',
                'producer',
                start_ns + 1000000,
                start_ns + 2000000,
                1000000,
                'unset',
                function,
                NULL,
                function,
                NULL,
                NULL,
                NULL,
                '{{"messaging.system":"aws_sqs","messaging.operation.type":"send","messaging.message.body.size":900}}',
                '{{"faas.name":"' || function || '","faas.version":"' || version || '"}}',
                'spanbill',
                seq + {count},
                strftime(make_timestamp(start_ns // 1000), '%Y-%m-%d')
            FROM invocations WHERE seq % 3 = 0
        ) TO '{data_dir}/spans'
        (FORMAT parquet, PARTITION_BY (date), FILENAME_PATTERN 'part-{{i}}', OVERWRITE_OR_IGNORE)
        """
    )


if __name__ == "__main__":
    main()
