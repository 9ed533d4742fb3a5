//! The message bus between the functions: a queue interface with an in-process
//! implementation ([`InMemoryBus`]) and one backed by Amazon SQS ([`SqsBus`]).
//!
//! Producers call [`publish`], which opens the PRODUCER span and attaches its trace context
//! to the message (`traceparent` and `tracestate` message attributes, `AWSTraceHeader`
//! system attribute). Consumers receive messages as Lambda's SQS event source delivers them
//! (an [`SqsEvent`] batch) through [`deliver_batch`], which also deletes the messages the
//! handler did not report in `batchItemFailures`, as Lambda does for a function with
//! `ReportBatchItemFailures` turned on.

mod memory;
#[cfg(feature = "sqs")]
mod sqs;

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use md5::{Digest as _, Md5};

pub use memory::{InMemoryBus, MessageCounts, QueueSettings, dead_letter_queue_name};
#[cfg(feature = "sqs")]
pub use sqs::{SqsBus, local_client};

/// Message attribute that carries the event type, such as `order.created`.
pub const EVENT_TYPE_ATTRIBUTE: &str = "eventType";

/// Largest batch one receive returns, as in SQS `ReceiveMessage`.
pub const MAX_BATCH_SIZE: usize = 10;

/// Errors of bus operations.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The queue does not exist.
    #[error("queue `{queue}` does not exist: create it before sending to or receiving from it")]
    QueueNotFound {
        /// The queue name.
        queue: String,
    },
    /// The receipt handle belongs to no message currently received from the queue.
    #[error(
        "receipt handle `{receipt_handle}` is not valid for queue `{queue}`: the message was deleted \
         or received again; delete it with the handle of its latest receive"
    )]
    InvalidReceiptHandle {
        /// The queue name.
        queue: String,
        /// The rejected handle.
        receipt_handle: String,
    },
    /// An SQS call failed.
    #[cfg(feature = "sqs")]
    #[error("SQS {operation} for queue `{queue}` failed")]
    Sqs {
        /// The API operation, such as `SendMessage`.
        operation: &'static str,
        /// The queue name.
        queue: String,
        /// The SDK's error.
        #[source]
        source: Box<aws_sdk_sqs::Error>,
    },
    /// SQS returned a response without a field the bus needs.
    #[error("SQS {operation} for queue `{queue}` returned no {field}")]
    IncompleteResponse {
        /// The API operation.
        operation: &'static str,
        /// The queue name.
        queue: String,
        /// The missing field.
        field: &'static str,
    },
}

/// A message to send: its body, string message attributes and X-Ray trace header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The body, JSON for every message the functions send.
    pub body: String,
    /// String message attributes by name.
    pub attributes: BTreeMap<String, String>,
    /// The `AWSTraceHeader` system attribute.
    pub trace_header: Option<String>,
}

/// A set of queues that behave like SQS standard queues.
#[async_trait]
pub trait Bus: Send + Sync + fmt::Debug {
    /// Sends `message` to `queue` and returns the new message's id.
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, BusError>;

    /// Receives up to `max_messages` (at most [`MAX_BATCH_SIZE`]) visible messages and hides
    /// them for the queue's visibility timeout. The messages have the form of the records of
    /// a Lambda SQS event.
    async fn receive(&self, queue: &str, max_messages: usize) -> Result<Vec<SqsMessage>, BusError>;

    /// Deletes the message received with `receipt_handle`.
    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), BusError>;
}

/// Sends `body` to `queue` inside a PRODUCER span, with the span's trace context and the
/// `eventType` attribute attached. Returns the message id.
pub async fn publish(
    bus: &dyn Bus,
    queue: &str,
    event_type: &str,
    body: String,
) -> Result<String, BusError> {
    spanbill::messaging::publish("aws_sqs", queue, |context| async move {
        // The W3C propagator writes an empty `tracestate` when no vendor set one, and SQS
        // rejects a message with an empty attribute value (moto 5.2 does the same). So empty
        // values are left out, for every bus alike.
        let mut attributes: BTreeMap<String, String> = context
            .attributes
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        attributes.insert(EVENT_TYPE_ATTRIBUTE.to_owned(), event_type.to_owned());

        let message = OutgoingMessage {
            body,
            attributes,
            trace_header: context.xray_header,
        };
        bus.send(queue, message).await
    })
    .await
}

/// The result of [`deliver_batch`] for one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Messages received and handed to the handler.
    pub received: usize,
    /// Messages deleted after the handler returned.
    pub deleted: usize,
    /// Ids of the messages left on the queue, to be received again after their visibility
    /// timeout: the failed ones, and processed ones whose delete failed.
    pub failed: Vec<String>,
}

/// Receives one batch from `queue`, runs `handler` on it and deletes every message that the
/// handler did not report as failed, as Lambda's SQS event source does.
///
/// As on Lambda, a handler error, or a failure id that names no message of the batch, fails
/// the whole batch. An empty receive does not call the handler.
pub async fn deliver_batch<F, Fut, E>(
    bus: &dyn Bus,
    queue: &str,
    max_messages: usize,
    handler: F,
) -> Result<Delivery, BusError>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = Result<SqsBatchResponse, E>>,
    E: fmt::Display,
{
    let records = bus.receive(queue, max_messages).await?;
    if records.is_empty() {
        return Ok(Delivery::default());
    }
    let ids: Vec<String> = records
        .iter()
        .map(|message| message.message_id.clone().unwrap_or_default())
        .collect();
    let receipt_handles: Vec<Option<String>> = records
        .iter()
        .map(|message| message.receipt_handle.clone())
        .collect();

    let mut event = SqsEvent::default();
    event.records = records;
    let failed: HashSet<String> = match handler(event).await {
        Ok(response) => {
            let reported: HashSet<String> = response
                .batch_item_failures
                .into_iter()
                .map(|failure| failure.item_identifier)
                .collect();
            if reported.iter().all(|id| ids.contains(id)) {
                reported
            } else {
                tracing::warn!(
                    queue,
                    "batch response names a message outside the batch; retrying the whole batch"
                );
                ids.iter().cloned().collect()
            }
        }
        Err(error) => {
            tracing::warn!(queue, error = %error, "handler failed; retrying the whole batch");
            ids.iter().cloned().collect()
        }
    };

    let mut delivery = Delivery {
        received: ids.len(),
        ..Delivery::default()
    };
    for (id, handle) in ids.into_iter().zip(receipt_handles) {
        let Some(handle) = handle.filter(|_| !failed.contains(&id)) else {
            delivery.failed.push(id);
            continue;
        };
        // A message that cannot be deleted comes back after its visibility timeout, as on
        // Lambda, so the other deletes still go ahead.
        match bus.delete(queue, &handle).await {
            Ok(()) => delivery.deleted += 1,
            Err(error) => {
                tracing::warn!(queue, message_id = id.as_str(), %error, "failed to delete a processed message");
                delivery.failed.push(id);
            }
        }
    }
    Ok(delivery)
}

/// Returns the ARN of a queue, as Lambda writes it in `eventSourceARN`.
#[must_use]
pub fn queue_arn(region: &str, account_id: &str, queue: &str) -> String {
    format!("arn:aws:sqs:{region}:{account_id}:{queue}")
}

/// The parts of a received message that a Lambda SQS record is built from.
#[derive(Debug)]
pub(crate) struct Received<'a> {
    pub(crate) message_id: &'a str,
    pub(crate) receipt_handle: &'a str,
    pub(crate) body: &'a str,
    pub(crate) attributes: &'a BTreeMap<String, String>,
    pub(crate) system_attributes: BTreeMap<&'static str, String>,
    pub(crate) queue_arn: &'a str,
    pub(crate) region: &'a str,
}

impl Received<'_> {
    /// Builds the record as Lambda does: system attributes under `attributes`, string message
    /// attributes with `stringValue` and `dataType`, MD5 digests of the body and of the
    /// message attributes, `eventSource` `aws:sqs`.
    pub(crate) fn into_lambda_record(self) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(self.message_id.to_owned());
        message.receipt_handle = Some(self.receipt_handle.to_owned());
        message.body = Some(self.body.to_owned());
        message.md5_of_body = Some(md5_of_body(self.body));
        if !self.attributes.is_empty() {
            message.md5_of_message_attributes = Some(md5_of_string_attributes(self.attributes));
        }
        message.attributes = self
            .system_attributes
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        message.message_attributes = self
            .attributes
            .iter()
            .map(|(name, value)| {
                let mut attribute = SqsMessageAttribute::default();
                attribute.string_value = Some(value.clone());
                attribute.data_type = Some("String".to_owned());
                (name.clone(), attribute)
            })
            .collect();
        message.event_source_arn = Some(self.queue_arn.to_owned());
        message.event_source = Some("aws:sqs".to_owned());
        message.aws_region = Some(self.region.to_owned());
        message
    }
}

/// Milliseconds since the Unix epoch as SQS writes them in `SentTimestamp`.
pub(crate) fn epoch_millis(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis())
        .to_string()
}

/// Returns the digest SQS reports as `MD5OfMessageBody`: the lowercase hex MD5 of the body.
#[must_use]
pub fn md5_of_body(body: &str) -> String {
    md5_hex(body.as_bytes())
}

fn md5_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(32);
    for byte in Md5::digest(bytes) {
        write!(hex, "{byte:02x}").expect("writing to a String cannot fail");
    }
    hex
}

/// Returns the digest SQS reports as `MD5OfMessageAttributes` for string attributes.
///
/// SQS hashes the attributes sorted by name, each as the 4-byte big-endian length and bytes
/// of its name, the same for its data type, one transport byte (1 for string values), then
/// the length and bytes of its value.
#[must_use]
pub fn md5_of_string_attributes(attributes: &BTreeMap<String, String>) -> String {
    const STRING_TRANSPORT: u8 = 1;
    let mut buffer = Vec::new();
    for (name, value) in attributes {
        push_length_prefixed(&mut buffer, name.as_bytes());
        push_length_prefixed(&mut buffer, b"String");
        buffer.push(STRING_TRANSPORT);
        push_length_prefixed(&mut buffer, value.as_bytes());
    }
    md5_hex(&buffer)
}

fn push_length_prefixed(buffer: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).expect("SQS attribute parts are at most 256 KiB");
    buffer.extend_from_slice(&length.to_be_bytes());
    buffer.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_digest_is_lowercase_hex() {
        assert_eq!(md5_of_body(""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
