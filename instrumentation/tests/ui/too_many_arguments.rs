use lambda_runtime::{Context, Error};

#[spanbill_instrumentation::handler]
async fn handler(_event: serde_json::Value, _context: Context, _extra: u32) -> Result<(), Error> {
    Ok(())
}

fn main() {}
