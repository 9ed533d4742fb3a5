//! Reading of JSON inputs: CloudWatch Logs events (`filter-log-events` items or whole
//! responses), subscription deliveries (encoded as `{"awslogs": {"data": ...}}` or decoded),
//! and platform records (Telemetry API batches, JSON log format lines).

use std::collections::HashSet;
use std::io::Read as _;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::assemble::Assembler;
use super::error::{Location, ReadError};
use super::event::EventContext;
use super::names::{from_epoch_millis, parse_timestamp};
use super::records::{is_platform_record, parse_platform_record};
use super::summary::{InputFormat, SkipReason};
use super::{ReadOptions, dispatch, dispatch_text_message};

/// Kind of a JSON value, judged by its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `{"awslogs": {"data": "<base64 gzip>"}}`, the event a subscribed Lambda receives.
    EncodedDelivery,
    /// `{"messageType", "logGroup", "logStream", "logEvents"}`.
    Delivery,
    /// A `filter-log-events` response: `{"events": [...]}`.
    EventsPage,
    /// `{"timestamp", "message", "logStreamName"}` with `timestamp` in epoch milliseconds.
    LogEvent,
    /// `{"time", "type", "record"}`.
    PlatformRecord,
    /// A JSON log format line written by the function.
    ApplicationRecord,
    Unknown,
}

impl Shape {
    pub(crate) fn of(value: &Value) -> Self {
        let Some(object) = value.as_object() else {
            return Self::Unknown;
        };
        if object.contains_key("awslogs") {
            Self::EncodedDelivery
        } else if object.contains_key("logEvents") {
            Self::Delivery
        } else if object.get("events").is_some_and(Value::is_array) {
            Self::EventsPage
        } else if is_platform_record(object) {
            Self::PlatformRecord
        } else if object.get("message").is_some_and(Value::is_string)
            && object.get("timestamp").is_some_and(Value::is_number)
        {
            Self::LogEvent
        } else if object.contains_key("level") || object.contains_key("requestId") {
            Self::ApplicationRecord
        } else {
            Self::Unknown
        }
    }

    pub(crate) fn format(self) -> Option<InputFormat> {
        match self {
            Self::EncodedDelivery | Self::Delivery => Some(InputFormat::Subscription),
            Self::EventsPage | Self::LogEvent => Some(InputFormat::CloudWatchEvents),
            Self::PlatformRecord | Self::ApplicationRecord => Some(InputFormat::PlatformRecords),
            Self::Unknown => None,
        }
    }
}

/// Log group, stream and account shared by the events of one delivery.
#[derive(Debug, Clone, Default)]
struct Origin {
    log_group: Option<Arc<str>>,
    stream: Option<Arc<str>>,
    owner: Option<Arc<str>>,
}

/// Reads JSON items into an assembler.
#[derive(Debug)]
pub(crate) struct JsonReader<'r, 'a> {
    pub(crate) assembler: &'r mut Assembler<'a>,
    pub(crate) options: &'r ReadOptions,
    /// Log event ids already read, per stream; deliveries are at-least-once.
    seen_events: HashSet<(Option<Arc<str>>, String)>,
}

impl<'r, 'a> JsonReader<'r, 'a> {
    pub(crate) fn new(assembler: &'r mut Assembler<'a>, options: &'r ReadOptions) -> Self {
        Self {
            assembler,
            options,
            seen_events: HashSet::new(),
        }
    }

    /// Reads one top-level item: an element of an array, a JSON line or a whole document.
    pub(crate) fn read_item(&mut self, item: &Value, location: &Location) -> Result<(), ReadError> {
        let shape = Shape::of(item);
        if let Some(format) = shape.format()
            && self.assembler.summary.format == InputFormat::Empty
        {
            self.assembler.summary.format = format;
        }
        match shape {
            Shape::EncodedDelivery => self.read_encoded_delivery(item, location),
            Shape::Delivery => self.read_delivery(item, location),
            Shape::EventsPage => {
                let events = item.get("events").and_then(Value::as_array);
                for (index, event) in events.into_iter().flatten().enumerate() {
                    self.read_log_event(
                        event,
                        &Origin::default(),
                        &location.with_event(index + 1),
                    )?;
                }
                Ok(())
            }
            Shape::LogEvent => self.read_log_event(item, &Origin::default(), location),
            Shape::PlatformRecord => {
                self.assembler.summary.records_read += 1;
                let context = EventContext {
                    location: location.clone(),
                    time: None,
                    stream: None,
                    log_group: None,
                    owner: None,
                };
                self.read_platform_record(item.as_object().expect("shape checked"), &context)
            }
            Shape::ApplicationRecord => {
                self.assembler.summary.records_read += 1;
                self.assembler.skip(SkipReason::ApplicationLog);
                Ok(())
            }
            Shape::Unknown => {
                self.assembler.summary.records_read += 1;
                self.assembler.skip(SkipReason::UnknownJson);
                Ok(())
            }
        }
    }

    fn read_platform_record(
        &mut self,
        object: &Map<String, Value>,
        context: &EventContext,
    ) -> Result<(), ReadError> {
        let time = object
            .get("time")
            .and_then(Value::as_str)
            .and_then(parse_timestamp);
        let context = EventContext {
            time: time.or(context.time),
            ..context.clone()
        };
        dispatch(self.assembler, &context, parse_platform_record(object))
    }

    fn read_encoded_delivery(
        &mut self,
        item: &Value,
        location: &Location,
    ) -> Result<(), ReadError> {
        let Some(data) = item
            .get("awslogs")
            .and_then(|awslogs| awslogs.get("data"))
            .and_then(Value::as_str)
        else {
            self.assembler.summary.records_read += 1;
            self.assembler.skip(SkipReason::UnknownJson);
            return Ok(());
        };
        let delivery = match decode_payload(data, self.options.limits.max_decompressed_bytes) {
            Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                .map_err(|error| format!("the inflated payload is not JSON: {error}")),
            Err(PayloadError::TooLarge) => {
                let error = ReadError::PayloadTooLarge {
                    location: location.clone(),
                    limit: self.options.limits.max_decompressed_bytes,
                };
                return self.assembler.problem(SkipReason::InvalidPayload, error);
            }
            Err(PayloadError::Invalid(reason)) => Err(reason),
        };
        match delivery {
            Ok(delivery) if Shape::of(&delivery) == Shape::Delivery => {
                self.read_delivery(&delivery, location)
            }
            Ok(_) => {
                let error = ReadError::InvalidPayload {
                    location: location.clone(),
                    reason: "the inflated payload has no `logEvents`".to_owned(),
                };
                self.assembler.problem(SkipReason::InvalidPayload, error)
            }
            Err(reason) => {
                let error = ReadError::InvalidPayload {
                    location: location.clone(),
                    reason,
                };
                self.assembler.problem(SkipReason::InvalidPayload, error)
            }
        }
    }

    fn read_delivery(&mut self, delivery: &Value, location: &Location) -> Result<(), ReadError> {
        let events = delivery.get("logEvents").and_then(Value::as_array);
        let field = |key: &str| {
            delivery
                .get(key)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
                .map(Arc::from)
        };
        // CloudWatch Logs sends CONTROL_MESSAGE deliveries to check that the destination is
        // reachable; they carry no log data.
        if delivery.get("messageType").and_then(Value::as_str) == Some("CONTROL_MESSAGE") {
            for _ in events.into_iter().flatten() {
                self.assembler.summary.records_read += 1;
                self.assembler.skip(SkipReason::ControlMessage);
            }
            return Ok(());
        }
        let origin = Origin {
            log_group: field("logGroup"),
            stream: field("logStream"),
            owner: field("owner"),
        };
        for (index, event) in events.into_iter().flatten().enumerate() {
            self.read_log_event(event, &origin, &location.with_event(index + 1))?;
        }
        Ok(())
    }

    fn read_log_event(
        &mut self,
        event: &Value,
        origin: &Origin,
        location: &Location,
    ) -> Result<(), ReadError> {
        self.assembler.summary.records_read += 1;
        let Some(message) = event.get("message").and_then(Value::as_str) else {
            self.assembler.skip(SkipReason::UnknownJson);
            return Ok(());
        };
        let text_field = |key: &str| {
            event
                .get(key)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
        };
        let stream = text_field("logStreamName")
            .map(Arc::from)
            .or_else(|| origin.stream.clone());

        // Event ids are decimal strings of up to 56 digits, so they stay strings.
        if let Some(id) = text_field("id").or_else(|| text_field("eventId"))
            && !self.seen_events.insert((stream.clone(), id.to_owned()))
        {
            self.assembler.skip(SkipReason::DuplicateEvent);
            return Ok(());
        }
        if message.len() > self.options.limits.max_line_bytes {
            self.assembler.skip(SkipReason::TooLong);
            return Ok(());
        }

        let context = EventContext {
            location: location.clone(),
            time: event
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(from_epoch_millis),
            stream,
            log_group: text_field("logGroupName")
                .map(Arc::from)
                .or_else(|| origin.log_group.clone()),
            owner: origin.owner.clone(),
        };

        // With the JSON log format every message is a JSON object; platform records have a
        // `type`, the function's own records do not.
        if message.trim_start().starts_with('{')
            && let Ok(Value::Object(object)) = serde_json::from_str::<Value>(message)
        {
            if is_platform_record(&object) {
                return self.read_platform_record(&object, &context);
            }
            self.assembler.skip(SkipReason::ApplicationLog);
            return Ok(());
        }
        dispatch_text_message(self.assembler, &context, message)
    }
}

#[derive(Debug)]
pub(crate) enum PayloadError {
    Invalid(String),
    TooLarge,
}

/// Decodes `awslogs.data`: base64, then gzip, inflating at most `limit` bytes.
fn decode_payload(data: &str, limit: usize) -> Result<Vec<u8>, PayloadError> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|error| PayloadError::Invalid(format!("invalid base64: {error}")))?;
    inflate_bounded(&compressed, limit)
}

/// Inflates gzip data, reading at most `limit + 1` bytes so that a small payload that
/// inflates to gigabytes is rejected without being held in memory.
pub(crate) fn inflate_bounded(compressed: &[u8], limit: usize) -> Result<Vec<u8>, PayloadError> {
    let decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut inflated = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| PayloadError::Invalid(format!("invalid gzip data: {error}")))?;
    if inflated.len() > limit {
        return Err(PayloadError::TooLarge);
    }
    Ok(inflated)
}

/// Returns true when `input` starts with the gzip magic bytes.
pub(crate) fn is_gzip(input: &[u8]) -> bool {
    input.starts_with(&[0x1f, 0x8b])
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn inflate_stops_at_limit() {
        let compressed = gzip(&vec![b'a'; 1 << 20]);
        assert!(compressed.len() < 4096);
        assert!(matches!(
            inflate_bounded(&compressed, 1000),
            Err(PayloadError::TooLarge)
        ));
        assert_eq!(
            inflate_bounded(&compressed, 1 << 20).unwrap().len(),
            1 << 20
        );
    }

    #[test]
    fn inflate_rejects_garbage() {
        assert!(matches!(
            inflate_bounded(b"\x1f\x8bnot gzip", 100),
            Err(PayloadError::Invalid(_))
        ));
    }

    #[test]
    fn shapes() {
        let shape = |json: &str| Shape::of(&serde_json::from_str(json).unwrap());
        assert_eq!(shape(r#"{"awslogs":{"data":""}}"#), Shape::EncodedDelivery);
        assert_eq!(
            shape(r#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#),
            Shape::Delivery
        );
        assert_eq!(shape(r#"{"events":[]}"#), Shape::EventsPage);
        assert_eq!(shape(r#"{"timestamp":1,"message":"x"}"#), Shape::LogEvent);
        assert_eq!(
            shape(r#"{"time":"t","type":"platform.start","record":{}}"#),
            Shape::PlatformRecord
        );
        assert_eq!(
            shape(r#"{"level":"INFO","message":"x"}"#),
            Shape::ApplicationRecord
        );
        assert_eq!(shape(r#"{"other":1}"#), Shape::Unknown);
        assert_eq!(shape("[]"), Shape::Unknown);
    }
}
