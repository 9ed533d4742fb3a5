//! Building an [`OrderService`] from environment variables, for the function binaries.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `SPANBILL_DB_PATH` | SQLite database file | `/tmp/spanbill-orders.db` |
//! | `SPANBILL_ORDERS_QUEUE` | queue for `order.created` | `orders` |
//! | `SPANBILL_PAYMENTS_QUEUE` | queue for payment outcomes | `payments` |
//! | `SPANBILL_SQS_ENDPOINT` | URL of a local SQS-compatible server; uses static test credentials | AWS SQS with the default credential chain |
//! | `SPANBILL_PAYMENT_TIMEOUT_MS` | timeout of one gateway call, in milliseconds | 3000 |
//! | `SPANBILL_PAYMENT_MAX_ATTEMPTS` | attempts per charge, including the first | 3 |
//! | `SPANBILL_SANDBOX_DECLINE_ABOVE_CENTS` | the sandbox gateway declines larger charges | 100000 |

use std::env;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;

use crate::bus::{SqsBus, local_client};
use crate::clock;
use crate::payment::{BreakerSettings, PaymentClient, RetryPolicy, SandboxGateway};
use crate::service::{OrderService, Queues};
use crate::store::{Store, StoreError};

/// Errors while reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable does not parse.
    #[error("invalid value `{value}` for `{variable}`: {expected}")]
    InvalidValue {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// The expected form.
        expected: &'static str,
    },
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds the service the variables in the module table describe.
///
/// NOTE: each Lambda execution environment has its own `/tmp`, so deployed functions do not
/// share orders or stock. A network file system is no fix, because SQLite's WAL mode needs
/// every connection on one host (sqlite.org, "Write-Ahead Logging"). A shared deployment
/// needs another [`Store`] backend.
///
/// NOTE: payments go to [`SandboxGateway`], which charges no real card. A real provider
/// needs its own [`crate::payment::PaymentGateway`].
pub async fn service_from_env() -> Result<OrderService, ConfigError> {
    let path =
        env::var("SPANBILL_DB_PATH").unwrap_or_else(|_| "/tmp/spanbill-orders.db".to_owned());
    let store = Store::open(&path)?;

    let client = match env::var("SPANBILL_SQS_ENDPOINT") {
        Ok(endpoint) => local_client(&endpoint),
        Err(_) => {
            aws_sdk_sqs::Client::new(&aws_config::defaults(BehaviorVersion::latest()).load().await)
        }
    };
    let bus = Arc::new(SqsBus::new(client));

    let policy = RetryPolicy {
        max_attempts: number("SPANBILL_PAYMENT_MAX_ATTEMPTS", 3)?,
        call_timeout: Duration::from_millis(number("SPANBILL_PAYMENT_TIMEOUT_MS", 3000)?),
        ..RetryPolicy::default()
    };
    let gateway = Arc::new(SandboxGateway::new(number(
        "SPANBILL_SANDBOX_DECLINE_ABOVE_CENTS",
        100_000,
    )?));
    let payments = PaymentClient::new(gateway, policy, BreakerSettings::default(), clock::system());

    let queues = Queues {
        orders: env::var("SPANBILL_ORDERS_QUEUE").unwrap_or_else(|_| Queues::default().orders),
        payments: env::var("SPANBILL_PAYMENTS_QUEUE")
            .unwrap_or_else(|_| Queues::default().payments),
    };
    Ok(OrderService::new(store, bus, payments).with_queues(queues))
}

fn number<T: std::str::FromStr>(variable: &'static str, default: T) -> Result<T, ConfigError> {
    match env::var(variable) {
        Ok(value) => value.trim().parse().map_err(|_| ConfigError::InvalidValue {
            variable,
            value,
            expected: "expected a whole number",
        }),
        Err(_) => Ok(default),
    }
}
