//! Writing the wrapper around a validated handler.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{FnArg, Ident, ItemFn, LitStr, PatType};

use crate::args::{HandlerArgs, KpiKind};
use crate::validate::Shape;

/// Returns the path of the runtime crate as the user's crate names it.
fn runtime_crate() -> TokenStream {
    match crate_name("spanbill-instrumentation") {
        Ok(FoundCrate::Name(name)) => {
            let ident = Ident::new(&name, Span::call_site());
            quote!(::#ident)
        }
        // Inside the runtime crate's own tests, benches and doc tests it is an external crate.
        Ok(FoundCrate::Itself) | Err(_) => quote!(::spanbill_instrumentation),
    }
}

fn trigger_variant(trigger: &LitStr) -> Ident {
    let variant = match trigger.value().as_str() {
        "http" => "Http",
        "pubsub" => "PubSub",
        "datasource" => "Datasource",
        "timer" => "Timer",
        _ => "Other",
    };
    Ident::new(variant, trigger.span())
}

/// Writes the statics that hold what the attribute declares.
fn handler_meta(args: &HandlerArgs, private: &TokenStream) -> TokenStream {
    let optional = |value: Option<TokenStream>| {
        value.map_or_else(
            || quote!(::core::option::Option::None),
            |value| quote!(::core::option::Option::Some(#value)),
        )
    };
    let span_name = optional(args.name.as_ref().map(|name| quote!(#name)));
    let trigger = optional(args.trigger.as_ref().map(|trigger| {
        let variant = trigger_variant(trigger);
        quote!(#private::Trigger::#variant)
    }));
    let kpis = args.kpis.iter().map(|kpi| {
        let name = &kpi.name;
        let kind = match kpi.kind {
            KpiKind::Counter => quote!(#private::KpiKind::Counter),
            KpiKind::Histogram => quote!(#private::KpiKind::Histogram),
        };
        let unit = kpi.unit.as_ref().map_or_else(|| quote!(""), |unit| quote!(#unit));
        let description = kpi
            .description
            .as_ref()
            .map_or_else(|| quote!(""), |text| quote!(#text));
        quote!(#private::KpiSpec { name: #name, kind: #kind, unit: #unit, description: #description })
    });
    quote! {
        static __SPANBILL_KPIS: &[#private::KpiSpec] = &[#(#kpis),*];
        static __SPANBILL_HANDLER: #private::HandlerMeta = #private::HandlerMeta {
            span_name: #span_name,
            trigger: #trigger,
            kpis: __SPANBILL_KPIS,
        };
    }
}

/// Writes the closure that turns the handler's result into an outcome.
fn describe_result(private: &TokenStream) -> TokenStream {
    quote! {
        |__spanbill_result| {
            #[allow(unused_imports)]
            use #private::{
                DescribeAnyError as _, DescribeAnyResponse as _, DescribeError as _,
                DescribeResponse as _,
            };
            match __spanbill_result {
                ::core::result::Result::Ok(__spanbill_value) => #private::Outcome::success(
                    (&&#private::Probe(__spanbill_value)).describe_response(),
                ),
                ::core::result::Result::Err(__spanbill_error) => {
                    (&&#private::Probe(__spanbill_error)).describe_error()
                }
            }
        }
    }
}

pub(crate) fn expand(args: &HandlerArgs, function: &ItemFn, shape: &Shape) -> TokenStream {
    let krate = runtime_crate();
    let private = quote!(#krate::__private);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;

    // The user's function, unchanged, becomes an inner function that the wrapper calls.
    let inner_name = format_ident!("__spanbill_{}", sig.ident);
    let mut inner_sig = sig.clone();
    inner_sig.ident = inner_name.clone();

    // The wrapper keeps the signature with plain argument names, so patterns in the
    // user's arguments stay in the inner function.
    let mut outer_sig = sig.clone();
    let mut arg_names = Vec::new();
    for (index, input) in outer_sig.inputs.iter_mut().enumerate() {
        if let FnArg::Typed(PatType { pat, attrs, .. }) = input {
            let name = format_ident!("__spanbill_arg{index}");
            attrs.clear();
            **pat = syn::parse_quote!(#name);
            arg_names.push(name);
        }
    }

    let (event_and_context, call) = match shape {
        Shape::LambdaEvent => {
            let event = &arg_names[0];
            (
                quote! {
                    let (__spanbill_payload, __spanbill_context) =
                        #private::SplitLambdaEvent::split(&#event);
                },
                quote!(#inner_name(#event)),
            )
        }
        Shape::EventAndContext => {
            let (event, context) = (&arg_names[0], &arg_names[1]);
            (
                quote! {
                    let __spanbill_payload = &#event;
                    let __spanbill_context = #private::AsLambdaContext::as_lambda_context(&#context);
                },
                quote!(#inner_name(#event, #context)),
            )
        }
    };
    let meta = handler_meta(args, &private);
    let describe = describe_result(&private);

    quote! {
        #(#attrs)*
        #vis #outer_sig {
            #[allow(clippy::all, clippy::pedantic)]
            #inner_sig #block

            #meta

            let __spanbill_invocation = {
                #[allow(unused_imports)]
                use #private::{DescribeAnyEvent as _, DescribeEvent as _};
                #event_and_context
                let __spanbill_event_info =
                    (&&#private::Probe(__spanbill_payload)).describe_event();
                #private::Invocation::start(&__SPANBILL_HANDLER, __spanbill_context, __spanbill_event_info)
            };
            __spanbill_invocation.run(#call, #describe).await
        }
    }
}
