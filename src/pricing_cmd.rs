//! The `spanbill pricing` command: the prices in force and where each one came from.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use spanbill_reports::cost::format_amount;
use spanbill_reports::pricing::{Price, PriceBook};

/// Flags of `spanbill pricing`.
#[derive(Debug, Args)]
pub(crate) struct PricingArgs {
    /// TOML file whose `[prices."<key>"]` tables override built-in prices, field by field.
    #[arg(long, value_name = "FILE")]
    pricing: Option<PathBuf>,
    /// Show only the prices for this region, such as `us-east-1`.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Output format of `spanbill pricing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One block of text per price.
    Table,
    /// A JSON array; amounts are decimal strings, so no digit is lost.
    Json,
}

/// Runs `spanbill pricing`.
pub(crate) fn run(args: &PricingArgs) -> anyhow::Result<()> {
    let book = match &args.pricing {
        Some(path) => PriceBook::with_user_file(path)?,
        None => PriceBook::built_in(),
    };
    let prices: Vec<&Price> = book
        .iter()
        .filter(|price| {
            args.region
                .as_ref()
                .is_none_or(|region| &price.region == region)
        })
        .collect();
    if let (Some(region), true) = (&args.region, prices.is_empty()) {
        let mut known: Vec<&str> = book.iter().map(|price| price.region.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        bail!(
            "no prices for region `{region}`: the prices in force cover {}; pass a --pricing \
             file that sets `region = \"{region}\"` with the prices for it",
            known.join(", ")
        );
    }

    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Table => write_table(&mut out, &prices)?,
        Format::Json => {
            let rows: Vec<serde_json::Value> = prices.iter().map(|price| to_json(price)).collect();
            // Rendered first, so a closed pipe surfaces as an I/O error that main ignores.
            let text = serde_json::to_string_pretty(&rows)?;
            writeln!(out, "{text}")?;
        }
    }
    Ok(())
}

fn write_table(out: &mut impl std::io::Write, prices: &[&Price]) -> std::io::Result<()> {
    let width = prices
        .iter()
        .map(|price| price.key.len())
        .max()
        .unwrap_or(0);
    for price in prices {
        let free = if price.free_per_month.is_zero() {
            String::new()
        } else {
            format!(
                ", {} free a month when the free tier is on",
                format_amount(price.free_per_month)
            )
        };
        writeln!(
            out,
            "{:width$}  {} {} per {}{free}, {}",
            price.key,
            describe_tiers(price),
            price.currency,
            price.unit,
            price.region,
        )?;
        let status = if price.confirmed {
            "confirmed"
        } else {
            "not confirmed"
        };
        writeln!(
            out,
            "{:width$}  from {}, read {} at {} ({status})",
            "", price.origin, price.read_on, price.source,
        )?;
        if let Some(note) = &price.note {
            writeln!(out, "{:width$}  note: {note}", "")?;
        }
    }
    Ok(())
}

/// Formats tiers as `0.0000166667 up to 6000000000, 0.000015 up to 15000000000, then
/// 0.0000133334`, or a flat price as the amount alone.
fn describe_tiers(price: &Price) -> String {
    if let [single] = price.tiers.as_slice() {
        return format_amount(single.price);
    }
    let parts: Vec<String> = price
        .tiers
        .iter()
        .map(|tier| match tier.up_to {
            Some(bound) => format!(
                "{} up to {}",
                format_amount(tier.price),
                format_amount(bound)
            ),
            None => format!("then {}", format_amount(tier.price)),
        })
        .collect();
    parts.join(", ")
}

fn to_json(price: &Price) -> serde_json::Value {
    let tiers: Vec<serde_json::Value> = price
        .tiers
        .iter()
        .map(|tier| {
            serde_json::json!({
                "up_to": tier.up_to.map(format_amount),
                "price": format_amount(tier.price),
            })
        })
        .collect();
    serde_json::json!({
        "key": price.key,
        "provider": price.provider,
        "description": price.description,
        "unit": price.unit,
        "currency": price.currency,
        "region": price.region,
        "tiers": tiers,
        "free_per_month": format_amount(price.free_per_month),
        "read_on": price.read_on,
        "source": price.source,
        "confirmed": price.confirmed,
        "note": price.note,
        "origin": price.origin.to_string(),
    })
}
