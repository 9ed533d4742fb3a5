//! Helpers shared by the report tests.

use spanbill_collector::Invocation;
use spanbill_collector::platform::{ReadOptions, read_file};

/// Returns a real invocation record, from a CloudWatch Logs subscription sample, for tests
/// to change with struct update syntax.
pub(crate) fn template() -> Invocation {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cloudwatch_subscription_lambda_event_decoded.json");
    read_file(&path, &ReadOptions::default())
        .unwrap()
        .invocations
        .remove(0)
}
