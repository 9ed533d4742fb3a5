//! Orders and the messages the functions exchange on the bus.
//!
//! Money is kept in whole cents so that totals add up exactly; requests carry prices in
//! dollars, and [`crate::validate`] converts them.

use serde::{Deserialize, Serialize};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// Stock keeping unit of the product.
    pub sku: String,
    /// Number of units, at least 1.
    pub quantity: u32,
    /// Price of one unit in cents, at least 1.
    pub unit_price_cents: i64,
}

/// A validated order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The customer who placed the order.
    pub user_id: String,
    /// The order lines, never empty.
    pub items: Vec<OrderItem>,
    /// Sum of quantity times unit price over all lines, in cents.
    pub total_cents: i64,
}

/// Converts cents to dollars for the `order.value` histogram, whose unit is USD.
#[must_use]
pub fn cents_to_usd(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Value of the `type` field and of the `eventType` message attribute of `order.created`.
pub const ORDER_CREATED: &str = "order.created";
/// Value of the `type` field and of the `eventType` message attribute of `payment.succeeded`.
pub const PAYMENT_SUCCEEDED: &str = "payment.succeeded";
/// Value of the `type` field and of the `eventType` message attribute of `payment.failed`.
pub const PAYMENT_FAILED: &str = "payment.failed";

/// The body of an `order.created` message, sent by createOrder to the orders queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    /// The new order.
    pub order_id: String,
    /// The customer who placed it.
    pub user_id: String,
    /// Its lines.
    pub items: Vec<OrderItem>,
    /// Amount to charge, in cents.
    pub total_cents: i64,
}

/// The body of a `payment.succeeded` or `payment.failed` message, sent by handlePayment to
/// the payments queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PaymentEvent {
    /// The gateway charged the order's total.
    #[serde(rename = "payment.succeeded", rename_all = "camelCase")]
    Succeeded {
        /// The paid order.
        order_id: String,
        /// The gateway's id for the charge.
        charge_id: String,
        /// The charged amount in cents.
        amount_cents: i64,
        /// The order's lines, which updateInventory takes out of stock.
        items: Vec<OrderItem>,
    },
    /// The gateway declined the charge; retrying the same request would not help.
    #[serde(rename = "payment.failed", rename_all = "camelCase")]
    Failed {
        /// The unpaid order.
        order_id: String,
        /// The gateway's reason, such as `card_declined`.
        reason: String,
    },
}

impl PaymentEvent {
    /// Returns the event type, as in the `type` field.
    #[must_use]
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Succeeded { .. } => PAYMENT_SUCCEEDED,
            Self::Failed { .. } => PAYMENT_FAILED,
        }
    }

    /// Returns the order the event is about.
    #[must_use]
    pub fn order_id(&self) -> &str {
        match self {
            Self::Succeeded { order_id, .. } | Self::Failed { order_id, .. } => order_id,
        }
    }
}

/// The body of an `order.created` message with its `type` field.
#[derive(Debug, Serialize)]
pub(crate) struct TaggedOrderCreated<'a> {
    #[serde(rename = "type")]
    pub(crate) event_type: &'static str,
    #[serde(flatten)]
    pub(crate) order: &'a OrderCreated,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_event_uses_dotted_type_names() {
        let event = PaymentEvent::Failed {
            order_id: "o-1".to_owned(),
            reason: "card_declined".to_owned(),
        };

        let json = serde_json::to_value(&event).unwrap();

        assert_eq!(json["type"], "payment.failed");
        assert_eq!(json["orderId"], "o-1");
        assert_eq!(serde_json::from_value::<PaymentEvent>(json).unwrap(), event);
    }

    #[test]
    fn order_created_body_carries_its_type() {
        let order = OrderCreated {
            order_id: "o-1".to_owned(),
            user_id: "u-1".to_owned(),
            items: vec![OrderItem {
                sku: "A".to_owned(),
                quantity: 2,
                unit_price_cents: 150,
            }],
            total_cents: 300,
        };

        let json = serde_json::to_value(TaggedOrderCreated {
            event_type: ORDER_CREATED,
            order: &order,
        })
        .unwrap();

        assert_eq!(json["type"], "order.created");
        assert_eq!(json["items"][0]["unitPriceCents"], 150);
        assert_eq!(serde_json::from_value::<OrderCreated>(json).unwrap(), order);
    }
}
