//! The three Lambda handlers and what they share: per-message processing with partial
//! batch failures, and the error type of one message.

mod create_order;
mod handle_payment;
mod update_inventory;

use std::error::Error as StdError;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde::de::DeserializeOwned;

pub use create_order::create_order;
pub use handle_payment::handle_payment;
pub use update_inventory::update_inventory;

use crate::bus::BusError;
use crate::payment::PaymentError;
use crate::store::StoreError;

/// The failure of one queue message. The message is reported in `batchItemFailures`, so the
/// queue delivers it again after its visibility timeout.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The body is not the JSON the handler expects.
    #[error("message `{message_id}` has an invalid body")]
    InvalidBody {
        /// The message id.
        message_id: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sending the follow-up message failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The payment could not be attempted or completed; a later retry may succeed.
    #[error(transparent)]
    Payment(#[from] PaymentError),
}

/// Runs `process` on each message of `event` inside its CONSUMER span and reports the
/// messages that failed in `batchItemFailures`.
///
/// Messages are processed one after another, so each span and KPI belongs to one message.
/// A failed message without a `messageId` cannot be reported on its own, so it fails the
/// whole batch, as Lambda would treat an empty item identifier.
async fn process_batch<'a, F, Fut>(
    event: &'a SqsEvent,
    mut process: F,
) -> Result<SqsBatchResponse, lambda_runtime::Error>
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), MessageError>>,
{
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        // Boxed so that the handler's future does not grow by the size of the processing.
        let processing = Box::pin(process(message));
        let Err(error) = spanbill::messaging::process_message(message, processing).await else {
            continue;
        };
        let Some(message_id) = message.message_id.as_deref() else {
            return Err(format!(
                "a message without `messageId` failed, so the whole batch is retried: {error}"
            )
            .into());
        };
        tracing::warn!(message_id, error = %error_chain(&error), "message failed; reported in batchItemFailures");
        response.add_failure(message_id);
    }
    Ok(response)
}

/// Parses the JSON body of `message`.
fn parse_body<T: DeserializeOwned>(message: &SqsMessage) -> Result<T, MessageError> {
    let body = message.body.as_deref().unwrap_or_default();
    serde_json::from_str(body).map_err(|source| MessageError::InvalidBody {
        message_id: message.message_id.clone().unwrap_or_default(),
        source,
    })
}

/// Formats an error with its sources, `outer: inner: innermost`, for logs.
pub(crate) fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
