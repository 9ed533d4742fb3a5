//! The releases of the order service whose code the handlers carry side by side.
//!
//! On AWS each published version of a function runs the code it was built from. The local
//! platform runs every version from one binary, so the handlers keep the code of each
//! release and pick it by the version in the Lambda context. Release 1 is the current code.
//! Release 2 of a function is a defective release. The platform's scenarios deploy it to
//! produce a regression or a cost spiral whose cause is in the code:
//!
//! - updateInventory release 2 matches SKUs case-insensitively. The stock table's primary
//!   key cannot serve `lower(sku) = lower(?)`, so every stock lookup scans the whole table.
//! - handlePayment release 2 sends a declined order back to the orders queue to be charged
//!   again. The payment outcome is already recorded as declined, so every later delivery
//!   sends it back once more, and the order loops through the queue.

/// Returns the release whose code runs for `context`: the function version's number, or 1 for
/// `$LATEST` and versions that are not numbers.
#[must_use]
pub fn of(context: &lambda_runtime::Context) -> u32 {
    context
        .env_config
        .version
        .parse()
        .ok()
        .filter(|release| *release > 0)
        .unwrap_or(1)
}

/// The way updateInventory finds a product in the stock table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkuMatching {
    /// `sku = ?`, served by the primary key (release 1).
    Exact,
    /// `lower(sku) = lower(?)`, which scans the table (release 2).
    CaseInsensitive,
}

impl SkuMatching {
    /// Returns the matching of updateInventory `release`.
    #[must_use]
    pub fn of_release(release: u32) -> Self {
        if release == 2 {
            Self::CaseInsensitive
        } else {
            Self::Exact
        }
    }

    /// Returns the SQL that reads the units in stock of `?1`.
    pub(crate) fn stock_query(self) -> &'static str {
        match self {
            Self::Exact => "SELECT quantity FROM stock WHERE sku = ?1",
            Self::CaseInsensitive => "SELECT quantity FROM stock WHERE lower(sku) = lower(?1)",
        }
    }
}

/// Returns whether handlePayment `release` sends declined orders back to the orders queue.
#[must_use]
pub fn retries_declined_payments(release: u32) -> bool {
    release == 2
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn context(version: &str) -> lambda_runtime::Context {
        let mut config = lambda_runtime::Config::default();
        version.clone_into(&mut config.version);
        let mut context = lambda_runtime::Context::default();
        context.env_config = Arc::new(config);
        context
    }

    #[test]
    fn release_follows_the_version() {
        assert_eq!(of(&context("2")), 2);
        assert_eq!(of(&context("$LATEST")), 1);
        assert_eq!(of(&context("0")), 1);
        assert_eq!(of(&context("")), 1);
    }

    #[test]
    fn case_insensitive_matching_scans_the_stock_table() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection.execute_batch(crate::store::SCHEMA).unwrap();
        let plan = |sql: &str| -> String {
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = statement
                .query_map(["A-1"], |row| row.get::<_, String>(3))
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };

        let exact = plan(SkuMatching::Exact.stock_query());
        let insensitive = plan(SkuMatching::CaseInsensitive.stock_query());
        assert_eq!(
            exact,
            "SEARCH stock USING INDEX sqlite_autoindex_stock_1 (sku=?)"
        );
        assert_eq!(insensitive, "SCAN stock");
    }
}
