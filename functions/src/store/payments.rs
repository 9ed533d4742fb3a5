//! The outcome of each order's charge, recorded once.

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{OrderStatus, Store, StoreError, now_ms, sqlite};

/// The outcome of an order's charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The gateway charged the order under `charge_id`.
    Succeeded {
        /// The gateway's id for the charge.
        charge_id: String,
    },
    /// The gateway declined the charge for `reason`.
    Failed {
        /// The gateway's reason.
        reason: String,
    },
}

/// A recorded charge outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The order.
    pub order_id: String,
    /// The charged or declined amount in cents.
    pub amount_cents: i64,
    /// The outcome.
    pub status: PaymentStatus,
}

impl Store {
    /// Reads the recorded charge outcome of an order.
    pub async fn payment(&self, order_id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        let order_id = order_id.to_owned();
        self.run("read payment", move |connection| {
            read_payment(connection, &order_id)
        })
        .await
    }

    /// Records the charge outcome of an order and updates the order's status, unless an
    /// outcome is already recorded. Returns the outcome that is stored afterwards, which is
    /// the earlier one for a repeated call.
    pub async fn record_payment(
        &self,
        record: &PaymentRecord,
    ) -> Result<PaymentRecord, StoreError> {
        let record = record.clone();
        self.run("record payment", move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("start the payment transaction"))?;
            let (status, charge_id, reason, order_status) = match &record.status {
                PaymentStatus::Succeeded { charge_id } => {
                    ("succeeded", Some(charge_id.as_str()), None, OrderStatus::Paid)
                }
                PaymentStatus::Failed { reason } => ("failed", None, Some(reason.as_str()), OrderStatus::PaymentFailed),
            };

            let inserted = transaction
                .execute(
                    "INSERT INTO payments (order_id, status, charge_id, reason, amount_cents, recorded_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (order_id) DO NOTHING",
                    params![record.order_id, status, charge_id, reason, record.amount_cents, now_ms()],
                )
                .map_err(sqlite("insert payment"))?;
            if inserted == 0 {
                return read_payment(&transaction, &record.order_id)?.ok_or_else(|| StoreError::Corrupt {
                    what: "payment",
                    order_id: record.order_id.clone(),
                    detail: "the insert conflicted but no outcome is recorded".to_owned(),
                });
            }

            transaction
                .execute("UPDATE orders SET status = ?1 WHERE id = ?2", params![order_status.as_str(), record.order_id])
                .map_err(sqlite("update order status"))?;
            transaction.commit().map_err(sqlite("commit payment"))?;
            Ok(record)
        })
        .await
    }
}

fn read_payment(
    connection: &Connection,
    order_id: &str,
) -> Result<Option<PaymentRecord>, StoreError> {
    let row = connection
        .query_row(
            "SELECT status, charge_id, reason, amount_cents FROM payments WHERE order_id = ?1",
            [order_id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()
        .map_err(sqlite("read payment"))?;
    let Some((status, charge_id, reason, amount_cents)) = row else {
        return Ok(None);
    };

    let status = match (status.as_str(), charge_id) {
        ("succeeded", Some(charge_id)) => PaymentStatus::Succeeded { charge_id },
        ("failed", _) => PaymentStatus::Failed {
            reason: reason.unwrap_or_default(),
        },
        (other, _) => {
            return Err(StoreError::Corrupt {
                what: "payment",
                order_id: order_id.to_owned(),
                detail: format!("status `{other}` without a charge id"),
            });
        }
    };
    Ok(Some(PaymentRecord {
        order_id: order_id.to_owned(),
        amount_cents,
        status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_recorded_outcome_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orders.db")).unwrap();
        let succeeded = PaymentRecord {
            order_id: "o-1".to_owned(),
            amount_cents: 500,
            status: PaymentStatus::Succeeded {
                charge_id: "ch-1".to_owned(),
            },
        };
        let failed = PaymentRecord {
            status: PaymentStatus::Failed {
                reason: "card_declined".to_owned(),
            },
            ..succeeded.clone()
        };

        assert_eq!(store.record_payment(&succeeded).await.unwrap(), succeeded);
        assert_eq!(store.record_payment(&failed).await.unwrap(), succeeded);
        assert_eq!(store.payment("o-1").await.unwrap(), Some(succeeded));
    }
}
