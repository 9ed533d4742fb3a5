//! Keys of the attributes that spanbill sets from trusted sources: ids, ARNs, counts or fixed
//! words, which carry no user input and so are never redacted.
//!
//! Each key is a slice of one static byte string. The redactor recognises an attribute that
//! spanbill set by the address of its key, with one range check ([`is_spanbill_key`]), instead
//! of comparing its text with every trusted key. An attribute with the same key text set by
//! other code is recognised by its text ([`is_trusted_key`]).

use opentelemetry::Key;
use opentelemetry_semantic_conventions::attribute as semconv;

/// The trusted keys, separated by spaces.
const TRUSTED_KEY_LIST: &str = "aws.lambda.invoked_arn cloud.account.id cloud.resource_id \
    faas.coldstart faas.invocation_id faas.max_memory faas.trigger http.request.method \
    http.response.status_code messaging.aws.sqs.receive_count messaging.batch.message_count \
    messaging.operation.name messaging.operation.type messaging.system \
    spanbill.batch.item_failures spanbill.cost.source spanbill.cost.usd \
    spanbill.deadline_flush spanbill.phase spanbill.proactive_initialization url.scheme";

// A static, unlike a constant, has one address, so a key sliced from it is distinguishable
// from equal text elsewhere.
static TRUSTED_KEY_TEXT: [u8; TRUSTED_KEY_LIST.len()] =
    *TRUSTED_KEY_LIST.as_bytes().first_chunk().unwrap();

/// Returns the key `name` as a slice of [`TRUSTED_KEY_TEXT`]. A `name` missing from
/// [`TRUSTED_KEY_LIST`] is a compile error.
const fn trusted(name: &str) -> Key {
    let text = &TRUSTED_KEY_TEXT;
    let name = name.as_bytes();
    let mut start = 0;
    while start + name.len() <= text.len() {
        let mut matched = 0;
        while matched < name.len() && text[start + matched] == name[matched] {
            matched += 1;
        }
        let ends_at_separator = start + matched == text.len() || text[start + matched] == b' ';
        let starts_at_separator = start == 0 || text[start - 1] == b' ';
        if matched == name.len() && starts_at_separator && ends_at_separator {
            let (_, rest) = text.split_at(start);
            let (found, _) = rest.split_at(name.len());
            match std::str::from_utf8(found) {
                Ok(found) => return Key::from_static_str(found),
                Err(_) => panic!("trusted keys are ASCII"),
            }
        }
        start += 1;
    }
    panic!("the key is missing from TRUSTED_KEY_LIST")
}

pub(crate) const AWS_LAMBDA_INVOKED_ARN: Key = trusted("aws.lambda.invoked_arn");
pub(crate) const CLOUD_ACCOUNT_ID: Key = trusted(semconv::CLOUD_ACCOUNT_ID);
pub(crate) const CLOUD_RESOURCE_ID: Key = trusted(semconv::CLOUD_RESOURCE_ID);
pub(crate) const FAAS_COLDSTART: Key = trusted(semconv::FAAS_COLDSTART);
pub(crate) const FAAS_INVOCATION_ID: Key = trusted(semconv::FAAS_INVOCATION_ID);
pub(crate) const FAAS_MAX_MEMORY: Key = trusted(semconv::FAAS_MAX_MEMORY);
pub(crate) const FAAS_TRIGGER: Key = trusted(semconv::FAAS_TRIGGER);
pub(crate) const HTTP_REQUEST_METHOD: Key = trusted(semconv::HTTP_REQUEST_METHOD);
pub(crate) const HTTP_RESPONSE_STATUS_CODE: Key = trusted(semconv::HTTP_RESPONSE_STATUS_CODE);
pub(crate) const MESSAGING_AWS_SQS_RECEIVE_COUNT: Key = trusted("messaging.aws.sqs.receive_count");
pub(crate) const MESSAGING_BATCH_MESSAGE_COUNT: Key =
    trusted(semconv::MESSAGING_BATCH_MESSAGE_COUNT);
pub(crate) const MESSAGING_OPERATION_NAME: Key = trusted(semconv::MESSAGING_OPERATION_NAME);
pub(crate) const MESSAGING_OPERATION_TYPE: Key = trusted(semconv::MESSAGING_OPERATION_TYPE);
pub(crate) const MESSAGING_SYSTEM: Key = trusted(semconv::MESSAGING_SYSTEM);
pub(crate) const SPANBILL_BATCH_ITEM_FAILURES: Key = trusted("spanbill.batch.item_failures");
pub(crate) const SPANBILL_COST_SOURCE: Key = trusted(crate::COST_SOURCE_ATTRIBUTE);
pub(crate) const SPANBILL_COST_USD: Key = trusted(crate::COST_ATTRIBUTE);
pub(crate) const SPANBILL_DEADLINE_FLUSH: Key = trusted("spanbill.deadline_flush");
pub(crate) const SPANBILL_PHASE: Key = trusted("spanbill.phase");
pub(crate) const SPANBILL_PROACTIVE_INITIALIZATION: Key =
    trusted("spanbill.proactive_initialization");
pub(crate) const URL_SCHEME: Key = trusted(semconv::URL_SCHEME);

/// Returns whether `key` is one of the keys of this module, judged by its address.
#[inline]
pub(crate) fn is_spanbill_key(key: &str) -> bool {
    TRUSTED_KEY_TEXT.as_ptr_range().contains(&key.as_ptr())
}

/// Returns whether `key` has the text of a trusted key. A `match` compares lengths before
/// bytes, which keeps this cheap.
pub(crate) fn is_trusted_key(key: &str) -> bool {
    matches!(
        key,
        "aws.lambda.invoked_arn"
            | "cloud.account.id"
            | "cloud.resource_id"
            | "faas.coldstart"
            | "faas.invocation_id"
            | "faas.max_memory"
            | "faas.trigger"
            | "http.request.method"
            | "http.response.status_code"
            | "messaging.aws.sqs.receive_count"
            | "messaging.batch.message_count"
            | "messaging.operation.name"
            | "messaging.operation.type"
            | "messaging.system"
            | "spanbill.batch.item_failures"
            | "spanbill.cost.source"
            | "spanbill.cost.usd"
            | "spanbill.deadline_flush"
            | "spanbill.phase"
            | "spanbill.proactive_initialization"
            | "url.scheme"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_match_agree() {
        for key in TRUSTED_KEY_LIST.split(' ').filter(|key| !key.is_empty()) {
            assert!(is_trusted_key(key), "`{key}` is listed but not matched");
        }
        let listed = TRUSTED_KEY_LIST.split_whitespace().count();
        assert_eq!(listed, 21);
    }

    #[test]
    fn spanbill_keys_found_by_address() {
        for key in [
            AWS_LAMBDA_INVOKED_ARN,
            FAAS_INVOCATION_ID,
            SPANBILL_COST_USD,
            URL_SCHEME,
        ] {
            assert!(is_spanbill_key(key.as_str()), "`{}`", key.as_str());
            assert!(is_trusted_key(key.as_str()), "`{}`", key.as_str());
        }
    }

    #[test]
    fn equal_text_not_found_by_address() {
        let text = String::from("faas.invocation_id");
        assert!(!is_spanbill_key(&text));
        assert!(is_trusted_key(&text));
        assert!(!is_spanbill_key("faas.invocation_id"));
    }
}
