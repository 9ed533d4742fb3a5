//! The createOrder Lambda function.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use spanbill_functions::{config, handlers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = spanbill::Telemetry::init()?;
    let service = Arc::new(config::service_from_env().await?);
    spanbill::Environment::global().mark_ready();

    let result = lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
        // Boxed because instrumented handler futures are large (clippy::large_futures).
        Box::pin(Arc::clone(&service).scope(handlers::create_order(event.payload, event.context)))
    }))
    .await;

    if let Err(error) = telemetry.shutdown() {
        tracing::warn!(%error, "telemetry shutdown failed");
    }
    result
}
