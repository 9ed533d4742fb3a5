//! createOrder: validates an order request, stores it once per idempotency key and sends
//! `order.created`.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::HeaderValue;
use http::header::{CONTENT_TYPE, LOCATION};
use lambda_runtime::{Context, Error};
use serde_json::json;

use super::error_chain;
use crate::bus::{self, BusError};
use crate::model::{ORDER_CREATED, OrderCreated, TaggedOrderCreated, cents_to_usd};
use crate::service::OrderService;
use crate::store::{CreateOutcome, StoreError};
use crate::validate::{self, RequestError};

/// Handles `POST /orders`.
///
/// | status | when | body |
/// | --- | --- | --- |
/// | 201 | the order was created | `orderId` |
/// | 400 | `x-idempotency-key` is missing, or the body is not a JSON object | `message` |
/// | 409 | the idempotency key was used before | `message`, `orderId` of the first order |
/// | 422 | a field is missing or invalid | `message`, `field` |
/// | 500 | the database or the bus failed | a generic `message` and the `requestId` |
///
/// The handler returns `Err` only when it runs outside [`OrderService::scope`].
#[spanbill::handler(
    name = "createOrder",
    trigger = "http",
    kpi(
        counter = "orders.created",
        unit = "{order}",
        description = "Orders accepted"
    ),
    kpi(
        histogram = "order.value",
        unit = "USD",
        description = "Total of each accepted order"
    )
)]
pub async fn create_order(
    event: ApiGatewayV2httpRequest,
    context: Context,
) -> Result<ApiGatewayV2httpResponse, Error> {
    let service = OrderService::current("createOrder")?;
    let response = match create(&service, &event).await {
        Ok(created) => {
            spanbill::kpi::add("orders.created", 1);
            spanbill::kpi::record("order.value", cents_to_usd(created.total_cents));
            tracing::info!(
                order_id = created.order_id.as_str(),
                total_cents = created.total_cents,
                "order created"
            );
            let mut response = json_response(201, &json!({ "orderId": created.order_id }));
            if let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", created.order_id)) {
                response.headers.insert(LOCATION, location);
            }
            response
        }
        Err(CreateError::Request(RequestError::BadRequest(message))) => {
            json_response(400, &json!({ "message": message }))
        }
        Err(CreateError::Request(RequestError::Invalid { field, message })) => {
            json_response(422, &json!({ "message": message, "field": field }))
        }
        Err(CreateError::Duplicate { order_id }) => json_response(
            409,
            &json!({
                "message": "an order with this idempotency key already exists",
                "orderId": order_id,
            }),
        ),
        Err(CreateError::Internal(error)) => {
            tracing::error!(request_id = context.request_id.as_str(), error = %error_chain(&error), "createOrder failed");
            json_response(
                500,
                &json!({
                    "message": "internal error: retry with the same idempotency key",
                    "requestId": context.request_id,
                }),
            )
        }
    };
    Ok(response)
}

struct Created {
    order_id: String,
    total_cents: i64,
}

enum CreateError {
    Request(RequestError),
    Duplicate { order_id: String },
    Internal(InternalError),
}

#[derive(Debug, thiserror::Error)]
enum InternalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to send `order.created` for order `{order_id}`")]
    Publish {
        order_id: String,
        #[source]
        source: BusError,
    },
}

impl From<RequestError> for CreateError {
    fn from(error: RequestError) -> Self {
        Self::Request(error)
    }
}

impl From<StoreError> for CreateError {
    fn from(error: StoreError) -> Self {
        Self::Internal(InternalError::Store(error))
    }
}

async fn create(
    service: &OrderService,
    event: &ApiGatewayV2httpRequest,
) -> Result<Created, CreateError> {
    let key = validate::idempotency_key(&event.headers)?;
    let body = validate::body_text(event.body.as_deref(), event.is_base64_encoded)?;
    let order = validate::parse_order(&body)?;

    let new_id = uuid::Uuid::new_v4().to_string();
    match service.store().create_order(&key, &new_id, &order).await? {
        CreateOutcome::Created { order_id } => {
            let message = OrderCreated {
                order_id: order_id.clone(),
                user_id: order.user_id,
                items: order.items,
                total_cents: order.total_cents,
            };
            send_order_created(service, &message).await?;
            Ok(Created {
                order_id,
                total_cents: order.total_cents,
            })
        }
        CreateOutcome::Duplicate { order_id } => {
            resend_if_failed(service, &order_id).await?;
            Err(CreateError::Duplicate { order_id })
        }
    }
}

/// Sends `order.created` and records whether it went out, so that a retry of a request
/// whose send failed sends it again.
async fn send_order_created(
    service: &OrderService,
    message: &OrderCreated,
) -> Result<(), CreateError> {
    let body = serde_json::to_string(&TaggedOrderCreated {
        event_type: ORDER_CREATED,
        order: message,
    })
    .expect("order messages always serialize");
    let store = service.store();
    match bus::publish(service.bus(), &service.queues().orders, ORDER_CREATED, body).await {
        Ok(message_id) => {
            tracing::debug!(
                order_id = message.order_id.as_str(),
                message_id,
                "order.created sent"
            );
            store.mark_published(&message.order_id).await?;
            Ok(())
        }
        Err(source) => {
            if let Err(error) = store.mark_publish_failed(&message.order_id).await {
                tracing::error!(
                    order_id = message.order_id.as_str(),
                    error = %error_chain(&error),
                    "failed to record the failed send of order.created; it will not be sent again"
                );
            }
            Err(CreateError::Internal(InternalError::Publish {
                order_id: message.order_id.clone(),
                source,
            }))
        }
    }
}

/// Sends `order.created` again for an order whose first send failed. Only one of several
/// concurrent duplicate requests wins the claim and sends it.
async fn resend_if_failed(service: &OrderService, order_id: &str) -> Result<(), CreateError> {
    let store = service.store();
    if !store.claim_republish(order_id).await? {
        return Ok(());
    }
    let Some(order) = store.order(order_id).await? else {
        return Ok(());
    };
    tracing::info!(
        order_id,
        "sending order.created again after an earlier failure"
    );
    let message = OrderCreated {
        order_id: order.id,
        user_id: order.user_id,
        items: order.items,
        total_cents: order.total_cents,
    };
    send_order_created(service, &message).await
}

fn json_response(status: i64, body: &serde_json::Value) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = status;
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(body.to_string()));
    response
}
