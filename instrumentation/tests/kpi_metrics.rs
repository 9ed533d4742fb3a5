//! KPIs recorded inside a handler reach the OpenTelemetry meter and the EMF output.

mod support;

use lambda_runtime::Context;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, MetricData, ResourceMetrics, ScopeMetrics, SumDataPoint,
};
use spanbill_instrumentation as spanbill;
use spanbill_instrumentation::InitType;
use support::{Harness, context};

#[spanbill::handler(
    name = "createOrder",
    kpi(
        counter = "orders.created",
        unit = "{order}",
        description = "Orders accepted"
    ),
    kpi(histogram = "order.value", unit = "USD"),
    kpi(counter = "orders.rejected", unit = "{order}")
)]
async fn create_order(
    event: serde_json::Value,
    _context: Context,
) -> Result<(), lambda_runtime::Error> {
    let value = event["value"].as_f64().unwrap_or_default();
    spanbill::kpi::add_with("orders.created", 1, &[KeyValue::new("channel", "web")]);
    spanbill::kpi::record("order.value", value);
    Ok(())
}

fn metric_names(harness: &Harness) -> Vec<String> {
    let exported = harness.metrics.get_finished_metrics().unwrap();
    let mut names: Vec<String> = exported
        .iter()
        .flat_map(ResourceMetrics::scope_metrics)
        .flat_map(ScopeMetrics::metrics)
        .map(|metric| metric.name().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn kpis_reach_the_meter() {
    let harness = Harness::new(InitType::OnDemand, None);
    harness
        .run(create_order(
            serde_json::json!({"value": 20.5}),
            context("r-1"),
        ))
        .await
        .unwrap();
    harness
        .run(create_order(
            serde_json::json!({"value": 4.5}),
            context("r-2"),
        ))
        .await
        .unwrap();

    // Declared counters export even before their first event.
    assert_eq!(
        metric_names(&harness),
        ["order.value", "orders.created", "orders.rejected"]
    );

    let exported = harness.metrics.get_finished_metrics().unwrap();
    let last = exported.last().unwrap();
    let metrics: Vec<_> = last
        .scope_metrics()
        .flat_map(ScopeMetrics::metrics)
        .collect();
    let created = metrics
        .iter()
        .find(|metric| metric.name() == "orders.created")
        .unwrap();
    assert_eq!(created.unit(), "{order}");
    assert_eq!(created.description(), "Orders accepted");
    let AggregatedMetrics::U64(MetricData::Sum(sum)) = created.data() else {
        panic!("orders.created is not a u64 sum")
    };
    let web: u64 = sum
        .data_points()
        .filter(|point| {
            point
                .attributes()
                .any(|kv| kv == &KeyValue::new("channel", "web"))
        })
        .map(SumDataPoint::value)
        .sum();
    assert_eq!(web, 2, "cumulative count of web orders");

    let value = metrics
        .iter()
        .find(|metric| metric.name() == "order.value")
        .unwrap();
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = value.data() else {
        panic!("order.value is not a histogram")
    };
    let point = histogram.data_points().next().unwrap();
    assert_eq!(point.count(), 2);
    assert!((point.sum() - 25.0).abs() < 1e-9);
    assert_eq!(
        last.resource().get(&opentelemetry::Key::new("faas.name")),
        Some(opentelemetry::Value::from("orders-api"))
    );
}

#[tokio::test]
async fn kpis_become_emf_lines() {
    let harness = Harness::new(InitType::OnDemand, None);
    harness
        .run(create_order(
            serde_json::json!({"value": 20.5}),
            context("r-1"),
        ))
        .await
        .unwrap();

    let text = harness.emf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one EMF document per invocation: {text}");
    let document: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(document["orders.created"], serde_json::json!(1.0));
    assert_eq!(document["order.value"], serde_json::json!(20.5));
    assert_eq!(document["function_name"], serde_json::json!("orders-api"));
    let directive = &document["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        directive["Metrics"],
        serde_json::json!([{"Name": "orders.created", "Unit": "Count"}, {"Name": "order.value", "Unit": "None"}])
    );
}
