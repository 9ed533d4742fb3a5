use lambda_runtime::{Context, Error};

#[spanbill_instrumentation::handler(name = createOrder)]
async fn handler(_event: serde_json::Value, _context: Context) -> Result<(), Error> {
    Ok(())
}

fn main() {}
