//! Business KPI metrics: counters and histograms recorded from inside a handler.
//!
//! Declare the KPIs a handler records in its attribute, so their unit and description are set
//! and counters export a zero before the first event:
//!
//! ```ignore
//! #[spanbill::handler(kpi(counter = "orders.created", unit = "{order}"))]
//! ```
//!
//! and record them with [`add`] and [`record`]. Values go to the OpenTelemetry meter of the
//! current environment and, when EMF output is on, into the invocation's EMF documents.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::environment::Environment;
use crate::telemetry::{SCOPE_NAME, Telemetry};

/// The instrument a KPI is recorded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiKind {
    /// A monotonic sum of whole numbers, such as orders created.
    Counter,
    /// A distribution of values, such as order value.
    Histogram,
}

/// A KPI declared in a handler attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpiSpec {
    /// Instrument name, such as `orders.created`.
    pub name: &'static str,
    /// Instrument kind.
    pub kind: KpiKind,
    /// UCUM unit, such as `{order}`, `USD` or `ms`; empty when not declared.
    pub unit: &'static str,
    /// Description; empty when not declared.
    pub description: &'static str,
}

/// Instruments by name, each with its declared unit.
type Instruments<I> = RwLock<HashMap<Arc<str>, (I, &'static str)>>;

/// The instruments of one meter provider, created on first use and cached by name.
pub(crate) struct KpiRegistry {
    meter: Meter,
    counters: Instruments<Counter<u64>>,
    histograms: Instruments<Histogram<f64>>,
    declared: RwLock<Vec<usize>>,
}

impl fmt::Debug for KpiRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KpiRegistry").finish_non_exhaustive()
    }
}

impl KpiRegistry {
    pub(crate) fn new(provider: &SdkMeterProvider) -> Self {
        Self {
            meter: provider.meter(SCOPE_NAME),
            counters: RwLock::new(HashMap::new()),
            histograms: RwLock::new(HashMap::new()),
            declared: RwLock::new(Vec::new()),
        }
    }

    /// Creates the instruments of `specs` once per registry.
    pub(crate) fn declare(&self, specs: &'static [KpiSpec]) {
        if specs.is_empty() {
            return;
        }
        let key = specs.as_ptr() as usize;
        if self
            .declared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key)
        {
            return;
        }
        for spec in specs {
            match spec.kind {
                KpiKind::Counter => {
                    let _ = self.counter(spec.name, spec.unit, spec.description);
                }
                KpiKind::Histogram => {
                    let _ = self.histogram(spec.name, spec.unit, spec.description);
                }
            }
        }
        self.declared
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key);
    }

    fn counter(
        &self,
        name: &str,
        unit: &'static str,
        description: &'static str,
    ) -> (Counter<u64>, &'static str) {
        if let Some(found) = self
            .counters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return found.clone();
        }
        let mut counters = self
            .counters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        counters
            .entry(Arc::from(name))
            .or_insert_with(|| {
                let mut builder = self.meter.u64_counter(name.to_owned());
                if !unit.is_empty() {
                    builder = builder.with_unit(unit);
                }
                if !description.is_empty() {
                    builder = builder.with_description(description);
                }
                // Counters declared in the attribute export a zero before the first event.
                let counter = builder.build();
                counter.add(0, &[]);
                (counter, unit)
            })
            .clone()
    }

    fn histogram(
        &self,
        name: &str,
        unit: &'static str,
        description: &'static str,
    ) -> (Histogram<f64>, &'static str) {
        if let Some(found) = self
            .histograms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return found.clone();
        }
        let mut histograms = self
            .histograms
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        histograms
            .entry(Arc::from(name))
            .or_insert_with(|| {
                let mut builder = self.meter.f64_histogram(name.to_owned());
                if !unit.is_empty() {
                    builder = builder.with_unit(unit);
                }
                if !description.is_empty() {
                    builder = builder.with_description(description);
                }
                (builder.build(), unit)
            })
            .clone()
    }
}

/// One KPI value kept for the invocation's EMF documents.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordedValue {
    pub(crate) name: Arc<str>,
    pub(crate) unit: &'static str,
    pub(crate) value: f64,
}

/// The KPI values of the running invocation, kept for its EMF documents.
#[derive(Debug)]
pub(crate) struct InvocationKpis {
    pub(crate) telemetry: Telemetry,
    pub(crate) values: Mutex<Vec<RecordedValue>>,
}

tokio::task_local! {
    /// Set for the duration of an invocation whose telemetry writes EMF.
    pub(crate) static CURRENT_INVOCATION: Option<Arc<InvocationKpis>>;
}

fn with_target(f: impl FnOnce(&Telemetry, Option<&Mutex<Vec<RecordedValue>>>)) {
    match CURRENT_INVOCATION.try_with(Clone::clone) {
        Ok(Some(kpis)) => f(&kpis.telemetry, Some(&kpis.values)),
        Ok(None) | Err(_) => f(&Telemetry::for_environment(&Environment::current()), None),
    }
}

fn keep_for_emf(
    values: Option<&Mutex<Vec<RecordedValue>>>,
    name: &str,
    unit: &'static str,
    value: f64,
) {
    if let Some(values) = values {
        values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(RecordedValue {
                name: Arc::from(name),
                unit,
                value,
            });
    }
}

/// Adds `value` to the counter `name`.
pub fn add(name: &str, value: u64) {
    add_with(name, value, &[]);
}

/// Adds `value` to the counter `name` for the given attributes.
pub fn add_with(name: &str, value: u64, attributes: &[KeyValue]) {
    with_target(|telemetry, values| {
        let (counter, unit) = telemetry.kpis().counter(name, "", "");
        counter.add(value, attributes);
        keep_for_emf(values, name, unit, value as f64);
    });
}

/// Records `value` in the histogram `name`.
pub fn record(name: &str, value: f64) {
    record_with(name, value, &[]);
}

/// Records `value` in the histogram `name` for the given attributes.
pub fn record_with(name: &str, value: f64, attributes: &[KeyValue]) {
    with_target(|telemetry, values| {
        let (histogram, unit) = telemetry.kpis().histogram(name, "", "");
        histogram.record(value, attributes);
        keep_for_emf(values, name, unit, value);
    });
}
