//! Stock levels and the once-per-order stock update.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::{OrderStatus, Store, StoreError, now_ms, sqlite};
use crate::model::OrderItem;
use crate::release::SkuMatching;

/// A product that had fewer units in stock than an order needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    /// The product.
    pub sku: String,
    /// Units the order needed, summed over its lines.
    pub requested: i64,
    /// Units in stock; 0 for a product the stock table does not list.
    pub available: i64,
}

/// The result of [`Store::apply_inventory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryOutcome {
    /// Every line was taken out of stock.
    Applied,
    /// Some products were short, so no stock changed.
    StockOut {
        /// The short products.
        shortages: Vec<Shortage>,
    },
    /// The order was processed before; this call changed nothing.
    AlreadyProcessed,
}

const APPLIED: &str = "applied";
const STOCK_OUT: &str = "stock_out";

impl Store {
    /// Sets the units in stock of `sku`.
    pub async fn set_stock(&self, sku: &str, quantity: i64) -> Result<(), StoreError> {
        let sku = sku.to_owned();
        self.run("set stock", move |connection| {
            connection
                .execute(
                    "INSERT INTO stock (sku, quantity) VALUES (?1, ?2)
                     ON CONFLICT (sku) DO UPDATE SET quantity = excluded.quantity",
                    params![sku, quantity],
                )
                .map_err(sqlite("set stock"))?;
            Ok(())
        })
        .await
    }

    /// Sets the units in stock of many products in one transaction.
    pub async fn set_stock_many(&self, levels: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.run("set stock", move |connection| {
            let transaction = connection
                .transaction()
                .map_err(sqlite("start the stock transaction"))?;
            {
                let mut statement = transaction
                    .prepare(
                        "INSERT INTO stock (sku, quantity) VALUES (?1, ?2)
                         ON CONFLICT (sku) DO UPDATE SET quantity = excluded.quantity",
                    )
                    .map_err(sqlite("prepare set stock"))?;
                for (sku, quantity) in &levels {
                    statement
                        .execute(params![sku, quantity])
                        .map_err(sqlite("set stock"))?;
                }
            }
            transaction.commit().map_err(sqlite("commit stock"))
        })
        .await
    }

    /// Reads the units in stock of `sku`; `None` for a product the stock table does not list.
    pub async fn stock(&self, sku: &str) -> Result<Option<i64>, StoreError> {
        let sku = sku.to_owned();
        self.run("read stock", move |connection| {
            connection
                .query_row("SELECT quantity FROM stock WHERE sku = ?1", [&sku], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(sqlite("read stock"))
        })
        .await
    }

    /// Takes an order's lines out of stock, once per order, finding products with
    /// `matching`.
    ///
    /// All lines change together or none do: when a product is short, the order is marked
    /// out of stock and stock stays as it was. The order id's primary key in
    /// `inventory_updates` makes a second call for the same order change nothing.
    pub async fn apply_inventory(
        &self,
        order_id: &str,
        items: &[OrderItem],
        matching: SkuMatching,
    ) -> Result<InventoryOutcome, StoreError> {
        let order_id = order_id.to_owned();
        let mut requested: BTreeMap<String, i64> = BTreeMap::new();
        for item in items {
            *requested.entry(item.sku.clone()).or_default() += i64::from(item.quantity);
        }

        self.run("apply inventory", move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("start the inventory transaction"))?;
            let claimed = transaction
                .execute(
                    "INSERT INTO inventory_updates (order_id, outcome, applied_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (order_id) DO NOTHING",
                    params![order_id, APPLIED, now_ms()],
                )
                .map_err(sqlite("insert inventory update"))?;
            if claimed == 0 {
                return Ok(InventoryOutcome::AlreadyProcessed);
            }

            let mut shortages = Vec::new();
            for (sku, wanted) in &requested {
                let available: i64 = transaction
                    .query_row(matching.stock_query(), [sku], |row| row.get(0))
                    .optional()
                    .map_err(sqlite("read stock"))?
                    .unwrap_or(0);
                if available < *wanted {
                    shortages.push(Shortage { sku: sku.clone(), requested: *wanted, available });
                }
            }

            let (outcome, status) = if shortages.is_empty() {
                for (sku, wanted) in &requested {
                    transaction
                        .execute("UPDATE stock SET quantity = quantity - ?1 WHERE sku = ?2", params![wanted, sku])
                        .map_err(sqlite("update stock"))?;
                }
                (InventoryOutcome::Applied, OrderStatus::Fulfilled)
            } else {
                let recorded = serde_json::to_string(&shortages).expect("shortages always serialize");
                transaction
                    .execute(
                        "UPDATE inventory_updates SET outcome = ?1, shortages = ?2 WHERE order_id = ?3",
                        params![STOCK_OUT, recorded, order_id],
                    )
                    .map_err(sqlite("record stock-out"))?;
                (InventoryOutcome::StockOut { shortages }, OrderStatus::StockOut)
            };

            transaction
                .execute("UPDATE orders SET status = ?1 WHERE id = ?2", params![status.as_str(), order_id])
                .map_err(sqlite("update order status"))?;
            transaction.commit().map_err(sqlite("commit inventory update"))?;
            Ok(outcome)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sku: &str, quantity: u32) -> OrderItem {
        OrderItem {
            sku: sku.to_owned(),
            quantity,
            unit_price_cents: 100,
        }
    }

    #[tokio::test]
    async fn same_order_changes_stock_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orders.db")).unwrap();
        store.set_stock("A", 10).await.unwrap();

        let first = store
            .apply_inventory("o-1", &[item("A", 2), item("A", 1)], SkuMatching::Exact)
            .await
            .unwrap();
        let second = store
            .apply_inventory("o-1", &[item("A", 3)], SkuMatching::Exact)
            .await
            .unwrap();

        assert_eq!(first, InventoryOutcome::Applied);
        assert_eq!(second, InventoryOutcome::AlreadyProcessed);
        assert_eq!(store.stock("A").await.unwrap(), Some(7));
    }

    #[tokio::test]
    async fn stock_levels_set_in_bulk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orders.db")).unwrap();
        store.set_stock("A", 1).await.unwrap();

        let levels = vec![("A".to_owned(), 4), ("B".to_owned(), 9)];
        store.set_stock_many(levels).await.unwrap();

        assert_eq!(store.stock("A").await.unwrap(), Some(4));
        assert_eq!(store.stock("B").await.unwrap(), Some(9));
    }

    #[tokio::test]
    async fn shortage_leaves_all_stock_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orders.db")).unwrap();
        store.set_stock("A", 10).await.unwrap();
        store.set_stock("B", 1).await.unwrap();

        let outcome = store
            .apply_inventory(
                "o-1",
                &[item("A", 2), item("B", 2), item("C", 1)],
                SkuMatching::CaseInsensitive,
            )
            .await
            .unwrap();

        let expected = vec![
            Shortage {
                sku: "B".to_owned(),
                requested: 2,
                available: 1,
            },
            Shortage {
                sku: "C".to_owned(),
                requested: 1,
                available: 0,
            },
        ];
        assert_eq!(
            outcome,
            InventoryOutcome::StockOut {
                shortages: expected
            }
        );
        assert_eq!(store.stock("A").await.unwrap(), Some(10));
        assert_eq!(store.stock("B").await.unwrap(), Some(1));
    }
}
