//! updateInventory: takes each paid order out of stock, once per order.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, Error};

use super::{MessageError, parse_body, process_batch};
use crate::model::PaymentEvent;
use crate::release::{self, SkuMatching};
use crate::service::OrderService;
use crate::store::InventoryOutcome;

/// Handles a batch from the payments queue.
///
/// `payment.succeeded` takes the order's items out of stock, and a redelivered message for
/// the same order changes nothing. When a product is short, no stock changes and the order
/// is marked out of stock. `stock.outs` counts the short products. The message still
/// succeeds, because retrying it would not create stock. `payment.failed` needs no stock
/// change. Only messages that could not be read or stored are reported in
/// `batchItemFailures`.
#[spanbill::handler(
    name = "updateInventory",
    trigger = "pubsub",
    kpi(
        counter = "inventory.updates",
        unit = "{order}",
        description = "Orders taken out of stock"
    ),
    kpi(
        counter = "stock.outs",
        unit = "{product}",
        description = "Products short when an order was paid"
    )
)]
pub async fn update_inventory(
    event: SqsEvent,
    context: Context,
) -> Result<SqsBatchResponse, Error> {
    let service = OrderService::current("updateInventory")?;
    let matching = SkuMatching::of_release(release::of(&context));
    process_batch(&event, |message| process(&service, message, matching)).await
}

async fn process(
    service: &OrderService,
    message: &SqsMessage,
    matching: SkuMatching,
) -> Result<(), MessageError> {
    let PaymentEvent::Succeeded {
        order_id, items, ..
    } = parse_body(message)?
    else {
        return Ok(());
    };

    match service
        .store()
        .apply_inventory(&order_id, &items, matching)
        .await?
    {
        InventoryOutcome::Applied => {
            spanbill::kpi::add("inventory.updates", 1);
            tracing::info!(order_id, "order taken out of stock");
        }
        InventoryOutcome::StockOut { shortages } => {
            spanbill::kpi::add("stock.outs", shortages.len() as u64);
            let skus: Vec<&str> = shortages
                .iter()
                .map(|shortage| shortage.sku.as_str())
                .collect();
            tracing::warn!(order_id, ?skus, "order is out of stock; no stock changed");
        }
        InventoryOutcome::AlreadyProcessed => {
            tracing::info!(
                order_id,
                "order already taken out of stock; message skipped"
            );
        }
    }
    Ok(())
}
