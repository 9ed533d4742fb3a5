//! CloudWatch Embedded Metric Format (EMF) output for KPI values.
//!
//! After each invocation the values recorded with [`kpi`](crate::kpi) are written as EMF JSON
//! documents, one per line, which CloudWatch Logs turns into metrics. The format's limits are
//! kept by splitting: at most [`MAX_METRICS_PER_DOCUMENT`] metrics and
//! [`MAX_VALUES_PER_METRIC`] values of one metric per document, and at most
//! [`MAX_DIMENSIONS_PER_SET`] dimensions per dimension set.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::kpi::RecordedValue;

/// EMF limit: metric definitions in one document.
pub const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// EMF limit: dimensions in one dimension set.
pub const MAX_DIMENSIONS_PER_SET: usize = 30;
/// EMF limit: values in one metric's value array.
pub const MAX_VALUES_PER_METRIC: usize = 100;

type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// The destination, namespace and dimensions of EMF documents.
#[derive(Clone)]
pub struct EmfSink {
    namespace: String,
    dimensions: Vec<(String, String)>,
    writer: SharedWriter,
}

impl fmt::Debug for EmfSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmfSink")
            .field("namespace", &self.namespace)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl EmfSink {
    /// Writes to stdout, where Lambda sends it to CloudWatch Logs, under the namespace
    /// `spanbill` with the dimension `function_name`.
    #[must_use]
    pub fn stdout(function_name: &str) -> Self {
        Self::new(Box::new(io::stdout()), function_name)
    }

    /// Writes to `writer` under the namespace `spanbill` with the dimension `function_name`.
    #[must_use]
    pub fn new(writer: Box<dyn Write + Send>, function_name: &str) -> Self {
        Self {
            namespace: "spanbill".to_owned(),
            dimensions: vec![("function_name".to_owned(), function_name.to_owned())],
            writer: Arc::new(Mutex::new(writer)),
        }
    }

    /// Sets the CloudWatch namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// Adds a dimension to every metric.
    #[must_use]
    pub fn dimension(mut self, key: &str, value: &str) -> Self {
        self.dimensions.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Writes the documents for `values`, one JSON document per line.
    pub(crate) fn write(&self, values: &[RecordedValue], at: SystemTime) -> io::Result<()> {
        let documents = self.documents(values, at);
        if documents.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for document in &documents {
            text.push_str(&document.to_string());
            text.push('\n');
        }
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.write_all(text.as_bytes())?;
        writer.flush()
    }

    /// Builds the EMF documents for `values`.
    #[must_use]
    pub(crate) fn documents(&self, values: &[RecordedValue], at: SystemTime) -> Vec<Value> {
        // Group values by metric, keeping the order in which metrics were first recorded.
        let mut order: Vec<(&str, &str)> = Vec::new();
        let mut grouped: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for value in values {
            let entry = grouped.entry(&value.name).or_default();
            if entry.is_empty() {
                order.push((&value.name, emf_unit(value.unit)));
            }
            entry.push(value.value);
        }

        // Each document takes up to 100 metrics and up to 100 values of each, so a metric
        // with more values continues in the next document.
        let mut queues: Vec<(&str, &str, &[f64])> = order
            .iter()
            .map(|(name, unit)| (*name, *unit, grouped[name].as_slice()))
            .collect();
        let timestamp = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut documents = Vec::new();
        while queues.iter().any(|(_, _, rest)| !rest.is_empty()) {
            let mut definitions = Vec::new();
            let mut members = Map::new();
            for (name, unit, rest) in &mut queues {
                if rest.is_empty() || definitions.len() == MAX_METRICS_PER_DOCUMENT {
                    continue;
                }
                let take = rest.len().min(MAX_VALUES_PER_METRIC);
                let (now, later) = rest.split_at(take);
                *rest = later;
                definitions.push(json!({"Name": name, "Unit": unit}));
                let value = if now.len() == 1 {
                    json!(now[0])
                } else {
                    json!(now)
                };
                members.insert((*name).to_owned(), value);
            }
            documents.push(self.document(timestamp, &definitions, members));
        }
        documents
    }

    fn document(
        &self,
        timestamp: u64,
        definitions: &[Value],
        mut members: Map<String, Value>,
    ) -> Value {
        let keys: Vec<&str> = self
            .dimensions
            .iter()
            .map(|(key, _)| key.as_str())
            .collect();
        let dimension_sets: Vec<Vec<&str>> = keys
            .chunks(MAX_DIMENSIONS_PER_SET)
            .map(<[&str]>::to_vec)
            .collect();
        for (key, value) in &self.dimensions {
            members.insert(key.clone(), json!(value));
        }
        members.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dimension_sets,
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(members)
    }
}

/// Maps a UCUM unit to the nearest CloudWatch unit.
fn emf_unit(unit: &str) -> &'static str {
    match unit {
        "ms" => "Milliseconds",
        "s" => "Seconds",
        "us" => "Microseconds",
        "By" => "Bytes",
        "KiBy" => "Kilobytes",
        "MiBy" => "Megabytes",
        "%" => "Percent",
        "1" => "Count",
        unit if unit.starts_with('{') => "Count",
        _ => "None",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(name: &str, unit: &'static str, value: f64) -> RecordedValue {
        RecordedValue {
            name: Arc::from(name),
            unit,
            value,
        }
    }

    #[test]
    fn one_document_groups_values_by_metric() {
        let sink = EmfSink::new(Box::new(io::sink()), "createOrder");
        let values = [
            value("orders.created", "{order}", 1.0),
            value("order.value", "USD", 12.5),
            value("orders.created", "{order}", 1.0),
        ];
        let documents = sink.documents(
            &values,
            UNIX_EPOCH + std::time::Duration::from_millis(1_700),
        );

        assert_eq!(documents.len(), 1);
        let document = &documents[0];
        assert_eq!(document["orders.created"], json!([1.0, 1.0]));
        assert_eq!(document["order.value"], json!(12.5));
        assert_eq!(document["function_name"], json!("createOrder"));
        assert_eq!(document["_aws"]["Timestamp"], json!(1_700));
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], json!("spanbill"));
        assert_eq!(directive["Dimensions"], json!([["function_name"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "orders.created", "Unit": "Count"}, {"Name": "order.value", "Unit": "None"}])
        );
    }

    #[test]
    fn more_than_100_metrics_split() {
        let sink = EmfSink::new(Box::new(io::sink()), "f");
        let names: Vec<String> = (0..250).map(|i| format!("m{i}")).collect();
        let values: Vec<RecordedValue> = names.iter().map(|name| value(name, "ms", 1.0)).collect();
        let documents = sink.documents(&values, UNIX_EPOCH);

        let sizes: Vec<usize> = documents
            .iter()
            .map(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [100, 100, 50]);
        let total: usize = documents
            .iter()
            .map(|d| d.as_object().unwrap().len() - 2)
            .sum();
        assert_eq!(total, 250);
    }

    #[test]
    fn more_than_100_values_split() {
        let sink = EmfSink::new(Box::new(io::sink()), "f");
        let values: Vec<RecordedValue> = (0..230)
            .map(|i| value("latency", "ms", f64::from(i)))
            .collect();
        let documents = sink.documents(&values, UNIX_EPOCH);

        let counts: Vec<usize> = documents
            .iter()
            .map(|d| d["latency"].as_array().unwrap().len())
            .collect();
        assert_eq!(counts, [100, 100, 30]);
        assert_eq!(documents[2]["latency"][29], json!(229.0));
    }

    #[test]
    fn more_than_30_dimensions_split_into_sets() {
        let mut sink = EmfSink::new(Box::new(io::sink()), "f");
        for i in 0..40 {
            sink = sink.dimension(&format!("d{i}"), "v");
        }
        let documents = sink.documents(&[value("x", "1", 1.0)], UNIX_EPOCH);
        let sets = documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            .as_array()
            .unwrap()
            .clone();
        let sizes: Vec<usize> = sets
            .iter()
            .map(|set| set.as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [30, 11]);
    }

    #[test]
    fn no_values_no_document() {
        let sink = EmfSink::new(Box::new(io::sink()), "f");
        assert!(sink.documents(&[], UNIX_EPOCH).is_empty());
    }
}
