use lambda_runtime::Error;

#[spanbill_instrumentation::handler]
async fn handler() -> Result<(), Error> {
    Ok(())
}

fn main() {}
