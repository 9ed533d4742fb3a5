//! The `#[spanbill::handler]` attribute. Use it through `spanbill-instrumentation`, whose
//! documentation describes what the generated code records.
//!
//! The macro works in three phases: [`args`] parses the attribute's arguments, [`validate`]
//! checks the function they are attached to, and [`expand`] writes the wrapper. Every error
//! points at the token that caused it, and several errors are reported together.

use proc_macro::TokenStream;

mod args;
mod expand;
mod validate;

/// Wraps an async Lambda handler with an OpenTelemetry invocation span, cold-start marking,
/// KPI metrics and a flush before the handler returns.
///
/// Two signatures are accepted:
///
/// - `async fn(event: E, context: lambda_runtime::Context) -> Result<T, Err>`
/// - `async fn(event: lambda_runtime::LambdaEvent<E>) -> Result<T, Err>`
///
/// Arguments, all optional:
///
/// - `name = "..."`: the span name (default: the Lambda function name);
/// - `trigger = "http" | "pubsub" | "datasource" | "timer" | "other"` (default: from the event
///   type);
/// - `kpi(counter = "orders.created", unit = "{order}", description = "...")` or
///   `kpi(histogram = "order.value", unit = "USD")`, once per KPI.
#[proc_macro_attribute]
pub fn handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let function = match syn::parse::<syn::ItemFn>(item) {
        Ok(function) => function,
        Err(error) => {
            // Emit the item unchanged so the compiler reports the user's own syntax error.
            let error = error.to_compile_error();
            return quote::quote!(#error #item2).into();
        }
    };

    let args = match syn::parse::Parser::parse(args::HandlerArgs::parse_terminated, attr) {
        Ok(args) => args,
        Err(error) => return with_function(&error, &function),
    };
    match validate::check(&function).map(|shape| expand::expand(&args, &function, &shape)) {
        Ok(tokens) => tokens.into(),
        Err(error) => with_function(&error, &function),
    }
}

fn with_function(error: &syn::Error, function: &syn::ItemFn) -> TokenStream {
    let error = error.to_compile_error();
    quote::quote!(#error #function).into()
}
