//! The runtime behind `#[spanbill::handler]`: one span per invocation, cold-start marking,
//! outcome recording, EMF output and the flush before Lambda freezes the process.

use std::any::Any;
use std::borrow::Cow;
use std::fmt::Display;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::deadline::watchdog;
use crate::environment::{ColdStart, Environment};
use crate::event::{EventInfo, ResponseInfo, Trigger};
use crate::keys;
use crate::kpi::{CURRENT_INVOCATION, InvocationKpis, KpiSpec};
use crate::propagation;
use crate::telemetry::Telemetry;

/// Attribute with the estimated cost of the invocation in USD.
pub const COST_ATTRIBUTE: &str = "spanbill.cost.usd";
/// Attribute that names the source of [`COST_ATTRIBUTE`]: `estimate` on invocation spans.
pub const COST_SOURCE_ATTRIBUTE: &str = "spanbill.cost.source";

/// The declarations of a handler attribute.
#[derive(Debug)]
pub struct HandlerMeta {
    /// Span name given in the attribute; the function name otherwise.
    pub span_name: Option<&'static str>,
    /// Trigger given in the attribute; inferred from the event otherwise.
    pub trigger: Option<Trigger>,
    /// Declared KPIs.
    pub kpis: &'static [KpiSpec],
}

/// The end of an invocation, as the span records it.
#[derive(Debug, Default)]
pub struct Outcome {
    response: ResponseInfo,
    exception: Option<(String, String)>,
}

impl Outcome {
    /// Creates the outcome of a successful result described by `response`.
    #[must_use]
    pub fn success(response: ResponseInfo) -> Self {
        Self {
            response,
            exception: None,
        }
    }

    /// An error returned by the handler.
    #[must_use]
    pub fn error(error_type: &str, message: String) -> Self {
        Self {
            response: ResponseInfo::default(),
            exception: Some((short_type_name(error_type), message)),
        }
    }

    fn panic(payload: &(dyn Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned());
        Self {
            response: ResponseInfo::default(),
            exception: Some(("panic".to_owned(), message)),
        }
    }
}

fn short_type_name(name: &str) -> String {
    // `core::fmt::Error` reads better as `Error`, but generic arguments stay whole.
    let base = name.split('<').next().unwrap_or(name);
    let short = base.rsplit("::").next().unwrap_or(base);
    format!("{short}{}", &name[base.len()..])
}

/// One running invocation.
#[derive(Debug)]
pub struct Invocation {
    cx: Context,
    environment: Arc<Environment>,
    telemetry: Telemetry,
    started_at: SystemTime,
    deadline: Option<SystemTime>,
    span_name: Cow<'static, str>,
}

impl Invocation {
    /// Opens the invocation span for `context` and the event described by `event`.
    #[must_use]
    pub fn start(
        meta: &'static HandlerMeta,
        context: &lambda_runtime::Context,
        event: EventInfo,
    ) -> Self {
        let environment = Environment::current();
        let telemetry = Telemetry::for_environment(&environment);
        telemetry.kpis().declare(meta.kpis);

        let now = environment.clock().now();
        let cold = environment.take_cold_start(now);
        let function = environment.function();
        let span_name: Cow<'static, str> = meta
            .span_name
            .map_or_else(|| Cow::Owned(function.name.to_string()), Cow::Borrowed);
        let trigger = meta.trigger.unwrap_or(event.trigger);
        let EventInfo {
            kind,
            attributes: event_attributes,
            parent,
            mut links,
            ..
        } = event;

        // Room for up to 8 attributes set here, 2 cost attributes and 2 from the response, so
        // the span's vector is not grown when the invocation ends.
        let mut attributes = Vec::with_capacity(event_attributes.len() + 12);
        attributes.push(KeyValue::new(
            keys::FAAS_INVOCATION_ID,
            context.request_id.clone(),
        ));
        attributes.push(KeyValue::new(keys::FAAS_TRIGGER, trigger.as_str()));
        attributes.push(KeyValue::new(keys::FAAS_COLDSTART, cold.cold));
        attributes.push(KeyValue::new(
            keys::FAAS_MAX_MEMORY,
            function.memory_bytes(),
        ));
        if let Some((arn, account)) = environment.invoked_arn(&context.invoked_function_arn) {
            attributes.push(KeyValue::new(keys::CLOUD_RESOURCE_ID, arn.clone()));
            attributes.push(KeyValue::new(keys::AWS_LAMBDA_INVOKED_ARN, arn));
            if let Some(account) = account {
                attributes.push(KeyValue::new(keys::CLOUD_ACCOUNT_ID, account));
            }
        }
        if cold.proactive {
            attributes.push(KeyValue::new(keys::SPANBILL_PROACTIVE_INITIALIZATION, true));
        }
        attributes.extend(event_attributes);

        // Without a parent in the event, a sampled X-Ray header continues the X-Ray trace, so
        // spans join the platform's REPORT lines by trace id. An unsampled one is only
        // linked, because a parent-based sampler would drop every span under it.
        let mut parent = parent;
        if parent.is_none()
            && let Some(xray) = context
                .xray_trace_id
                .as_deref()
                .and_then(propagation::parse_xray_header)
        {
            if xray.is_sampled() {
                parent = Some(xray);
            } else {
                links.push(Link::with_context(xray));
            }
        }
        let parent_cx = parent.map_or_else(Context::new, |remote| {
            Context::new().with_remote_span_context(remote)
        });

        let span_kind = if trigger == Trigger::Http {
            SpanKind::Server
        } else {
            kind
        };
        let mut builder = SpanBuilder::from_name(span_name.clone())
            .with_kind(span_kind)
            .with_start_time(now);
        // Set directly, because `with_attributes` collects into a new vector.
        builder.attributes = Some(attributes);
        if !links.is_empty() {
            builder.links = Some(links);
        }
        let span = telemetry.tracer().build_with_context(builder, &parent_cx);
        let cx = parent_cx.with_span(span);
        record_init_phase(&telemetry, &cx, &span_name, cold);

        let deadline =
            (context.deadline > 0).then(|| UNIX_EPOCH + Duration::from_millis(context.deadline));
        Self {
            cx,
            environment,
            telemetry,
            started_at: now,
            deadline,
            span_name,
        }
    }

    /// Returns the OpenTelemetry context that contains the invocation span.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Runs the handler's future inside the invocation span and records how it ended.
    ///
    /// `describe` turns the handler's output into an [`Outcome`]. A panic is recorded and
    /// then resumed. The result is returned unchanged.
    ///
    /// The whole invocation state lives in one allocation, so the future the caller keeps
    /// and moves is a pointer whatever the size of the event and the handler's state.
    pub fn run<F, R, D>(self, future: F, describe: D) -> Pin<Box<impl Future<Output = R>>>
    where
        F: Future<Output = R>,
        D: FnOnce(&R) -> Outcome,
    {
        Box::pin(self.run_in_place(future, describe))
    }

    async fn run_in_place<F, R, D>(self, future: F, describe: D) -> R
    where
        F: Future<Output = R>,
        D: FnOnce(&R) -> Outcome,
    {
        // KPI values are kept per invocation only for EMF output. Without it, KPIs go straight
        // to the meter of the environment so the invocation allocates nothing for them.
        let kpis = self.telemetry.emf().map(|_| {
            Arc::new(InvocationKpis {
                telemetry: self.telemetry.clone(),
                values: Mutex::new(Vec::new()),
            })
        });
        let ticket = self
            .flush_at()
            .map(|flush_at| watchdog().watch(self.deadline_flush(), flush_at));
        // Built in place, so the handler's future is not moved again before it is polled.
        let result = Scoped {
            cx: self.cx.clone(),
            kpis: kpis.clone(),
            future,
        }
        .await;
        let flushed_early = match ticket {
            Some(ticket) => watchdog().release(ticket).await,
            None => false,
        };

        match result {
            Ok(output) => {
                self.finish(describe(&output), kpis.as_deref(), flushed_early)
                    .await;
                output
            }
            Err(payload) => {
                self.finish(
                    Outcome::panic(payload.as_ref()),
                    kpis.as_deref(),
                    flushed_early,
                )
                .await;
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Returns the system time at which to flush a handler still running near its deadline.
    fn flush_at(&self) -> Option<SystemTime> {
        let deadline = self.deadline?;
        let clock = self.environment.clock();
        // The watchdog runs on system time; a deadline on another clock keeps its distance.
        let deadline = if clock.is_system() {
            deadline
        } else {
            let remaining = deadline.duration_since(clock.now()).unwrap_or_default();
            SystemTime::now() + remaining
        };
        Some(
            deadline
                .checked_sub(self.telemetry.deadline_margin())
                .unwrap_or(UNIX_EPOCH),
        )
    }

    /// Returns what the watchdog needs to end the span and flush before the deadline.
    fn deadline_flush(&self) -> DeadlineFlush {
        DeadlineFlush {
            cx: self.cx.clone(),
            environment: Arc::clone(&self.environment),
            telemetry: self.telemetry.clone(),
            started_at: self.started_at,
            deadline: self.deadline,
        }
    }

    async fn finish(&self, outcome: Outcome, kpis: Option<&InvocationKpis>, flushed_early: bool) {
        let now = self.environment.clock().now();
        if flushed_early {
            // The invocation span is already exported. The outcome goes into a child span, so
            // a handler that finishes before the deadline after all still reports its result.
            let builder = SpanBuilder::from_name(format!("{} completion", self.span_name))
                .with_kind(SpanKind::Internal)
                .with_start_time(now);
            let span = self
                .telemetry
                .tracer()
                .build_with_context(builder, &self.cx);
            let cx = self.cx.with_span(span);
            record_outcome(&cx, outcome, []);
            cx.span().end_with_timestamp(now);
        } else {
            let cost = cost_attributes(&self.environment, &self.telemetry, self.started_at, now);
            record_outcome(&self.cx, outcome, cost);
            self.cx.span().end_with_timestamp(now);
        }

        if let (Some(sink), Some(kpis)) = (self.telemetry.emf(), kpis) {
            let values =
                std::mem::take(&mut *kpis.values.lock().unwrap_or_else(PoisonError::into_inner));
            if let Err(error) = sink.write(&values, now) {
                tracing::warn!(%error, "failed to write EMF metrics");
            }
        }
        if self.telemetry.flush_after_invocation() {
            self.telemetry.flush().await;
        }
    }
}

/// The deadline flush of one invocation, run by the watchdog on its own thread.
#[derive(Debug, Clone)]
pub(crate) struct DeadlineFlush {
    cx: Context,
    environment: Arc<Environment>,
    telemetry: Telemetry,
    started_at: SystemTime,
    deadline: Option<SystemTime>,
}

impl DeadlineFlush {
    /// Marks the span as timed out, ends it and exports it, blocking the calling thread.
    pub(crate) fn run(self) {
        let now = self.environment.clock().now();
        let remaining = self
            .deadline
            .and_then(|deadline| deadline.duration_since(now).ok())
            .unwrap_or_default();
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(keys::SPANBILL_DEADLINE_FLUSH, true));
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, "timeout"));
        span.set_status(Status::error(format!(
            "invocation still running {} ms before its deadline",
            remaining.as_millis()
        )));
        span.set_attributes(cost_attributes(
            &self.environment,
            &self.telemetry,
            self.started_at,
            now,
        ));
        span.end_with_timestamp(now);
        if let Err(error) = self.telemetry.flush_blocking() {
            tracing::warn!(%error, "telemetry flush failed");
        }
    }
}

pin_project_lite::pin_project! {
    /// The handler's future, polled with the invocation span as the current OpenTelemetry
    /// context and the invocation's KPI values as the task-local target, with a panic caught
    /// as `Err`. One wrapper in place of three combinators, so the future is moved once.
    struct Scoped<F> {
        cx: Context,
        kpis: Option<Arc<InvocationKpis>>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, task: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.cx.clone().attach();
        let future = this.future;
        CURRENT_INVOCATION.sync_scope(this.kpis.clone(), || {
            match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(task))) {
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(payload)),
            }
        })
    }
}

fn cost_attributes(
    environment: &Environment,
    telemetry: &Telemetry,
    started_at: SystemTime,
    now: SystemTime,
) -> [KeyValue; 2] {
    let function = environment.function();
    let duration = now.duration_since(started_at).unwrap_or_default();
    let cost = telemetry
        .rates()
        .estimate(duration, function.memory_mb, function.architecture);
    [
        KeyValue::new(keys::SPANBILL_COST_USD, cost),
        KeyValue::new(keys::SPANBILL_COST_SOURCE, "estimate"),
    ]
}

fn record_outcome<const N: usize>(cx: &Context, outcome: Outcome, extra: [KeyValue; N]) {
    let span = cx.span();
    span.set_attributes(outcome.response.attributes.into_iter().chain(extra));
    if let Some((error_type, message)) = outcome.exception {
        span.add_event(
            "exception",
            vec![
                KeyValue::new(semconv::EXCEPTION_TYPE, error_type.clone()),
                KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone()),
            ],
        );
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        span.set_status(Status::error(message));
    } else if let Some(message) = outcome.response.error {
        span.set_status(Status::error(message));
    } else {
        span.set_status(Status::Ok);
    }
}

/// Records the init phase of a cold start as a child span that starts before its parent,
/// as X-Ray's `Initialization` subsegment does.
fn record_init_phase(telemetry: &Telemetry, cx: &Context, span_name: &str, cold: ColdStart) {
    let Some((started, ready)) = cold.init_phase else {
        return;
    };
    let builder = SpanBuilder::from_name(format!("{span_name} init"))
        .with_kind(SpanKind::Internal)
        .with_start_time(started)
        .with_attributes([KeyValue::new(keys::SPANBILL_PHASE, "init")]);
    let span = telemetry.tracer().build_with_context(builder, cx);
    let init_cx = cx.with_span(span);
    init_cx.span().end_with_timestamp(ready);
}

/// Describes a handler error that implements [`Display`].
pub fn display_error<E: Display + ?Sized>(error: &E) -> Outcome {
    Outcome::error(std::any::type_name::<E>(), error.to_string())
}

/// Returns the span context of the current invocation, if the caller runs inside one.
#[must_use]
pub fn current_span_context() -> Option<SpanContext> {
    let cx = Context::current();
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}
