//! Orders, idempotency keys, payments and stock in one SQLite database file.
//!
//! The database enforces the guarantees the functions rely on. The primary key on the
//! idempotency key lets one key create at most one order. The primary key on the order id in
//! `payments` and `inventory_updates` makes a redelivered message change nothing.
//! Every write runs in a `BEGIN IMMEDIATE` transaction, which takes the write lock up front,
//! so concurrent writers wait for each other (up to [`BUSY_TIMEOUT`]) instead of failing.
//!
//! The store keeps a small pool of connections. Each async operation borrows one on Tokio's
//! blocking pool, so it does not block a runtime thread on SQLite. Only [`Store::open`] runs
//! on the caller's thread.

mod inventory;
mod orders;
mod payments;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use tokio::sync::Semaphore;

pub use inventory::{InventoryOutcome, Shortage};
pub use orders::{CreateOutcome, OrderStatus, PublishState, StoredOrder};
pub use payments::{PaymentRecord, PaymentStatus};

/// How long a connection waits for another connection's write lock before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections a store opens when no pool size is given.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// Errors of store operations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or prepared.
    #[error("failed to open the order database at `{path}`")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite did not switch to write-ahead logging.
    #[error(
        "the order database at `{path}` uses journal mode `{mode}` instead of `wal`: \
         give the path of a file on a local disk, not `:memory:`"
    )]
    NotWal {
        /// The database path.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// A statement failed.
    #[error("failed to {operation}")]
    Sqlite {
        /// The operation that failed, such as `insert order`.
        operation: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value does not have the form the store writes.
    #[error("corrupt {what} for order `{order_id}` in the order database: {detail}")]
    Corrupt {
        /// The corrupt value, such as `items`.
        what: &'static str,
        /// The order it belongs to.
        order_id: String,
        /// The problem found.
        detail: String,
    },
    /// The blocking task that ran the operation panicked or was cancelled.
    #[error("database task for `{operation}` stopped before it finished")]
    Worker {
        /// The operation that failed.
        operation: &'static str,
        /// Tokio's error.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// A handle to the order database. Cloning is cheap and clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Store {
    /// Opens (and creates, if needed) the database at `path` with [`DEFAULT_POOL_SIZE`]
    /// connections.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_pool_size(path, DEFAULT_POOL_SIZE)
    }

    /// Opens the database at `path` with at most `pool_size` connections (at least 1).
    ///
    /// The schema is created on the first connection, before the pool is shared.
    pub fn open_with_pool_size(
        path: impl AsRef<Path>,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let connection = open_connection(&path)?;
        connection
            .execute_batch(SCHEMA)
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;

        let pool_size = pool_size.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(vec![connection]),
                permits: Semaphore::new(pool_size),
            }),
        })
    }

    /// Returns the database file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on a pooled connection on Tokio's blocking pool.
    ///
    /// A connection is opened when the pool has none idle; one whose work panicked is
    /// dropped instead of being returned.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the store never closes its semaphore");
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || {
            let idle = inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let mut connection = match idle {
                Some(connection) => connection,
                None => open_connection(&inner.path)?,
            };
            let result = work(&mut connection);
            inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
            result
        });
        task.await
            .map_err(|source| StoreError::Worker { operation, source })?
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let connection = Connection::open(path).map_err(open_error)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;

    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    // FULL syncs the log on every commit, so an order acknowledged with 201 survives a power
    // loss. NORMAL would only survive a crash of the process.
    connection
        .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(open_error)?;
    Ok(connection)
}

/// Wraps a SQLite error with the operation that failed.
fn sqlite(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { operation, source }
}

/// Milliseconds since the Unix epoch, for bookkeeping columns.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    items TEXT NOT NULL,
    total_cents INTEGER NOT NULL CHECK (total_cents > 0),
    status TEXT NOT NULL,
    publish_state TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    charge_id TEXT,
    reason TEXT,
    amount_cents INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stock (
    sku TEXT PRIMARY KEY,
    quantity INTEGER NOT NULL CHECK (quantity >= 0)
);
CREATE TABLE IF NOT EXISTS inventory_updates (
    order_id TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    shortages TEXT,
    applied_at_ms INTEGER NOT NULL
);
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_database_is_rejected() {
        let result = Store::open(":memory:");

        assert!(matches!(result, Err(StoreError::NotWal { mode, .. }) if mode == "memory"));
    }

    #[tokio::test]
    async fn reopened_store_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        Store::open(&path).unwrap().set_stock("A", 7).await.unwrap();

        let reopened = Store::open(&path).unwrap();

        assert_eq!(reopened.stock("A").await.unwrap(), Some(7));
    }
}
