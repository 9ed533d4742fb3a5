use lambda_runtime::Error;

#[spanbill_instrumentation::handler]
async fn handler(_event: serde_json::Value, _context: String) -> Result<(), Error> {
    Ok(())
}

fn main() {}
