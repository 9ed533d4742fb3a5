//! Orders and their idempotency keys.

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{Store, StoreError, now_ms, sqlite};
use crate::model::{NewOrder, OrderItem};

/// The life-cycle status of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Accepted, not charged yet.
    Created,
    /// Charged.
    Paid,
    /// The charge was declined.
    PaymentFailed,
    /// Charged and taken out of stock.
    Fulfilled,
    /// Charged, but some items were out of stock.
    StockOut,
}

impl OrderStatus {
    /// Returns the value stored in the `status` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Paid => "paid",
            Self::PaymentFailed => "payment_failed",
            Self::Fulfilled => "fulfilled",
            Self::StockOut => "stock_out",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Paid,
            Self::PaymentFailed,
            Self::Fulfilled,
            Self::StockOut,
        ]
        .into_iter()
        .find(|status| status.as_str() == value)
    }
}

/// Whether the `order.created` message of an order reached the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishState {
    /// Being sent, or the process stopped before it knew.
    Pending,
    /// Sent.
    Published,
    /// Sending failed; the next request with the same idempotency key sends it again.
    Failed,
}

impl PublishState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Published => "published",
            Self::Failed => "failed",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Published, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == value)
    }
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    /// Order id.
    pub id: String,
    /// The customer.
    pub user_id: String,
    /// The order lines.
    pub items: Vec<OrderItem>,
    /// Total in cents.
    pub total_cents: i64,
    /// Life-cycle status.
    pub status: OrderStatus,
    /// Whether `order.created` was sent.
    pub publish_state: PublishState,
}

/// The result of [`Store::create_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The key was new and the order was stored under `order_id`.
    Created {
        /// The new order's id.
        order_id: String,
    },
    /// The key was already used; `order_id` is the order it created.
    Duplicate {
        /// The existing order's id.
        order_id: String,
    },
}

impl Store {
    /// Stores `order` under `order_id` unless `idempotency_key` was used before.
    ///
    /// The key row is written first, in the same immediate transaction as the order, so the
    /// key's primary key decides which of several concurrent requests creates the order.
    pub async fn create_order(
        &self,
        idempotency_key: &str,
        order_id: &str,
        order: &NewOrder,
    ) -> Result<CreateOutcome, StoreError> {
        let key = idempotency_key.to_owned();
        let order_id = order_id.to_owned();
        let user_id = order.user_id.clone();
        let total_cents = order.total_cents;
        let items = serde_json::to_string(&order.items).expect("order items always serialize");

        self.run("create order", move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("start the create-order transaction"))?;
            let now = now_ms();

            let inserted = transaction
                .execute(
                    "INSERT INTO idempotency_keys (key, order_id, created_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO NOTHING",
                    params![key, order_id, now],
                )
                .map_err(sqlite("insert idempotency key"))?;
            if inserted == 0 {
                let existing: String = transaction
                    .query_row("SELECT order_id FROM idempotency_keys WHERE key = ?1", [&key], |row| row.get(0))
                    .map_err(sqlite("read idempotency key"))?;
                return Ok(CreateOutcome::Duplicate { order_id: existing });
            }

            transaction
                .execute(
                    "INSERT INTO orders (id, user_id, items, total_cents, status, publish_state, created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        order_id,
                        user_id,
                        items,
                        total_cents,
                        OrderStatus::Created.as_str(),
                        PublishState::Pending.as_str(),
                        now
                    ],
                )
                .map_err(sqlite("insert order"))?;
            transaction.commit().map_err(sqlite("commit order"))?;
            Ok(CreateOutcome::Created { order_id })
        })
        .await
    }

    /// Reads an order by id.
    pub async fn order(&self, order_id: &str) -> Result<Option<StoredOrder>, StoreError> {
        let order_id = order_id.to_owned();
        self.run("read order", move |connection| {
            let row = connection
                .query_row(
                    "SELECT user_id, items, total_cents, status, publish_state FROM orders WHERE id = ?1",
                    [&order_id],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, String>(4)?,
                        ))
                    },
                )
                .optional()
                .map_err(sqlite("read order"))?;
            let Some((user_id, items, total_cents, status, publish_state)) = row else { return Ok(None) };

            let corrupt = |what, detail: String| StoreError::Corrupt { what, order_id: order_id.clone(), detail };
            let items = serde_json::from_str(&items).map_err(|error| corrupt("items", error.to_string()))?;
            let status = OrderStatus::parse(&status).ok_or_else(|| corrupt("status", format!("unknown `{status}`")))?;
            let publish_state = PublishState::parse(&publish_state)
                .ok_or_else(|| corrupt("publish state", format!("unknown `{publish_state}`")))?;
            Ok(Some(StoredOrder { id: order_id.clone(), user_id, items, total_cents, status, publish_state }))
        })
        .await
    }

    /// Counts stored orders.
    pub async fn order_count(&self) -> Result<u64, StoreError> {
        self.run("count orders", |connection| {
            connection
                .query_row("SELECT COUNT(*) FROM orders", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(i64::unsigned_abs)
                .map_err(sqlite("count orders"))
        })
        .await
    }

    /// Records that the order's `order.created` message was sent.
    pub async fn mark_published(&self, order_id: &str) -> Result<(), StoreError> {
        self.set_publish_state(order_id, PublishState::Published, None)
            .await
            .map(drop)
    }

    /// Records that sending the order's `order.created` message failed.
    pub async fn mark_publish_failed(&self, order_id: &str) -> Result<(), StoreError> {
        self.set_publish_state(order_id, PublishState::Failed, Some(PublishState::Pending))
            .await
            .map(drop)
    }

    /// Takes over sending the `order.created` message of an order whose first send failed.
    ///
    /// Returns true for exactly one caller per failure, so concurrent duplicate requests do
    /// not all send it again.
    pub async fn claim_republish(&self, order_id: &str) -> Result<bool, StoreError> {
        self.set_publish_state(order_id, PublishState::Pending, Some(PublishState::Failed))
            .await
    }

    /// Sets the order's status.
    pub async fn set_order_status(
        &self,
        order_id: &str,
        status: OrderStatus,
    ) -> Result<(), StoreError> {
        let order_id = order_id.to_owned();
        self.run("update order status", move |connection| {
            connection
                .execute(
                    "UPDATE orders SET status = ?1 WHERE id = ?2",
                    params![status.as_str(), order_id],
                )
                .map_err(sqlite("update order status"))?;
            Ok(())
        })
        .await
    }

    async fn set_publish_state(
        &self,
        order_id: &str,
        state: PublishState,
        only_from: Option<PublishState>,
    ) -> Result<bool, StoreError> {
        let order_id = order_id.to_owned();
        self.run("update publish state", move |connection| {
            let changed = match only_from {
                Some(from) => connection.execute(
                    "UPDATE orders SET publish_state = ?1 WHERE id = ?2 AND publish_state = ?3",
                    params![state.as_str(), order_id, from.as_str()],
                ),
                None => connection.execute(
                    "UPDATE orders SET publish_state = ?1 WHERE id = ?2",
                    params![state.as_str(), order_id],
                ),
            }
            .map_err(sqlite("update publish state"))?;
            Ok(changed == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> NewOrder {
        NewOrder {
            user_id: "u-1".to_owned(),
            items: vec![OrderItem {
                sku: "A".to_owned(),
                quantity: 1,
                unit_price_cents: 500,
            }],
            total_cents: 500,
        }
    }

    #[tokio::test]
    async fn second_use_of_key_returns_first_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orders.db")).unwrap();

        let first = store.create_order("k", "o-1", &order()).await.unwrap();
        let second = store.create_order("k", "o-2", &order()).await.unwrap();

        assert_eq!(
            first,
            CreateOutcome::Created {
                order_id: "o-1".to_owned()
            }
        );
        assert_eq!(
            second,
            CreateOutcome::Duplicate {
                order_id: "o-1".to_owned()
            }
        );
        assert_eq!(store.order_count().await.unwrap(), 1);
        assert!(store.order("o-2").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn republish_is_claimed_once_per_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orders.db")).unwrap();
        store.create_order("k", "o-1", &order()).await.unwrap();

        assert!(!store.claim_republish("o-1").await.unwrap());

        store.mark_publish_failed("o-1").await.unwrap();

        assert!(store.claim_republish("o-1").await.unwrap());
        assert!(!store.claim_republish("o-1").await.unwrap());
        assert_eq!(
            store.order("o-1").await.unwrap().unwrap().publish_state,
            PublishState::Pending
        );
    }
}
