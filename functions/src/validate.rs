//! Checks of a createOrder request: the idempotency header and the JSON body.
//!
//! A request that cannot be read as an order (no idempotency key, a body that is not a JSON
//! object) is a [`RequestError::BadRequest`], which createOrder returns as HTTP 400. A
//! readable request with a wrong field is a [`RequestError::Invalid`], returned as HTTP 422
//! with the field's path.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::model::{NewOrder, OrderItem};

/// Header that carries the client's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "x-idempotency-key";

/// Maximum length of an idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The reason a createOrder request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request cannot be read as an order request (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// A field of the order is missing or invalid (HTTP 422).
    #[error("{message}")]
    Invalid {
        /// Path of the field, such as `items[1].price`.
        field: String,
        /// The problem, in a sentence that names the field.
        message: String,
    },
}

impl RequestError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Reads the idempotency key from the request headers.
pub fn idempotency_key(headers: &http::HeaderMap) -> Result<String, RequestError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Err(RequestError::BadRequest(format!(
            "missing `{IDEMPOTENCY_HEADER}` header: send a unique key per order, such as a UUID"
        )));
    };
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty() {
        return Err(RequestError::BadRequest(format!(
            "empty or non-ASCII `{IDEMPOTENCY_HEADER}` header: send a unique key per order, such as a UUID"
        )));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(RequestError::BadRequest(format!(
            "`{IDEMPOTENCY_HEADER}` header is {} bytes long: use at most {MAX_IDEMPOTENCY_KEY_LEN}",
            key.len()
        )));
    }
    Ok(key.to_owned())
}

/// Decodes the request body, which API Gateway base64-encodes for binary content types.
pub fn body_text(body: Option<&str>, is_base64_encoded: bool) -> Result<String, RequestError> {
    let body = body.unwrap_or_default();
    if !is_base64_encoded {
        return Ok(body.to_owned());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|error| {
            RequestError::BadRequest(format!("request body is not valid base64: {error}"))
        })?;
    String::from_utf8(bytes).map_err(|_| {
        RequestError::BadRequest("request body is not UTF-8 text: send a JSON object".to_owned())
    })
}

/// Parses and checks an order request body.
pub fn parse_order(body: &str) -> Result<NewOrder, RequestError> {
    let value: Value = serde_json::from_str(body).map_err(|error| {
        RequestError::BadRequest(format!(
            "request body is not valid JSON ({error}): send a JSON object"
        ))
    })?;
    let Value::Object(object) = value else {
        return Err(RequestError::BadRequest(format!(
            "request body is a JSON {}: send a JSON object with `userId` and `items`",
            json_type(&value)
        )));
    };

    let user_id = match object.get("userId") {
        None | Some(Value::Null) => {
            return Err(RequestError::invalid("userId", "`userId` is missing"));
        }
        Some(Value::String(user_id)) if !user_id.trim().is_empty() => user_id.clone(),
        Some(_) => {
            return Err(RequestError::invalid(
                "userId",
                "`userId` must be a non-empty string",
            ));
        }
    };

    let items = match object.get("items") {
        None | Some(Value::Null) => {
            return Err(RequestError::invalid("items", "`items` is missing"));
        }
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(RequestError::invalid(
                "items",
                "`items` is empty: an order needs at least one item",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(RequestError::invalid(
                "items",
                "`items` must be an array of items",
            ));
        }
    };

    let mut lines = Vec::with_capacity(items.len());
    let mut total_cents: i64 = 0;
    for (index, item) in items.iter().enumerate() {
        let line = parse_item(index, item)?;
        total_cents = i64::from(line.quantity)
            .checked_mul(line.unit_price_cents)
            .and_then(|amount| total_cents.checked_add(amount))
            .ok_or_else(|| {
                RequestError::invalid("items", "the order total is too large to charge")
            })?;
        lines.push(line);
    }

    Ok(NewOrder {
        user_id,
        items: lines,
        total_cents,
    })
}

fn parse_item(index: usize, item: &Value) -> Result<OrderItem, RequestError> {
    let Value::Object(item) = item else {
        return Err(RequestError::invalid(
            format!("items[{index}]"),
            format!("`items[{index}]` must be an object"),
        ));
    };
    let field = |name: &str| format!("items[{index}].{name}");

    let sku = match item.get("sku") {
        Some(Value::String(sku)) if !sku.trim().is_empty() => sku.clone(),
        None | Some(Value::Null) => {
            return Err(RequestError::invalid(
                field("sku"),
                format!("`{}` is missing", field("sku")),
            ));
        }
        Some(_) => {
            return Err(RequestError::invalid(
                field("sku"),
                format!("`{}` must be a non-empty string", field("sku")),
            ));
        }
    };

    let quantity = parse_quantity(item, &field("quantity"))?;
    let unit_price_cents = parse_price(item, &field("price"))?;
    Ok(OrderItem {
        sku,
        quantity,
        unit_price_cents,
    })
}

fn parse_quantity(item: &Map<String, Value>, field: &str) -> Result<u32, RequestError> {
    let not_positive =
        || RequestError::invalid(field, format!("`{field}` must be a positive whole number"));
    match item.get("quantity") {
        None | Some(Value::Null) => Err(RequestError::invalid(
            field,
            format!("`{field}` is missing"),
        )),
        Some(Value::Number(number)) => {
            let quantity = number
                .as_u64()
                .filter(|quantity| *quantity > 0)
                .ok_or_else(not_positive)?;
            u32::try_from(quantity).map_err(|_| {
                RequestError::invalid(
                    field,
                    format!("`{field}` is {quantity}: order at most {}", u32::MAX),
                )
            })
        }
        Some(_) => Err(not_positive()),
    }
}

/// Maximum price in dollars whose value in cents an `f64` represents exactly: 2^53 cents.
const MAX_PRICE_USD: f64 = 9_007_199_254_740_992.0 / 100.0;

fn parse_price(item: &Map<String, Value>, field: &str) -> Result<i64, RequestError> {
    let price = match item.get("price") {
        None | Some(Value::Null) => {
            return Err(RequestError::invalid(
                field,
                format!("`{field}` is missing"),
            ));
        }
        Some(Value::Number(number)) => number.as_f64().unwrap_or(f64::NAN),
        Some(_) => {
            return Err(RequestError::invalid(
                field,
                format!("`{field}` must be a positive number"),
            ));
        }
    };
    if !price.is_finite() || price <= 0.0 {
        return Err(RequestError::invalid(
            field,
            format!("`{field}` must be a positive number, found {price}"),
        ));
    }
    if price > MAX_PRICE_USD {
        return Err(RequestError::invalid(
            field,
            format!("`{field}` is {price}: the maximum is {MAX_PRICE_USD}"),
        ));
    }

    let cents = price * 100.0;
    let rounded = cents.round();
    if (cents - rounded).abs() > 1e-6 {
        return Err(RequestError::invalid(
            field,
            format!(
                "`{field}` is {price}: give the price in dollars with at most two decimal places"
            ),
        ));
    }
    Ok(rounded as i64)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<NewOrder, RequestError>) -> String {
        match result {
            Err(RequestError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn order_total_is_exact_in_cents() {
        let order = parse_order(r#"{"userId":"u","items":[{"sku":"A","quantity":3,"price":0.1},{"sku":"B","quantity":1,"price":19.99}]}"#)
            .unwrap();

        assert_eq!(order.items[0].unit_price_cents, 10);
        assert_eq!(order.total_cents, 30 + 1999);
    }

    #[test]
    fn sub_cent_price_is_rejected() {
        let result =
            parse_order(r#"{"userId":"u","items":[{"sku":"A","quantity":1,"price":0.001}]}"#);

        assert_eq!(field_of(result), "items[0].price");
    }

    #[test]
    fn fractional_quantity_is_rejected() {
        let result =
            parse_order(r#"{"userId":"u","items":[{"sku":"A","quantity":1.5,"price":1}]}"#);

        assert_eq!(field_of(result), "items[0].quantity");
    }

    #[test]
    fn missing_sku_names_the_item() {
        let result = parse_order(
            r#"{"userId":"u","items":[{"sku":"A","quantity":1,"price":1},{"quantity":1,"price":1}]}"#,
        );

        assert_eq!(field_of(result), "items[1].sku");
    }

    #[test]
    fn json_array_body_is_a_bad_request() {
        let result = parse_order("[1,2]");

        assert!(
            matches!(result, Err(RequestError::BadRequest(message)) if message.contains("JSON array"))
        );
    }

    #[test]
    fn base64_body_is_decoded() {
        let text = body_text(Some("eyJhIjoxfQ=="), true).unwrap();

        assert_eq!(text, r#"{"a":1}"#);
    }

    #[test]
    fn blank_idempotency_key_is_rejected() {
        let mut headers = http::HeaderMap::new();
        headers.insert(IDEMPOTENCY_HEADER, http::HeaderValue::from_static("  "));

        assert!(matches!(
            idempotency_key(&headers),
            Err(RequestError::BadRequest(_))
        ));
    }
}
