//! The handlePayment Lambda function.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use spanbill_functions::{config, handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = spanbill::Telemetry::init()?;
    let service = Arc::new(config::service_from_env().await?);
    spanbill::Environment::global().mark_ready();

    let result = lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        // Boxed because instrumented handler futures are large (clippy::large_futures).
        Box::pin(Arc::clone(&service).scope(handlers::handle_payment(event.payload, event.context)))
    }))
    .await;

    if let Err(error) = telemetry.shutdown() {
        tracing::warn!(%error, "telemetry shutdown failed");
    }
    result
}
