use lambda_runtime::Context;

#[spanbill_instrumentation::handler]
async fn handler(_event: serde_json::Value, _context: Context) {}

fn main() {}
