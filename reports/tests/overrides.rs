//! User pricing files: overrides merged by key, unknown keys and malformed files.

use std::path::Path;

use rust_decimal::Decimal;
use spanbill_reports::pricing::Origin;
use spanbill_reports::{PriceBook, PricingError};

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn merge(text: &str) -> Result<PriceBook, PricingError> {
    let mut book = PriceBook::built_in();
    book.merge_user_text(Path::new("team-prices.toml"), text)?;
    Ok(book)
}

#[test]
fn override_replaces_only_given_fields() {
    let book = merge(
        r#"
source = "enterprise agreement 2026"
read_on = "2026-11-30"

[prices."aws.lambda.duration.x86_64"]
tiers = [{ up_to = 1000, price = "0.00001" }, { price = "0.000009" }]
"#,
    )
    .unwrap();
    let price = book.price("aws.lambda.duration.x86_64");
    assert_eq!(price.tiers.len(), 2);
    assert_eq!(price.tiers[0].price, dec("0.00001"));
    assert_eq!(price.unit, "GB-second");
    assert_eq!(price.free_per_month, dec("400000"));
    assert_eq!(price.source, "enterprise agreement 2026");
    assert_eq!(price.read_on, "2026-11-30");
    assert_eq!(price.origin, Origin::User("team-prices.toml".into()));
    assert!(price.confirmed);

    let untouched = book.price("aws.lambda.duration.arm64");
    assert_eq!(untouched.origin, Origin::BuiltIn("aws.toml"));
}

#[test]
fn override_without_source_names_the_file() {
    let book = merge("[prices.\"aws.sqs.requests\"]\nprice = \"0.00000035\"\n").unwrap();
    let price = book.price("aws.sqs.requests");
    assert_eq!(price.first_tier_price(), dec("0.00000035"));
    assert_eq!(price.source, "team-prices.toml");
}

#[test]
fn override_changes_the_cost() {
    use spanbill_reports::lambda::{LambdaUsage, price_invocation};
    let book = merge("[prices.\"aws.lambda.requests\"]\nprice = \"0\"\n").unwrap();
    let mut usage = LambdaUsage::estimated("r", 1024, 1000.0, None, None);
    usage.architecture_known = true;
    let cost = price_invocation(&usage, &book);
    assert_eq!(cost.request, Decimal::ZERO);
    assert_eq!(cost.total, dec("0.0000166667"));
}

#[test]
fn unknown_key_names_key_and_known_ones() {
    let error = merge("[prices.\"aws.lambda.duration.x86\"]\nprice = \"1\"\n").unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(
            "unknown price `aws.lambda.duration.x86` in `team-prices.toml`: use one of the known keys ("
        ),
        "{message}"
    );
    assert!(message.contains("aws.lambda.duration.x86_64"), "{message}");
    assert!(message.contains("gcp.run_functions.cpu"), "{message}");
}

#[test]
fn bad_toml_reports_file_line_and_fix() {
    let error =
        merge("[prices.\"aws.sqs.requests\"]\nunit = \"request\"\nprice = 0.0.4\n").unwrap_err();
    let PricingError::Parse { file, line, .. } = &error else {
        panic!("expected a parse error, got {error}");
    };
    assert_eq!(file, "team-prices.toml");
    assert_eq!(*line, 3);
    let message = error.to_string();
    assert!(
        message.starts_with("invalid pricing file `team-prices.toml` at line 3, column "),
        "{message}"
    );
    assert!(message.contains("fix the value there"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn non_numeric_price_is_a_parse_error_at_its_line() {
    let error = merge("\n\n[prices.\"aws.sns.publishes\"]\nprice = \"cheap\"\n").unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("invalid pricing file `team-prices.toml` at line 4"),
        "{message}"
    );
    assert!(
        message.contains("invalid decimal amount `cheap`"),
        "{message}"
    );
}

#[test]
fn unknown_field_is_a_parse_error() {
    let error = merge("[prices.\"aws.sns.publishes\"]\ncost = \"1\"\n").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("at line 2"), "{message}");
    assert!(message.contains("unknown field `cost`"), "{message}");
}

#[test]
fn negative_price_is_rejected() {
    let error = merge("[prices.\"aws.sns.publishes\"]\nprice = \"-1\"\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid price `aws.sns.publishes` in `team-prices.toml`: negative price `-1`: prices \
         must be zero or more"
    );
}

#[test]
fn read_on_must_be_a_date() {
    let error = merge("read_on = \"last week\"\n[prices.\"aws.sns.publishes\"]\nprice = \"1\"\n")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid price `aws.sns.publishes` in `team-prices.toml`: `read_on` value `last week` is \
         not a date: write the day the price was read as YYYY-MM-DD"
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let error = PriceBook::with_user_file(Path::new("/nonexistent/prices.toml")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "failed to read pricing file `/nonexistent/prices.toml`"
    );
}

#[test]
fn every_builtin_price_has_provenance() {
    let book = PriceBook::built_in();
    for price in book.iter() {
        assert!(!price.unit.is_empty(), "{}: unit", price.key);
        assert!(!price.region.is_empty(), "{}: region", price.key);
        assert!(
            price.source.starts_with("https://"),
            "{}: source",
            price.key
        );
        assert_eq!(price.read_on.len(), 10, "{}: read_on", price.key);
        assert!(
            price.confirmed || price.note.is_some(),
            "{}: an unconfirmed price needs a note",
            price.key
        );
    }
}
