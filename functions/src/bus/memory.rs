//! Queues in process memory that behave like SQS standard queues.
//!
//! A received message stays hidden for the visibility timeout and comes back unless it is
//! deleted. A message received more than the maximum receive count moves to the queue's
//! dead-letter queue.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_lambda_events::sqs::SqsMessage;
use spanbill::propagation::AWS_TRACE_HEADER;

use super::{Bus, BusError, MAX_BATCH_SIZE, OutgoingMessage, Received, epoch_millis, queue_arn};
use crate::clock::SharedClock;

/// Region in the queue ARNs of the in-process bus.
pub(super) const REGION: &str = "us-east-1";
/// Account id in the queue ARNs of the in-process bus.
pub(super) const ACCOUNT_ID: &str = "123456789012";
/// `SenderId` of messages sent through the in-process bus.
pub(super) const SENDER_ID: &str = "spanbill-in-process";

/// The redrive and visibility settings of the queues [`InMemoryBus::create_queue`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// How long a received message stays hidden (SQS default: 30 seconds).
    pub visibility_timeout: Duration,
    /// Receives after which the next receive moves the message to the dead-letter queue
    /// instead, as the `maxReceiveCount` of an SQS redrive policy.
    pub max_receive_count: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: 5,
        }
    }
}

/// Returns the name of the dead-letter queue of `queue`.
#[must_use]
pub fn dead_letter_queue_name(queue: &str) -> String {
    format!("{queue}-dlq")
}

/// Numbers of messages in a queue, as SQS reports them in its queue attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Messages that a receive would return now (`ApproximateNumberOfMessages`).
    pub visible: usize,
    /// Messages received and neither deleted nor visible again
    /// (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: usize,
}

/// In-process queues with SQS semantics, driven by a [`crate::clock::Clock`].
#[derive(Debug)]
pub struct InMemoryBus {
    clock: SharedClock,
    settings: QueueSettings,
    queues: Mutex<HashMap<String, Queue>>,
}

#[derive(Debug, Default)]
struct Queue {
    dead_letter_queue: Option<String>,
    messages: Vec<Stored>,
}

#[derive(Debug, Clone)]
struct Stored {
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    trace_header: Option<String>,
    sent_at: SystemTime,
    first_received_at: Option<SystemTime>,
    receive_count: u32,
    visible_at: Instant,
    receipt_handle: Option<String>,
}

impl InMemoryBus {
    /// Creates a bus without queues whose queues use `settings`.
    #[must_use]
    pub fn new(clock: SharedClock, settings: QueueSettings) -> Self {
        Self {
            clock,
            settings,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Creates `queue` and its dead-letter queue (see [`dead_letter_queue_name`]), unless they
    /// exist.
    pub fn create_queue(&self, queue: &str) {
        let dead_letter_queue = dead_letter_queue_name(queue);
        let mut queues = self.lock();
        queues.entry(dead_letter_queue.clone()).or_default();
        queues.entry(queue.to_owned()).or_insert_with(|| Queue {
            dead_letter_queue: Some(dead_letter_queue),
            messages: Vec::new(),
        });
    }

    /// Counts the visible and in-flight messages of `queue`.
    pub fn message_counts(&self, queue: &str) -> Result<MessageCounts, BusError> {
        let now = self.clock.now();
        let queues = self.lock();
        let found = queues.get(queue).ok_or_else(|| not_found(queue))?;
        let visible = found
            .messages
            .iter()
            .filter(|message| message.visible_at <= now)
            .count();
        Ok(MessageCounts {
            visible,
            in_flight: found.messages.len() - visible,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Bus for InMemoryBus {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, BusError> {
        let id = uuid::Uuid::new_v4().to_string();
        let stored = Stored {
            id: id.clone(),
            body: message.body,
            attributes: message.attributes,
            trace_header: message.trace_header,
            sent_at: self.clock.system_time(),
            first_received_at: None,
            receive_count: 0,
            visible_at: self.clock.now(),
            receipt_handle: None,
        };
        self.lock()
            .get_mut(queue)
            .ok_or_else(|| not_found(queue))?
            .messages
            .push(stored);
        Ok(id)
    }

    async fn receive(&self, queue: &str, max_messages: usize) -> Result<Vec<SqsMessage>, BusError> {
        let now = self.clock.now();
        let now_system = self.clock.system_time();
        let max_messages = max_messages.clamp(1, MAX_BATCH_SIZE);
        let mut queues = self.lock();
        let source = queues.get_mut(queue).ok_or_else(|| not_found(queue))?;
        let dead_letter_queue = source.dead_letter_queue.clone();

        // A visible message that was already received `max_receive_count` times moves to the
        // dead-letter queue on this receive instead of being delivered again.
        let mut moved = Vec::new();
        if dead_letter_queue.is_some() {
            let limit = self.settings.max_receive_count;
            let (exhausted, kept) = std::mem::take(&mut source.messages)
                .into_iter()
                .partition(|message| message.visible_at <= now && message.receive_count >= limit);
            source.messages = kept;
            moved = exhausted;
        }

        let mut batch = Vec::new();
        for message in source
            .messages
            .iter_mut()
            .filter(|message| message.visible_at <= now)
            .take(max_messages)
        {
            message.receive_count += 1;
            message.first_received_at.get_or_insert(now_system);
            message.visible_at = now + self.settings.visibility_timeout;
            message.receipt_handle = Some(uuid::Uuid::new_v4().to_string());
            batch.push(message.clone());
        }

        if let Some(dead_letter_queue) = dead_letter_queue.filter(|_| !moved.is_empty()) {
            for message in &moved {
                tracing::warn!(
                    queue,
                    dead_letter_queue = dead_letter_queue.as_str(),
                    message_id = message.id.as_str(),
                    receive_count = message.receive_count,
                    "message exceeded the maximum receive count; moved to the dead-letter queue"
                );
            }
            let target = queues.entry(dead_letter_queue).or_default();
            target
                .messages
                .extend(moved.into_iter().map(|message| Stored {
                    receive_count: 0,
                    first_received_at: None,
                    receipt_handle: None,
                    visible_at: now,
                    ..message
                }));
        }
        drop(queues);

        let arn = queue_arn(REGION, ACCOUNT_ID, queue);
        Ok(batch
            .iter()
            .map(|message| lambda_record(message, &arn))
            .collect())
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), BusError> {
        let mut queues = self.lock();
        let found = queues.get_mut(queue).ok_or_else(|| not_found(queue))?;
        let position = found
            .messages
            .iter()
            .position(|message| message.receipt_handle.as_deref() == Some(receipt_handle))
            .ok_or_else(|| BusError::InvalidReceiptHandle {
                queue: queue.to_owned(),
                receipt_handle: receipt_handle.to_owned(),
            })?;
        found.messages.remove(position);
        Ok(())
    }
}

fn lambda_record(message: &Stored, arn: &str) -> SqsMessage {
    let mut system_attributes = BTreeMap::from([
        ("ApproximateReceiveCount", message.receive_count.to_string()),
        ("SentTimestamp", epoch_millis(message.sent_at)),
        ("SenderId", SENDER_ID.to_owned()),
        (
            "ApproximateFirstReceiveTimestamp",
            epoch_millis(message.first_received_at.unwrap_or(message.sent_at)),
        ),
    ]);
    if let Some(header) = &message.trace_header {
        system_attributes.insert(AWS_TRACE_HEADER, header.clone());
    }
    Received {
        message_id: &message.id,
        receipt_handle: message.receipt_handle.as_deref().unwrap_or_default(),
        body: &message.body,
        attributes: &message.attributes,
        system_attributes,
        queue_arn: arn,
        region: REGION,
    }
    .into_lambda_record()
}

fn not_found(queue: &str) -> BusError {
    BusError::QueueNotFound {
        queue: queue.to_owned(),
    }
}
