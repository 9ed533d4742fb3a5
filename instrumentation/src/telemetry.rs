//! Tracer and meter providers, exporters and the settings the handler wrapper reads.

use std::env;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracer, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use opentelemetry_semantic_conventions::attribute as semconv;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::cost::CostRates;
use crate::emf::EmfSink;
use crate::environment::{Environment, FunctionConfig, InitType};
use crate::kpi::KpiRegistry;
use crate::redact::{RedactingWriter, Redactor};

/// Instrumentation scope name of the spans and metrics this crate creates.
pub const SCOPE_NAME: &str = "spanbill";

/// Instrumentation scope of spans recorded through `tracing` and
/// [`Telemetry::tracing_tracer`].
pub const TRACING_SCOPE_NAME: &str = "spanbill.tracing";

/// Default time before the invocation deadline at which telemetry is flushed even though the
/// handler has not returned, so that an invocation that times out still reports.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(300);

/// Errors while setting up telemetry from the environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// An `OTEL_*` variable has a value this crate does not support.
    #[error("unsupported value `{value}` for `{variable}`: expected one of {expected}")]
    UnsupportedValue {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// The values that are supported.
        expected: &'static str,
    },
    /// A variable has a value that does not parse.
    #[error("invalid value `{value}` for `{variable}`: {reason}")]
    InvalidValue {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// The reason it does not parse.
        reason: &'static str,
    },
    /// The OTLP exporter could not be built.
    #[error("failed to build the OTLP {signal} exporter")]
    Exporter {
        /// `traces` or `metrics`.
        signal: &'static str,
        /// The exporter's error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// A global tracing subscriber was already installed.
    #[error("a global `tracing` subscriber is already installed; call `install_global` once")]
    SubscriberAlreadySet,
}

/// The telemetry pipeline the handler wrapper writes to: a tracer, KPI instruments, optional
/// EMF output, redaction and cost settings. Cloning is cheap.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    tracer_provider: SdkTracerProvider,
    tracer: SdkTracer,
    tracing_tracer: SdkTracer,
    meter_provider: SdkMeterProvider,
    kpis: KpiRegistry,
    emf: Option<EmfSink>,
    redactor: Redactor,
    rates: CostRates,
    deadline_margin: Duration,
    flush_after_invocation: bool,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("emf", &self.inner.emf.is_some())
            .field("redaction", &self.inner.redactor.is_enabled())
            .field("deadline_margin", &self.inner.deadline_margin)
            .finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Telemetry> = OnceLock::new();

impl Telemetry {
    /// Starts building a pipeline with no exporters.
    #[must_use]
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }

    /// Builds the pipeline that `OTEL_*` and `SPANBILL_*` environment variables describe,
    /// for the function of the global [`Environment`].
    ///
    /// Honoured: `OTEL_SDK_DISABLED`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_TRACES_EXPORTER` and `OTEL_METRICS_EXPORTER` (`otlp` or `none`),
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` and its per-signal forms (`http/protobuf`, or `grpc` with
    /// the `grpc` feature), the OTLP endpoint, header, timeout and compression variables,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (delta when unset, because every
    /// execution environment is a short-lived process), `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`
    /// and the span limit variables. `SPANBILL_EMF=1` adds EMF output on stdout,
    /// `SPANBILL_REDACTION=off` turns redaction off and `SPANBILL_DEADLINE_MARGIN_MS` sets the
    /// deadline margin.
    pub fn from_env() -> Result<Telemetry, SetupError> {
        let environment = Environment::global();
        let mut builder = Telemetry::builder().resource(function_resource(
            environment.function(),
            environment.init_type(),
        ));
        if env_flag("OTEL_SDK_DISABLED") {
            return Ok(builder.build());
        }

        if exporter_enabled("OTEL_TRACES_EXPORTER")? {
            let exporter = otlp_span_exporter()?;
            builder = builder.span_processor(BatchSpanProcessor::builder(exporter).build());
        }
        if exporter_enabled("OTEL_METRICS_EXPORTER")? {
            let exporter = otlp_metric_exporter()?;
            builder = builder.metric_exporter(exporter);
        }

        if env_flag("SPANBILL_EMF") {
            builder = builder.emf(EmfSink::stdout(environment.function().name.as_ref()));
        }
        if env::var("SPANBILL_REDACTION").is_ok_and(|value| value.eq_ignore_ascii_case("off")) {
            builder = builder.redactor(Redactor::disabled());
        }
        if let Ok(value) = env::var("SPANBILL_DEADLINE_MARGIN_MS") {
            let millis = value.parse::<u64>().map_err(|_| SetupError::InvalidValue {
                variable: "SPANBILL_DEADLINE_MARGIN_MS",
                value: value.clone(),
                reason: "expected a whole number of milliseconds",
            })?;
            builder = builder.deadline_margin(Duration::from_millis(millis));
        }
        Ok(builder.build())
    }

    /// Builds the pipeline from the environment and installs it globally: as the
    /// OpenTelemetry global providers, as the telemetry of every handler that has no
    /// environment of its own, and as a `tracing` subscriber that sends `tracing` spans and
    /// events to OpenTelemetry and writes redacted logs to stdout.
    pub fn init() -> Result<Telemetry, SetupError> {
        let telemetry = Self::from_env()?;
        telemetry.install_global()?;
        Ok(telemetry)
    }

    /// Installs this pipeline globally; see [`Telemetry::init`].
    pub fn install_global(&self) -> Result<(), SetupError> {
        self.set_global();

        let redactor = self.inner.redactor.clone();
        let log_layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || RedactingWriter::new(std::io::stdout(), redactor.clone()));
        let otel_layer =
            tracing_opentelemetry::layer().with_tracer(self.inner.tracing_tracer.clone());
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::EnvFilter::from_env("SPANBILL_LOG")
                    .add_directive(tracing::level_filters::LevelFilter::INFO.into()),
            )
            .with(log_layer)
            .with(otel_layer)
            .try_init()
            .map_err(|_| SetupError::SubscriberAlreadySet)
    }

    /// Makes this pipeline the OpenTelemetry global providers and the telemetry of every
    /// handler that has no environment of its own, without installing a `tracing`
    /// subscriber, for programs that set up `tracing` themselves.
    ///
    /// Only the first call sets the handlers' telemetry; later calls change the
    /// OpenTelemetry global providers only.
    pub fn set_global(&self) {
        global::set_tracer_provider(self.inner.tracer_provider.clone());
        global::set_meter_provider(self.inner.meter_provider.clone());
        let _ = GLOBAL.set(self.clone());
    }

    /// Returns the globally installed pipeline, or one that records nothing when none was
    /// installed.
    pub fn global() -> &'static Telemetry {
        static DISABLED: OnceLock<Telemetry> = OnceLock::new();
        GLOBAL
            .get()
            .unwrap_or_else(|| DISABLED.get_or_init(|| Telemetry::builder().build()))
    }

    /// Returns the pipeline of the current environment: its own, otherwise the global one.
    pub(crate) fn for_environment(environment: &Environment) -> Telemetry {
        environment
            .telemetry()
            .unwrap_or_else(|| Telemetry::global())
            .clone()
    }

    /// Returns the tracer for invocation and message spans.
    #[must_use]
    pub fn tracer(&self) -> &SdkTracer {
        &self.inner.tracer
    }

    /// Returns the tracer for a `tracing-opentelemetry` layer. Spans recorded through it
    /// carry the instrumentation scope [`TRACING_SCOPE_NAME`] and are moved onto the clock of
    /// the environment they end in, so they line up with the invocation span under a
    /// simulated clock. [`Telemetry::install_global`] uses it.
    #[must_use]
    pub fn tracing_tracer(&self) -> &SdkTracer {
        &self.inner.tracing_tracer
    }

    /// Returns the tracer provider.
    #[must_use]
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.inner.tracer_provider
    }

    /// Returns the meter provider that owns the KPI instruments.
    #[must_use]
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.inner.meter_provider
    }

    pub(crate) fn kpis(&self) -> &KpiRegistry {
        &self.inner.kpis
    }

    pub(crate) fn emf(&self) -> Option<&EmfSink> {
        self.inner.emf.as_ref()
    }

    /// Returns the redaction rules, for code that wants to redact its own text.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    pub(crate) fn rates(&self) -> &CostRates {
        &self.inner.rates
    }

    pub(crate) fn deadline_margin(&self) -> Duration {
        self.inner.deadline_margin
    }

    pub(crate) fn flush_after_invocation(&self) -> bool {
        self.inner.flush_after_invocation
    }

    /// Exports every finished span and metric now.
    ///
    /// Inside a Tokio runtime the blocking export runs on the blocking pool, so the
    /// runtime's own threads stay free. A current-thread runtime therefore does not deadlock
    /// on an exporter that needs it.
    pub async fn flush(&self) {
        let telemetry = self.clone();
        let flush = move || telemetry.flush_blocking();
        let result = match tokio::runtime::Handle::try_current() {
            Ok(handle) => match handle.spawn_blocking(flush).await {
                Ok(result) => result,
                Err(error) => {
                    tracing::warn!(%error, "telemetry flush task failed");
                    return;
                }
            },
            Err(_) => flush(),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "telemetry flush failed");
        }
    }

    /// Exports every finished span and metric now, blocking the calling thread.
    pub fn flush_blocking(&self) -> OTelSdkResult {
        let traces = self.inner.tracer_provider.force_flush();
        let metrics = self.inner.meter_provider.force_flush();
        traces.and(metrics)
    }

    /// Flushes and stops the exporters.
    pub fn shutdown(&self) -> OTelSdkResult {
        let traces = self.inner.tracer_provider.shutdown();
        let metrics = self.inner.meter_provider.shutdown();
        traces.and(metrics)
    }
}

/// Builder for [`Telemetry`].
pub struct TelemetryBuilder {
    resource: Option<Resource>,
    tracer_builder: opentelemetry_sdk::trace::TracerProviderBuilder,
    meter_builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
    emf: Option<EmfSink>,
    redactor: Redactor,
    rates: CostRates,
    deadline_margin: Duration,
    flush_after_invocation: bool,
    processors: Vec<Box<dyn SpanProcessor>>,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("resource", &self.resource)
            .field("processors", &self.processors.len())
            .finish_non_exhaustive()
    }
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self {
            resource: None,
            tracer_builder: SdkTracerProvider::builder(),
            meter_builder: SdkMeterProvider::builder(),
            emf: None,
            redactor: Redactor::default(),
            rates: CostRates::default(),
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
            flush_after_invocation: true,
            processors: Vec::new(),
        }
    }
}

impl TelemetryBuilder {
    /// Sets the resource every span and metric carries.
    #[must_use]
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Adds a span processor. Redaction runs before a span reaches it.
    #[must_use]
    pub fn span_processor<P: SpanProcessor + 'static>(mut self, processor: P) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Adds a span exporter behind a processor that exports each span as it ends, for tests
    /// and for a collector on the same host.
    #[must_use]
    pub fn simple_exporter<E>(self, exporter: E) -> Self
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        self.span_processor(opentelemetry_sdk::trace::SimpleSpanProcessor::new(exporter))
    }

    /// Adds a metric exporter for the KPI instruments, read periodically and on every flush.
    #[must_use]
    pub fn metric_exporter<E: PushMetricExporter>(mut self, exporter: E) -> Self {
        self.meter_builder = self.meter_builder.with_periodic_exporter(exporter);
        self
    }

    /// Writes KPI values as CloudWatch EMF documents to `sink` after each invocation.
    #[must_use]
    pub fn emf(mut self, sink: EmfSink) -> Self {
        self.emf = Some(sink);
        self
    }

    /// Sets the redaction rules (default: on, with the built-in sensitive keys).
    #[must_use]
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Sets the prices used for the per-invocation cost estimate.
    #[must_use]
    pub fn cost_rates(mut self, rates: CostRates) -> Self {
        self.rates = rates;
        self
    }

    /// Sets how long before the deadline telemetry is flushed for a handler still running.
    #[must_use]
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// Sets whether telemetry is flushed when each invocation ends (default: yes, because
    /// Lambda freezes the process once the handler returns).
    #[must_use]
    pub fn flush_after_invocation(mut self, flush: bool) -> Self {
        self.flush_after_invocation = flush;
        self
    }

    /// Builds the pipeline.
    #[must_use]
    pub fn build(self) -> Telemetry {
        let resource = self.resource.unwrap_or_else(|| Resource::builder().build());
        let mut tracer_builder = self.tracer_builder.with_resource(resource.clone());
        for processor in self.processors {
            tracer_builder = tracer_builder.with_span_processor(RedactingProcessor {
                inner: processor,
                redactor: self.redactor.clone(),
            });
        }
        let tracer_provider = tracer_builder.build();
        let tracer = tracer_provider.tracer_with_scope(
            opentelemetry::InstrumentationScope::builder(SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        let tracing_tracer = tracer_provider.tracer_with_scope(
            opentelemetry::InstrumentationScope::builder(TRACING_SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        let meter_provider = self.meter_builder.with_resource(resource).build();
        let kpis = KpiRegistry::new(&meter_provider);
        Telemetry {
            inner: Arc::new(Inner {
                tracer_provider,
                tracer,
                tracing_tracer,
                meter_provider,
                kpis,
                emf: self.emf,
                redactor: self.redactor,
                rates: self.rates,
                deadline_margin: self.deadline_margin,
                flush_after_invocation: self.flush_after_invocation,
            }),
        }
    }
}

/// Builds the resource attributes of a Lambda function, following the OpenTelemetry FaaS and cloud
/// conventions. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` override them.
#[must_use]
pub fn function_resource(function: &FunctionConfig, init_type: InitType) -> Resource {
    let defaults = [
        KeyValue::new(semconv::SERVICE_NAME, function.name.to_string()),
        KeyValue::new(semconv::CLOUD_PROVIDER, "aws"),
        KeyValue::new(semconv::CLOUD_PLATFORM, "aws_lambda"),
        KeyValue::new(semconv::CLOUD_REGION, function.region.to_string()),
        KeyValue::new(semconv::FAAS_NAME, function.name.to_string()),
        KeyValue::new(semconv::FAAS_VERSION, function.version.to_string()),
        KeyValue::new(semconv::FAAS_INSTANCE, function.log_stream.to_string()),
        KeyValue::new(semconv::FAAS_MAX_MEMORY, function.memory_bytes()),
        KeyValue::new(semconv::HOST_ARCH, host_arch(function)),
        KeyValue::new("aws.log.group.names", function.log_group.to_string()),
        KeyValue::new("aws.lambda.initialization_type", init_type.as_str()),
    ];

    // The builder's detectors read OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; they are
    // applied after the defaults so that the user's values win.
    let from_env = Resource::builder().build();
    let mut builder = Resource::builder_empty().with_attributes(defaults);
    for (key, value) in &from_env {
        if key.as_str() == semconv::SERVICE_NAME && env::var("OTEL_SERVICE_NAME").is_err() {
            let default_name = value.as_str().starts_with("unknown_service");
            if default_name {
                continue;
            }
        }
        builder = builder.with_attribute(KeyValue::new(key.clone(), value.clone()));
    }
    builder.build()
}

fn host_arch(function: &FunctionConfig) -> &'static str {
    match function.architecture {
        crate::Architecture::X86_64 => "amd64",
        crate::Architecture::Arm64 => "arm64",
    }
}

fn env_flag(variable: &str) -> bool {
    env::var(variable).is_ok_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
}

fn exporter_enabled(variable: &'static str) -> Result<bool, SetupError> {
    match env::var(variable).as_deref() {
        Err(_) | Ok("" | "otlp") => Ok(true),
        Ok("none") => Ok(false),
        Ok(other) => Err(SetupError::UnsupportedValue {
            variable,
            value: other.to_owned(),
            expected: "`otlp`, `none`",
        }),
    }
}

enum Transport {
    HttpProtobuf,
    #[cfg(feature = "grpc")]
    Grpc,
}

fn transport(signal_variable: &'static str) -> Result<Transport, SetupError> {
    let (variable, value) = match env::var(signal_variable) {
        Ok(value) => (signal_variable, value),
        Err(_) => (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            env::var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_default(),
        ),
    };
    match value.as_str() {
        "" | "http/protobuf" => Ok(Transport::HttpProtobuf),
        #[cfg(feature = "grpc")]
        "grpc" => Ok(Transport::Grpc),
        _ => Err(SetupError::UnsupportedValue {
            variable,
            value,
            expected: if cfg!(feature = "grpc") {
                "`http/protobuf`, `grpc`"
            } else {
                "`http/protobuf` (enable the `grpc` feature for `grpc`)"
            },
        }),
    }
}

fn otlp_span_exporter() -> Result<opentelemetry_otlp::SpanExporter, SetupError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let built = match transport("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")? {
        Transport::HttpProtobuf => builder
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build(),
        #[cfg(feature = "grpc")]
        Transport::Grpc => builder.with_tonic().build(),
    };
    built.map_err(|source| SetupError::Exporter {
        signal: "traces",
        source,
    })
}

fn otlp_metric_exporter() -> Result<opentelemetry_otlp::MetricExporter, SetupError> {
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::metrics::Temporality;
    let temporality = if env::var("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE").is_ok() {
        None
    } else {
        Some(Temporality::Delta)
    };
    let builder = opentelemetry_otlp::MetricExporter::builder();
    let built = match transport("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")? {
        Transport::HttpProtobuf => {
            let builder = builder
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
            match temporality {
                Some(temporality) => builder.with_temporality(temporality).build(),
                None => builder.build(),
            }
        }
        #[cfg(feature = "grpc")]
        Transport::Grpc => {
            let builder = builder.with_tonic();
            match temporality {
                Some(temporality) => builder.with_temporality(temporality).build(),
                None => builder.build(),
            }
        }
    };
    built.map_err(|source| SetupError::Exporter {
        signal: "metrics",
        source,
    })
}

/// Moves a span that `tracing-opentelemetry` timed with the system clock onto the clock of
/// the current environment. The offset between the two clocks is read when the span ends,
/// and a simulated clock advances with real time, so the offset held through the span.
fn move_to_environment_clock(span: &mut SpanData) {
    let environment = Environment::current();
    let clock = environment.clock();
    if clock.is_system() {
        return;
    }
    let simulated = clock.now();
    let real = std::time::SystemTime::now();
    let shift = |time: std::time::SystemTime| match simulated.duration_since(real) {
        Ok(ahead) => time + ahead,
        Err(behind) => time - behind.duration(),
    };
    span.start_time = shift(span.start_time);
    span.end_time = shift(span.end_time);
    for event in &mut span.events.events {
        event.timestamp = shift(event.timestamp);
    }
}

/// Redacts span and event attributes before the wrapped processor exports them.
#[derive(Debug)]
struct RedactingProcessor {
    inner: Box<dyn SpanProcessor>,
    redactor: Redactor,
}

impl SpanProcessor for RedactingProcessor {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if span.instrumentation_scope.name() == TRACING_SCOPE_NAME {
            move_to_environment_clock(&mut span);
        }
        if self.redactor.is_enabled() {
            for attribute in &mut span.attributes {
                self.redactor.redact_attribute(attribute);
            }
            for event in &mut span.events.events {
                for attribute in &mut event.attributes {
                    self.redactor.redact_attribute(attribute);
                }
            }
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
