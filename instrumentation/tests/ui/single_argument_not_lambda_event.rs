use lambda_runtime::Error;

#[spanbill_instrumentation::handler]
async fn handler(_event: serde_json::Value) -> Result<(), Error> {
    Ok(())
}

fn main() {}
