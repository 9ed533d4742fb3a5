//! OpenTelemetry instrumentation for AWS Lambda handlers.
//!
//! `#[spanbill::handler]` wraps an async handler so that every invocation becomes a span
//! that follows the OpenTelemetry FaaS and messaging conventions, with:
//!
//! - `faas.coldstart` true only when the request waited for the environment to initialise
//!   (on-demand first request or SnapStart restore; not under provisioned concurrency or after
//!   a proactive initialisation), and the init phase as a child span;
//! - the handler's error or panic recorded as an exception with an error status, and the
//!   result returned unchanged;
//! - business KPIs through the OpenTelemetry metrics API ([`kpi`]) and, optionally, as
//!   CloudWatch EMF lines ([`emf`]);
//! - trace context read from HTTP headers, SQS message attributes or the X-Ray header, and
//!   written by [`messaging::publish`] for the next hop;
//! - an estimated cost attribute (`spanbill.cost.usd`, marked `spanbill.cost.source =
//!   "estimate"`);
//! - redaction of card numbers, CVVs, e-mail addresses, tokens and authorization headers
//!   before attributes or logs leave the process ([`redact`]);
//! - a flush of spans and metrics before the handler returns, and also shortly before the
//!   deadline of a handler that is still running.
//!
//! ```no_run
//! use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
//! use lambda_runtime::{Context, Error};
//!
//! #[spanbill_instrumentation::handler(
//!     name = "createOrder",
//!     kpi(counter = "orders.created", unit = "{order}", description = "Orders accepted"),
//! )]
//! async fn create_order(
//!     event: ApiGatewayV2httpRequest,
//!     context: Context,
//! ) -> Result<ApiGatewayV2httpResponse, Error> {
//!     spanbill_instrumentation::kpi::add("orders.created", 1);
//!     let mut response = ApiGatewayV2httpResponse::default();
//!     response.status_code = 201;
//!     Ok(response)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let telemetry = spanbill_instrumentation::Telemetry::init()?;
//!     spanbill_instrumentation::Environment::global().mark_ready();
//!     let result = lambda_runtime::run(lambda_runtime::service_fn(
//!         |event: lambda_runtime::LambdaEvent<ApiGatewayV2httpRequest>| {
//!             create_order(event.payload, event.context)
//!         },
//!     ))
//!     .await;
//!     let _ = telemetry.shutdown();
//!     result
//! }
//! ```
//!
//! Depend on this crate under the name `spanbill` to write `#[spanbill::handler]`:
//! `spanbill = { package = "spanbill-instrumentation", version = "0.1" }`.
//!
//! The crate never installs a global subscriber or provider by itself;
//! [`Telemetry::init`] does, once, from `main`.

pub mod clock;
pub mod cost;
mod deadline;
pub mod emf;
mod environment;
pub mod event;
mod invocation;
mod keys;
pub mod kpi;
pub mod messaging;
pub mod propagation;
pub mod redact;
mod telemetry;

pub use environment::{
    Architecture, ColdStart, Environment, EnvironmentBuilder, FunctionConfig, InitType,
    PROACTIVE_INIT_THRESHOLD,
};
pub use event::Trigger;
pub use invocation::{COST_ATTRIBUTE, COST_SOURCE_ATTRIBUTE, current_span_context};
pub use spanbill_macros::handler;
pub use telemetry::{
    DEFAULT_DEADLINE_MARGIN, SCOPE_NAME, SetupError, TRACING_SCOPE_NAME, Telemetry,
    TelemetryBuilder, function_resource,
};

/// Items the `#[handler]` expansion refers to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::event::Trigger;
    pub use crate::event::{EventInfo, ResponseInfo, TriggerEvent, TriggerResponse};
    pub use crate::invocation::{HandlerMeta, Invocation, Outcome, display_error};
    pub use crate::kpi::{KpiKind, KpiSpec};
    pub use lambda_runtime::{Context, LambdaEvent};

    /// Wraps a value so that method calls on `&&Probe` pick the most specific description:
    /// the trait impl when the type has one, the generic fallback otherwise.
    #[derive(Debug)]
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// Picks [`TriggerEvent`] for event types that implement it.
    pub trait DescribeEvent {
        fn describe_event(&self) -> EventInfo;
    }
    impl<T: TriggerEvent> DescribeEvent for &Probe<'_, T> {
        fn describe_event(&self) -> EventInfo {
            self.0.describe()
        }
    }

    /// Fallback for event types without a [`TriggerEvent`] impl.
    pub trait DescribeAnyEvent {
        fn describe_event(&self) -> EventInfo;
    }
    impl<T: ?Sized> DescribeAnyEvent for Probe<'_, T> {
        fn describe_event(&self) -> EventInfo {
            EventInfo::other()
        }
    }

    /// Picks [`TriggerResponse`] for response types that implement it.
    pub trait DescribeResponse {
        fn describe_response(&self) -> ResponseInfo;
    }
    impl<T: TriggerResponse> DescribeResponse for &Probe<'_, T> {
        fn describe_response(&self) -> ResponseInfo {
            self.0.describe()
        }
    }

    /// Fallback for response types without a [`TriggerResponse`] impl.
    pub trait DescribeAnyResponse {
        fn describe_response(&self) -> ResponseInfo;
    }
    impl<T: ?Sized> DescribeAnyResponse for Probe<'_, T> {
        fn describe_response(&self) -> ResponseInfo {
            ResponseInfo::default()
        }
    }

    /// Picks the `Display` text of errors that have one.
    pub trait DescribeError {
        fn describe_error(&self) -> Outcome;
    }
    impl<T: std::fmt::Display> DescribeError for &Probe<'_, T> {
        fn describe_error(&self) -> Outcome {
            display_error(self.0)
        }
    }

    /// Fallback for errors without `Display`: the type name is the message.
    pub trait DescribeAnyError {
        fn describe_error(&self) -> Outcome;
    }
    impl<T> DescribeAnyError for Probe<'_, T> {
        fn describe_error(&self) -> Outcome {
            let name = std::any::type_name::<T>();
            Outcome::error(name, name.to_owned())
        }
    }

    /// Splits the single argument of a `LambdaEvent` handler into payload and context.
    #[diagnostic::on_unimplemented(
        message = "a handler with one argument takes `lambda_runtime::LambdaEvent<T>`, not `{Self}`",
        label = "expected `LambdaEvent<T>`",
        note = "or take two arguments: the event and `lambda_runtime::Context`"
    )]
    pub trait SplitLambdaEvent {
        type Payload;
        fn split(&self) -> (&Self::Payload, &Context);
    }
    impl<T> SplitLambdaEvent for LambdaEvent<T> {
        type Payload = T;
        fn split(&self) -> (&T, &Context) {
            (&self.payload, &self.context)
        }
    }

    /// Accepts the context argument of a two-argument handler.
    #[diagnostic::on_unimplemented(
        message = "the second argument of a handler is `lambda_runtime::Context`, not `{Self}`",
        label = "expected `lambda_runtime::Context`"
    )]
    pub trait AsLambdaContext {
        fn as_lambda_context(&self) -> &Context;
    }
    impl AsLambdaContext for Context {
        fn as_lambda_context(&self) -> &Context {
            self
        }
    }
}
