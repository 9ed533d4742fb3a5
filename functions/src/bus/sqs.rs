//! The bus on Amazon SQS, through `aws-sdk-sqs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue, QueueAttributeName,
};

use super::{
    Bus, BusError, MAX_BATCH_SIZE, OutgoingMessage, QueueSettings, dead_letter_queue_name,
};

/// Builds an SQS client for a local SQS-compatible server (such as moto) at `endpoint_url`.
///
/// Region, credentials and endpoint are all set explicitly, so the client never looks for
/// credentials in the environment, in profile files or at the instance metadata service.
#[must_use]
pub fn local_client(endpoint_url: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint_url)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "spanbill-local",
        ))
        .build();
    Client::from_conf(config)
}

/// The bus on SQS standard queues. Queue URLs and ARNs are looked up once per queue name.
#[derive(Debug)]
pub struct SqsBus {
    client: Client,
    wait_time: Duration,
    queues: Mutex<HashMap<String, Arc<QueueInfo>>>,
}

#[derive(Debug)]
struct QueueInfo {
    url: String,
    arn: String,
    region: String,
}

impl SqsBus {
    /// Creates a bus that uses `client` and does not wait for messages on receive.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self {
            client,
            wait_time: Duration::ZERO,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how long a receive waits for a message to arrive (long polling, at most 20
    /// seconds; default: no wait).
    #[must_use]
    pub fn with_wait_time(mut self, wait_time: Duration) -> Self {
        self.wait_time = wait_time.min(Duration::from_secs(20));
        self
    }

    /// Creates `queue` and its dead-letter queue with `settings` as visibility timeout and
    /// redrive policy. Creating a queue that exists with the same attributes changes nothing.
    pub async fn create_queue(&self, queue: &str, settings: QueueSettings) -> Result<(), BusError> {
        let dead_letter_queue = dead_letter_queue_name(queue);
        self.client
            .create_queue()
            .queue_name(&dead_letter_queue)
            .send()
            .await
            .map_err(|error| sqs_error("CreateQueue", &dead_letter_queue, error))?;
        let dead_letter_arn = self.queue(&dead_letter_queue).await?.arn.clone();

        let redrive_policy = serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": settings.max_receive_count.to_string(),
        });
        self.client
            .create_queue()
            .queue_name(queue)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                settings.visibility_timeout.as_secs().to_string(),
            )
            .attributes(
                QueueAttributeName::RedrivePolicy,
                redrive_policy.to_string(),
            )
            .send()
            .await
            .map_err(|error| sqs_error("CreateQueue", queue, error))?;
        Ok(())
    }

    async fn queue(&self, queue: &str) -> Result<Arc<QueueInfo>, BusError> {
        if let Some(info) = self
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(queue)
        {
            return Ok(Arc::clone(info));
        }

        let url = self
            .client
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .map_err(|error| sqs_error("GetQueueUrl", queue, error))?
            .queue_url
            .ok_or_else(|| incomplete("GetQueueUrl", queue, "QueueUrl"))?;
        let arn = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|error| sqs_error("GetQueueAttributes", queue, error))?
            .attributes
            .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| incomplete("GetQueueAttributes", queue, "QueueArn"))?;
        // arn:aws:sqs:<region>:<account>:<name>
        let region = arn.split(':').nth(3).unwrap_or_default().to_owned();

        let info = Arc::new(QueueInfo { url, arn, region });
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(queue.to_owned(), Arc::clone(&info));
        Ok(info)
    }
}

#[async_trait]
impl Bus for SqsBus {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, BusError> {
        let info = self.queue(queue).await?;
        let mut request = self
            .client
            .send_message()
            .queue_url(&info.url)
            .message_body(message.body);
        for (name, value) in message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("a message attribute with a data type always builds");
            request = request.message_attributes(name, value);
        }
        if let Some(header) = message.trace_header {
            let value = MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(header)
                .build()
                .expect("a system attribute with a data type always builds");
            request = request.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                value,
            );
        }

        let output = request
            .send()
            .await
            .map_err(|error| sqs_error("SendMessage", queue, error))?;
        output
            .message_id
            .ok_or_else(|| incomplete("SendMessage", queue, "MessageId"))
    }

    async fn receive(&self, queue: &str, max_messages: usize) -> Result<Vec<SqsMessage>, BusError> {
        let info = self.queue(queue).await?;
        let max_messages = max_messages.clamp(1, MAX_BATCH_SIZE) as i32;
        let output = self
            .client
            .receive_message()
            .queue_url(&info.url)
            .max_number_of_messages(max_messages)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .wait_time_seconds(self.wait_time.as_secs() as i32)
            .send()
            .await
            .map_err(|error| sqs_error("ReceiveMessage", queue, error))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| lambda_record(message, &info))
            .collect())
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), BusError> {
        let info = self.queue(queue).await?;
        self.client
            .delete_message()
            .queue_url(&info.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|error| sqs_error("DeleteMessage", queue, error))?;
        Ok(())
    }
}

/// Builds a Lambda SQS record from a received message, keeping the digests SQS computed.
fn lambda_record(message: Message, queue: &QueueInfo) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id;
    record.receipt_handle = message.receipt_handle;
    record.body = message.body;
    record.md5_of_body = message.md5_of_body;
    record.md5_of_message_attributes = message.md5_of_message_attributes;

    record.attributes = message
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.as_str().to_owned(), value))
        .collect();

    record.message_attributes = message
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let mut attribute = SqsMessageAttribute::default();
            attribute.data_type = Some(value.data_type);
            attribute.string_value = value.string_value;
            attribute.binary_value = value.binary_value.map(|blob| {
                let mut data = Base64Data::default();
                *data = blob.into_inner();
                data
            });
            (name, attribute)
        })
        .collect();

    record.event_source_arn = Some(queue.arn.clone());
    record.event_source = Some("aws:sqs".to_owned());
    record.aws_region = Some(queue.region.clone());
    record
}

fn sqs_error(
    operation: &'static str,
    queue: &str,
    error: impl Into<aws_sdk_sqs::Error>,
) -> BusError {
    BusError::Sqs {
        operation,
        queue: queue.to_owned(),
        source: Box::new(error.into()),
    }
}

fn incomplete(operation: &'static str, queue: &str, field: &'static str) -> BusError {
    BusError::IncompleteResponse {
        operation,
        queue: queue.to_owned(),
        field,
    }
}
