//! Checks on the function the attribute is attached to.

use syn::spanned::Spanned as _;
use syn::{FnArg, ItemFn, ReturnType};

/// The accepted signature that the handler has.
pub(crate) enum Shape {
    /// `async fn(event: LambdaEvent<E>)`.
    LambdaEvent,
    /// `async fn(event: E, context: Context)`.
    EventAndContext,
}

pub(crate) fn check(function: &ItemFn) -> syn::Result<Shape> {
    let signature = &function.sig;
    let mut errors: Vec<syn::Error> = Vec::new();

    if signature.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            signature.fn_token,
            "`#[spanbill::handler]` requires an `async fn`",
        ));
    }
    if let ReturnType::Default = signature.output {
        errors.push(syn::Error::new(
            signature.paren_token.span.close(),
            "a handler returns `Result<T, E>`; add a return type",
        ));
    }
    if let Some(variadic) = &signature.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a handler cannot be variadic",
        ));
    }
    for input in &signature.inputs {
        if let FnArg::Receiver(receiver) = input {
            errors.push(syn::Error::new_spanned(
                receiver,
                "a handler is a free function; move it out of the `impl` block or drop `self`",
            ));
        }
    }

    let shape = match signature.inputs.len() {
        1 => Some(Shape::LambdaEvent),
        2 => Some(Shape::EventAndContext),
        count => {
            let span = if count == 0 {
                signature.paren_token.span.join()
            } else {
                signature.inputs.span()
            };
            errors.push(syn::Error::new(
                span,
                format!(
                    "a handler takes `(event, context)` or `(event: LambdaEvent<T>)`, \
                     found {count} arguments"
                ),
            ));
            None
        }
    };

    let mut errors = errors.into_iter();
    match (errors.next(), shape) {
        (None, Some(shape)) => Ok(shape),
        (Some(mut first), _) => {
            for error in errors {
                first.combine(error);
            }
            Err(first)
        }
        (None, None) => unreachable!("a missing shape always records an error"),
    }
}
