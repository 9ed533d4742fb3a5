//! Time to read one trace export request of the load generator (`examples/otlp_load`, 512
//! spans) into span rows, three ways. OTLP/JSON goes through the row reader, which also
//! writes the protobuf that the write-ahead log keeps, and through the decoder and the
//! message types. The protobuf twin of the request goes through the wire reader.
//!
//! Run with `cargo bench -p spanbill-collector --bench otlp_read`.

#[path = "../examples/otlp_load/json.rs"]
mod json;
#[path = "../examples/otlp_load/workload.rs"]
mod workload;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use spanbill_collector::otlp::{Limits, RowReader, read_rows};

const SPANS: usize = 512;

fn read(c: &mut Criterion) {
    let request = workload::export_request(SPANS);
    let protobuf = request.encode_to_vec();
    let json = json::encode(&request);
    let limits = Limits::default();

    let mut group = c.benchmark_group("read 512-span request");
    group.throughput(Throughput::Elements(SPANS as u64));
    for (name, body, reader) in [
        ("OTLP/JSON, row reader", &json, RowReader::Json),
        ("OTLP/JSON, decoder", &json, RowReader::JsonDecoder),
        ("protobuf, wire reader", &protobuf, RowReader::Protobuf),
    ] {
        assert_eq!(
            read_rows(body, reader, &limits),
            Some(SPANS),
            "{name} reads every span"
        );
        group.bench_function(name, |b| {
            b.iter(|| read_rows(black_box(body), reader, &limits));
        });
    }
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
