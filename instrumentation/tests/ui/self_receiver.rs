use lambda_runtime::Error;

struct Service;

impl Service {
    #[spanbill_instrumentation::handler]
    async fn handler(&self, _event: serde_json::Value) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
