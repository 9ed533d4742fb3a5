use lambda_runtime::{Context, Error};

#[spanbill_instrumentation::handler]
async fn handler(_event: serde_json::Value, _context: Context) -> Result<(), Error> {
    let _total: u32 = "not a number";
    Ok(())
}

fn main() {}
