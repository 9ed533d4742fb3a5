//! The receivers in-process: gRPC partial success and status codes, and the HTTP JSON
//! response, against a real store on loopback ports.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use spanbill_collector::receiver::{ReceiverLimits, Receivers, serve_grpc};
use spanbill_collector::store::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn span(span_id: Vec<u8>, start: u64, end: u64) -> Span {
    Span {
        trace_id: vec![3; 16],
        span_id,
        name: "handler".to_owned(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Span::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

async fn start_grpc(receivers: Arc<Receivers>) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_grpc(listener, receivers, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_partial_success_counts_rejected_spans() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_grpc(receivers.clone()).await;
    let mut client = TraceServiceClient::connect(address).await.unwrap();

    let start = 1_717_000_000_000_000_000;
    let spans = vec![
        span(vec![1; 8], start, start + 10),
        span(vec![2; 7], start, start + 10),
        span(vec![3; 8], start + 10, start),
    ];
    let response = client.export(request(spans)).await.unwrap().into_inner();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("end time before start time"));
    assert!(partial.error_message.contains("expected 8 bytes, found 7"));

    let full = client
        .export(request(vec![span(vec![4; 8], start, start + 1)]))
        .await
        .unwrap()
        .into_inner();
    assert!(full.partial_success.is_none());

    let _ = stop.send(());
    let totals = tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.spans, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unavailable_after_store_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_grpc(receivers).await;
    let mut client = TraceServiceClient::connect(address).await.unwrap();
    tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();

    let start = 1_717_000_000_000_000_000;
    let status = client
        .export(request(vec![span(vec![1; 8], start, start + 1)]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let _ = stop.send(());
}
