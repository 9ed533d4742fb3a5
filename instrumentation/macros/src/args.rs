//! Parsing and checking the attribute's arguments.

use std::collections::HashSet;

use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, MetaNameValue, Token};

/// The `faas.trigger` values the attribute accepts.
pub(crate) const TRIGGERS: &[&str] = &["http", "pubsub", "datasource", "timer", "other"];

/// The parsed arguments of `#[handler(...)]`.
#[derive(Default)]
pub(crate) struct HandlerArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) trigger: Option<LitStr>,
    pub(crate) kpis: Vec<Kpi>,
}

/// One `kpi(...)` argument.
pub(crate) struct Kpi {
    pub(crate) kind: KpiKind,
    pub(crate) name: LitStr,
    pub(crate) unit: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
}

#[derive(Clone, Copy)]
pub(crate) enum KpiKind {
    Counter,
    Histogram,
}

/// Adds `error` to the errors collected so far.
fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(first) => first.combine(error),
        None => *errors = Some(error),
    }
}

fn string_value(value: &Expr, what: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(text.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{what}` takes a string literal, such as `{what} = \"...\"`"),
        )),
    }
}

impl HandlerArgs {
    pub(crate) fn parse_terminated(input: ParseStream<'_>) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut args = HandlerArgs::default();
        let mut errors = None;
        let mut kpi_names = HashSet::new();

        for meta in metas {
            let key = meta
                .path()
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match (key.as_str(), &meta) {
                ("name", Meta::NameValue(MetaNameValue { value, .. })) => {
                    match string_value(value, "name").and_then(|name| non_empty(name, "name")) {
                        Ok(name) if args.name.is_none() => args.name = Some(name),
                        Ok(_) => push(
                            &mut errors,
                            syn::Error::new_spanned(&meta, "duplicate argument `name`"),
                        ),
                        Err(error) => push(&mut errors, error),
                    }
                }
                ("trigger", Meta::NameValue(MetaNameValue { value, .. })) => {
                    match string_value(value, "trigger").and_then(check_trigger) {
                        Ok(trigger) if args.trigger.is_none() => args.trigger = Some(trigger),
                        Ok(_) => push(
                            &mut errors,
                            syn::Error::new_spanned(&meta, "duplicate argument `trigger`"),
                        ),
                        Err(error) => push(&mut errors, error),
                    }
                }
                ("kpi", Meta::List(list)) => match list.parse_args_with(Kpi::parse) {
                    Ok(kpi) => {
                        if kpi_names.insert(kpi.name.value()) {
                            args.kpis.push(kpi);
                        } else {
                            let message = format!("duplicate KPI `{}`", kpi.name.value());
                            push(&mut errors, syn::Error::new_spanned(&kpi.name, message));
                        }
                    }
                    Err(error) => push(&mut errors, error),
                },
                ("name" | "trigger", _) => push(
                    &mut errors,
                    syn::Error::new_spanned(&meta, format!("expected `{key} = \"...\"`")),
                ),
                ("kpi", _) => push(
                    &mut errors,
                    syn::Error::new_spanned(
                        &meta,
                        "expected `kpi(counter = \"...\")` or `kpi(histogram = \"...\")`",
                    ),
                ),
                _ => push(
                    &mut errors,
                    syn::Error::new_spanned(
                        meta.path(),
                        "unknown argument; expected `name`, `trigger` or `kpi`",
                    ),
                ),
            }
        }
        errors.map_or(Ok(args), Err)
    }
}

fn non_empty(text: LitStr, what: &str) -> syn::Result<LitStr> {
    if text.value().trim().is_empty() {
        return Err(syn::Error::new_spanned(
            &text,
            format!("`{what}` must not be empty"),
        ));
    }
    Ok(text)
}

fn check_trigger(trigger: LitStr) -> syn::Result<LitStr> {
    if TRIGGERS.contains(&trigger.value().as_str()) {
        return Ok(trigger);
    }
    let message = format!(
        "unknown trigger `{}`; expected one of `http`, `pubsub`, `datasource`, `timer`, `other`",
        trigger.value()
    );
    Err(syn::Error::new_spanned(&trigger, message))
}

/// Checks an OpenTelemetry instrument name: an ASCII letter, then up to 254 ASCII letters,
/// digits, `_`, `.`, `-` or `/`.
fn check_instrument_name(name: &LitStr) -> syn::Result<()> {
    let value = name.value();
    let mut chars = value.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    if valid_start && valid_rest && value.len() <= 255 {
        return Ok(());
    }
    let message = format!(
        "invalid KPI name `{value}`: an instrument name starts with an ASCII letter and \
         continues with up to 254 letters, digits, `_`, `.`, `-` or `/`"
    );
    Err(syn::Error::new_spanned(name, message))
}

impl Kpi {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let span = input.span();
        let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated(input)?;
        let mut kind_and_name: Option<(KpiKind, LitStr)> = None;
        let mut unit = None;
        let mut description = None;
        let mut errors = None;

        for pair in pairs {
            let key = pair
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let value = match string_value(&pair.value, &key) {
                Ok(value) => value,
                Err(error) => {
                    push(&mut errors, error);
                    continue;
                }
            };
            let slot_taken = match key.as_str() {
                "counter" | "histogram" => {
                    let kind = if key == "counter" {
                        KpiKind::Counter
                    } else {
                        KpiKind::Histogram
                    };
                    if let Err(error) = check_instrument_name(&value) {
                        push(&mut errors, error);
                    }
                    kind_and_name.replace((kind, value)).is_some()
                }
                "unit" => unit.replace(value).is_some(),
                "description" => description.replace(value).is_some(),
                _ => {
                    let message = "unknown KPI argument; expected `counter`, `histogram`, `unit` or `description`";
                    push(&mut errors, syn::Error::new_spanned(&pair.path, message));
                    false
                }
            };
            if slot_taken {
                let message = if key == "counter" || key == "histogram" {
                    "a KPI has one kind: `counter` or `histogram`".to_owned()
                } else {
                    format!("duplicate KPI argument `{key}`")
                };
                push(&mut errors, syn::Error::new_spanned(&pair.path, message));
            }
        }

        if let Some(error) = errors {
            return Err(error);
        }
        let Some((kind, name)) = kind_and_name else {
            return Err(syn::Error::new(
                span,
                "missing KPI kind: add `counter = \"...\"` or `histogram = \"...\"`",
            ));
        };
        Ok(Kpi {
            kind,
            name,
            unit,
            description,
        })
    }
}
