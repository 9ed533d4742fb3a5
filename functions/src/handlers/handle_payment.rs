//! handlePayment: charges each order from `order.created` and sends `payment.succeeded` or
//! `payment.failed`.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, Error};
use opentelemetry::KeyValue;

use super::{MessageError, parse_body, process_batch};
use crate::bus;
use crate::model::{ORDER_CREATED, OrderCreated, PaymentEvent, TaggedOrderCreated, cents_to_usd};
use crate::payment::{ChargeRequest, PaymentError};
use crate::release;
use crate::service::OrderService;
use crate::store::{PaymentRecord, PaymentStatus};

/// Handles a batch from the orders queue.
///
/// A charge or a decline is recorded once per order and announced on the payments queue. A
/// message whose charge could not be attempted or completed (timeouts, gateway down, circuit
/// open) is reported in `batchItemFailures`, so the queue delivers it again later. A
/// redelivered message whose outcome is already recorded only sends the announcement again.
#[spanbill::handler(
    name = "handlePayment",
    trigger = "pubsub",
    kpi(
        counter = "payments.succeeded",
        unit = "{payment}",
        description = "Orders charged"
    ),
    kpi(
        counter = "payments.failed",
        unit = "{payment}",
        description = "Charges the gateway declined"
    ),
    kpi(
        counter = "payments.retried",
        unit = "{payment}",
        description = "Charges left on the queue for a retry"
    ),
    kpi(
        histogram = "payment.amount",
        unit = "USD",
        description = "Amount of each charge"
    )
)]
pub async fn handle_payment(event: SqsEvent, context: Context) -> Result<SqsBatchResponse, Error> {
    let service = OrderService::current("handlePayment")?;
    let retry_declined = release::retries_declined_payments(release::of(&context));
    process_batch(&event, |message| process(&service, message, retry_declined)).await
}

async fn process(
    service: &OrderService,
    message: &SqsMessage,
    retry_declined: bool,
) -> Result<(), MessageError> {
    let order: OrderCreated = parse_body(message)?;
    let store = service.store();

    if let Some(record) = store.payment(&order.order_id).await? {
        tracing::info!(
            order_id = order.order_id.as_str(),
            "payment already recorded; sending its outcome again"
        );
        return announce(service, &order, &record, retry_declined).await;
    }

    let request = ChargeRequest {
        order_id: order.order_id.clone(),
        amount_cents: order.total_cents,
        idempotency_key: format!("order-{}", order.order_id),
    };
    let status = match service.payments().charge(&request).await {
        Ok(outcome) => {
            spanbill::kpi::add("payments.succeeded", 1);
            spanbill::kpi::record("payment.amount", cents_to_usd(order.total_cents));
            tracing::info!(
                order_id = order.order_id.as_str(),
                charge_id = outcome.charge.charge_id.as_str(),
                attempts = outcome.attempts,
                "order charged"
            );
            PaymentStatus::Succeeded {
                charge_id: outcome.charge.charge_id,
            }
        }
        Err(PaymentError::Declined { reason, .. }) => {
            spanbill::kpi::add_with(
                "payments.failed",
                1,
                &[KeyValue::new("reason", reason.clone())],
            );
            tracing::info!(
                order_id = order.order_id.as_str(),
                reason = reason.as_str(),
                "charge declined"
            );
            PaymentStatus::Failed { reason }
        }
        Err(error) => {
            spanbill::kpi::add("payments.retried", 1);
            return Err(error.into());
        }
    };

    let record = PaymentRecord {
        order_id: order.order_id.clone(),
        amount_cents: order.total_cents,
        status,
    };
    let stored = store.record_payment(&record).await?;
    announce(service, &order, &stored, retry_declined).await
}

/// Sends the `payment.succeeded` or `payment.failed` message for a recorded outcome.
///
/// With `retry_declined` (the defective release 2), a declined order goes back to the
/// orders queue instead, and loops there for as long as the outcome stays declined.
async fn announce(
    service: &OrderService,
    order: &OrderCreated,
    record: &PaymentRecord,
    retry_declined: bool,
) -> Result<(), MessageError> {
    if retry_declined && matches!(record.status, PaymentStatus::Failed { .. }) {
        let tagged = TaggedOrderCreated {
            event_type: ORDER_CREATED,
            order,
        };
        let body = serde_json::to_string(&tagged).expect("order messages always serialize");
        bus::publish(service.bus(), &service.queues().orders, ORDER_CREATED, body).await?;
        return Ok(());
    }

    let event = match &record.status {
        PaymentStatus::Succeeded { charge_id } => PaymentEvent::Succeeded {
            order_id: order.order_id.clone(),
            charge_id: charge_id.clone(),
            amount_cents: record.amount_cents,
            items: order.items.clone(),
        },
        PaymentStatus::Failed { reason } => PaymentEvent::Failed {
            order_id: order.order_id.clone(),
            reason: reason.clone(),
        },
    };
    let body = serde_json::to_string(&event).expect("payment messages always serialize");
    bus::publish(
        service.bus(),
        &service.queues().payments,
        event.event_type(),
        body,
    )
    .await?;
    Ok(())
}
