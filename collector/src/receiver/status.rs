//! Error bodies of the receivers: `google.rpc.Status` in protobuf and JSON, and the
//! `google.rpc.RetryInfo` detail that gives a gRPC client its retry delay.
//!
//! The messages are declared here with `prost` derive, with the field numbers of
//! `google/rpc/status.proto`, `google/rpc/error_details.proto`, `google/protobuf/any.proto`
//! and `google/protobuf/duration.proto` in googleapis and protobuf.

use std::time::Duration;

use prost::Message as _;

/// Type URL of `google.rpc.RetryInfo` inside a `google.protobuf.Any`.
const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`: a gRPC status code, a message and optional typed details.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// gRPC status code, as `tonic::Code` numbers it.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Message for the developer of the client.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details, such as a `google.rpc.RetryInfo`.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<AnyMessage>,
}

/// `google.protobuf.Any`: a serialized message and the URL of its type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyMessage {
    /// Type URL, such as `type.googleapis.com/google.rpc.RetryInfo`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The serialized message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: how long a client should wait before it retries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// Wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`: whole seconds and nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds past `seconds`, from 0 to 999 999 999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl RpcStatus {
    /// Creates a status without details.
    #[must_use]
    pub fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        Self {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds a `google.rpc.RetryInfo` detail with `delay`.
    #[must_use]
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        let retry_info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: delay.subsec_nanos() as i32,
            }),
        };
        self.details.push(AnyMessage {
            type_url: RETRY_INFO_TYPE_URL.to_owned(),
            value: retry_info.encode_to_vec(),
        });
        self
    }

    /// Returns the retry delay of the first `google.rpc.RetryInfo` detail, if any.
    #[must_use]
    pub fn retry_delay(&self) -> Option<Duration> {
        let detail = self
            .details
            .iter()
            .find(|detail| detail.type_url == RETRY_INFO_TYPE_URL)?;
        let delay = RetryInfo::decode(detail.value.as_slice())
            .ok()?
            .retry_delay?;
        let seconds = u64::try_from(delay.seconds).ok()?;
        let nanos = u32::try_from(delay.nanos).ok()?;
        Some(Duration::new(seconds, nanos))
    }

    /// Encodes the status as OTLP/JSON does: `code` as a number and `message` as a string.
    /// Details are left out, because the HTTP receivers send none.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::json!({ "code": self.code, "message": self.message }).to_string()
    }

    /// Converts the status into a tonic status whose `grpc-status-details-bin` carries this
    /// message, as gRPC clients expect for typed details.
    #[must_use]
    pub fn into_tonic(self) -> tonic::Status {
        let code = tonic::Code::from(self.code);
        let message = self.message.clone();
        if self.details.is_empty() {
            return tonic::Status::new(code, message);
        }
        tonic::Status::with_details(code, message, self.encode_to_vec().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_round_trips_through_tonic() {
        let status = RpcStatus::new(tonic::Code::ResourceExhausted, "queue full")
            .with_retry_delay(Duration::from_millis(2_500));
        let tonic_status = status.into_tonic();
        assert_eq!(tonic_status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(tonic_status.message(), "queue full");

        let decoded = RpcStatus::decode(tonic_status.details()).unwrap();
        assert_eq!(decoded.code, tonic::Code::ResourceExhausted as i32);
        assert_eq!(decoded.retry_delay(), Some(Duration::from_millis(2_500)));
    }

    #[test]
    fn json_form_has_numeric_code() {
        let json = RpcStatus::new(tonic::Code::InvalidArgument, "bad \"id\"").to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["code"], 3);
        assert_eq!(value["message"], "bad \"id\"");
        assert!(value.get("details").is_none());
    }
}
