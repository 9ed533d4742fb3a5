//! Price books: the built-in provider files, user overrides and the lookups the cost model
//! makes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;

/// Built-in provider files, embedded at compile time: (file name, contents).
const BUILT_IN: [(&str, &str); 3] = [
    ("aws.toml", include_str!("../pricing/aws.toml")),
    ("azure.toml", include_str!("../pricing/azure.toml")),
    ("gcp.toml", include_str!("../pricing/gcp.toml")),
];

/// Failure to load or merge a pricing file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PricingError {
    /// The file could not be read.
    #[error("failed to read pricing file `{path}`")]
    Io {
        /// Path of the file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the pricing file layout.
    #[error(
        "invalid pricing file `{file}` at line {line}, column {column}: {message}; fix the \
         value there (prices are decimal strings such as `price = \"0.0000166667\"`)"
    )]
    Parse {
        /// File name or path.
        file: String,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// A user file names a price the model does not have.
    #[error("unknown price `{key}` in `{file}`: use one of the known keys ({known})")]
    UnknownKey {
        /// File name or path.
        file: String,
        /// The unknown key.
        key: String,
        /// Known keys, comma separated.
        known: String,
    },
    /// A price entry is inconsistent (no price, tiers out of order, negative amount).
    #[error("invalid price `{key}` in `{file}`: {problem}")]
    InvalidPrice {
        /// File name or path.
        file: String,
        /// Price key.
        key: String,
        /// Problem and its fix.
        problem: String,
    },
}

/// File a price in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A provider file shipped with spanbill (`aws.toml`, `azure.toml`, `gcp.toml`).
    BuiltIn(&'static str),
    /// A user file passed with `--pricing`.
    User(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BuiltIn(file) => write!(f, "built-in {file}"),
            Self::User(path) => write!(f, "user file {}", path.display()),
        }
    }
}

/// One band of a volume-tiered price: `price` per unit up to the cumulative monthly volume
/// `up_to`, or for all remaining volume when `up_to` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Upper bound of the band in units per month, exclusive of the next band.
    pub up_to: Option<Decimal>,
    /// Price per unit in the band, in the file's currency.
    pub price: Decimal,
}

/// One price in force, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// Full key, `provider.item`, for example `aws.lambda.requests`.
    pub key: String,
    /// Provider name (`aws`, `azure`, `gcp`).
    pub provider: String,
    /// Description of what is priced.
    pub description: String,
    /// Unit the price is per (`request`, `GB-second`).
    pub unit: String,
    /// Currency code.
    pub currency: String,
    /// Region the price applies to.
    pub region: String,
    /// Volume bands, lowest first. A flat price is one band without an upper bound.
    pub tiers: Vec<Tier>,
    /// Units a month that the provider's free tier covers; used only when the caller
    /// switches the free tier on.
    pub free_per_month: Decimal,
    /// Date the price was read from its source (`YYYY-MM-DD`).
    pub read_on: String,
    /// Address of the source.
    pub source: String,
    /// True when the figure was read in the named source; false when no source at hand
    /// showed it.
    pub confirmed: bool,
    /// Caveats about the figure.
    pub note: Option<String>,
    /// File the price came from.
    pub origin: Origin,
}

impl Price {
    /// Returns the price per unit of the first band.
    #[must_use]
    pub fn first_tier_price(&self) -> Decimal {
        self.tiers[0].price
    }

    /// Computes the charge for `quantity` units used in one month, with the first `free`
    /// units of the month free of charge.
    ///
    /// Free units are the month's first units, so they fill the lowest band and still count
    /// toward the volume that moves usage into higher bands.
    #[must_use]
    pub fn monthly_charge(&self, quantity: Decimal, free: Decimal) -> Decimal {
        let mut charge = Decimal::ZERO;
        let mut lower = Decimal::ZERO;
        for tier in &self.tiers {
            let upper = tier.up_to.map_or(quantity, |bound| bound.min(quantity));
            let start = lower.max(free);
            if upper > start {
                charge += (upper - start) * tier.price;
            }
            match tier.up_to {
                Some(bound) if bound < quantity => lower = bound,
                _ => break,
            }
        }
        charge
    }
}

/// The prices in force: the built-in provider files, with any user overrides merged in.
#[derive(Debug, Clone)]
pub struct PriceBook {
    prices: BTreeMap<String, Price>,
}

impl PriceBook {
    /// Loads the built-in provider files.
    ///
    /// # Panics
    ///
    /// Panics if a built-in file is invalid, which the crate's tests rule out.
    #[must_use]
    pub fn built_in() -> Self {
        let mut prices = BTreeMap::new();
        for (name, text) in BUILT_IN {
            let file: RawProviderFile = parse_toml(name, text)
                .unwrap_or_else(|error| panic!("built-in pricing file is invalid: {error}"));
            let defaults = file.defaults();
            for (item, raw) in file.prices {
                let key = format!("{}.{item}", defaults.provider);
                let price = raw
                    .into_price(&key, &defaults, Origin::BuiltIn(name), name)
                    .unwrap_or_else(|error| panic!("built-in pricing file is invalid: {error}"));
                prices.insert(key, price);
            }
        }
        Self { prices }
    }

    /// Loads the built-in files and merges the user file at `path` over them.
    pub fn with_user_file(path: &Path) -> Result<Self, PricingError> {
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut book = Self::built_in();
        book.merge_user_text(path, &text)?;
        Ok(book)
    }

    /// Merges a user pricing file, given as text, over the prices in force.
    ///
    /// Each `[prices."<key>"]` table replaces the fields it sets and keeps the others. A
    /// key the book does not have is an error, so a typo cannot leave a price unchanged.
    pub fn merge_user_text(&mut self, path: &Path, text: &str) -> Result<(), PricingError> {
        let file_name = path.display().to_string();
        let file: RawUserFile = parse_toml(&file_name, text)?;
        for (key, raw) in file.prices {
            let Some(current) = self.prices.get(&key) else {
                return Err(PricingError::UnknownKey {
                    file: file_name,
                    key,
                    known: self.keys().collect::<Vec<_>>().join(", "),
                });
            };
            let defaults = Defaults {
                provider: current.provider.clone(),
                currency: current.currency.clone(),
                region: file
                    .region
                    .clone()
                    .unwrap_or_else(|| current.region.clone()),
                read_on: file.read_on.clone().unwrap_or_default(),
                source: file.source.clone().unwrap_or_else(|| file_name.clone()),
            };
            let merged = raw.merge_over(current, &key, &defaults, path, &file_name)?;
            let date = time::macros::format_description!("[year]-[month]-[day]");
            if !merged.read_on.is_empty() && time::Date::parse(&merged.read_on, &date).is_err() {
                return Err(PricingError::InvalidPrice {
                    file: file_name,
                    problem: format!(
                        "`read_on` value `{}` is not a date: write the day the price was read \
                         as YYYY-MM-DD",
                        merged.read_on
                    ),
                    key,
                });
            }
            self.prices.insert(key, merged);
        }
        Ok(())
    }

    /// Returns the price with `key`.
    ///
    /// # Panics
    ///
    /// Panics if `key` is not in the book. Every key the cost model looks up is in the
    /// built-in files, and user files cannot remove keys.
    #[must_use]
    pub fn price(&self, key: &str) -> &Price {
        self.prices
            .get(key)
            .unwrap_or_else(|| panic!("price `{key}` is missing from the built-in files"))
    }

    /// Returns the price with `key`, if the book has it.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Price> {
        self.prices.get(key)
    }

    /// Iterates over the prices in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Price> {
        self.prices.values()
    }

    /// Iterates over the keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.prices.keys().map(String::as_str)
    }
}

/// Parses TOML, turning a parser error into a one-line error with line and column.
fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, PricingError> {
    toml::from_str(text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start).min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |tail| tail.chars().count())
            + 1;
        PricingError::Parse {
            file: file.to_owned(),
            line,
            column,
            message: error.message().trim().replace('\n', " "),
        }
    })
}

/// A decimal amount written in TOML as a string (`"0.0000166667"`), an integer or a float.
///
/// A float is converted through its shortest decimal form, which is the text the user
/// wrote whenever that text has at most 15 significant digits.
#[derive(Debug, Clone, Copy)]
struct TomlDecimal(Decimal);

impl<'de> Deserialize<'de> for TomlDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Integer(i64),
            Float(f64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            Raw::Integer(value) => value.to_string(),
            Raw::Float(value) => value.to_string(),
        };
        text.trim()
            .parse::<Decimal>()
            .map(Self)
            .map_err(|_| serde::de::Error::custom(format!("invalid decimal amount `{text}`")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    up_to: Option<TomlDecimal>,
    price: TomlDecimal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    description: Option<String>,
    unit: Option<String>,
    price: Option<TomlDecimal>,
    tiers: Option<Vec<RawTier>>,
    free_per_month: Option<TomlDecimal>,
    region: Option<String>,
    read_on: Option<String>,
    source: Option<String>,
    confirmed: Option<bool>,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProviderFile {
    provider: String,
    currency: String,
    region: String,
    read_on: String,
    source: String,
    prices: BTreeMap<String, RawPrice>,
}

impl RawProviderFile {
    fn defaults(&self) -> Defaults {
        Defaults {
            provider: self.provider.clone(),
            currency: self.currency.clone(),
            region: self.region.clone(),
            read_on: self.read_on.clone(),
            source: self.source.clone(),
        }
    }
}

/// A user file: optional file-wide provenance and the prices it overrides, by full key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUserFile {
    region: Option<String>,
    read_on: Option<String>,
    source: Option<String>,
    #[serde(default)]
    prices: BTreeMap<String, RawPrice>,
}

/// File-wide values that a price entry inherits when it does not set them.
struct Defaults {
    provider: String,
    currency: String,
    region: String,
    read_on: String,
    source: String,
}

impl RawPrice {
    fn tiers(&self, key: &str, file: &str) -> Result<Option<Vec<Tier>>, PricingError> {
        let invalid = |problem: &str| PricingError::InvalidPrice {
            file: file.to_owned(),
            key: key.to_owned(),
            problem: problem.to_owned(),
        };
        match (&self.price, &self.tiers) {
            (Some(_), Some(_)) => Err(invalid(
                "both `price` and `tiers` are set: keep one of them",
            )),
            (None, None) => Ok(None),
            (Some(price), None) => Ok(Some(vec![Tier {
                up_to: None,
                price: price.0,
            }])),
            (None, Some(raw_tiers)) => {
                let tiers: Vec<Tier> = raw_tiers
                    .iter()
                    .map(|tier| Tier {
                        up_to: tier.up_to.map(|bound| bound.0),
                        price: tier.price.0,
                    })
                    .collect();
                validate_tiers(&tiers).map_err(|problem| invalid(&problem))?;
                Ok(Some(tiers))
            }
        }
    }

    fn into_price(
        self,
        key: &str,
        defaults: &Defaults,
        origin: Origin,
        file: &str,
    ) -> Result<Price, PricingError> {
        let tiers = self
            .tiers(key, file)?
            .ok_or_else(|| PricingError::InvalidPrice {
                file: file.to_owned(),
                key: key.to_owned(),
                problem: "no `price` or `tiers`: set one of them".to_owned(),
            })?;
        check_price_amounts(&tiers, self.free_per_month.map(|free| free.0), key, file)?;
        Ok(Price {
            key: key.to_owned(),
            provider: defaults.provider.clone(),
            description: self.description.unwrap_or_default(),
            unit: self.unit.unwrap_or_default(),
            currency: defaults.currency.clone(),
            region: self.region.unwrap_or_else(|| defaults.region.clone()),
            tiers,
            free_per_month: self.free_per_month.map_or(Decimal::ZERO, |free| free.0),
            read_on: self.read_on.unwrap_or_else(|| defaults.read_on.clone()),
            source: self.source.unwrap_or_else(|| defaults.source.clone()),
            confirmed: self.confirmed.unwrap_or(false),
            note: self.note,
            origin,
        })
    }

    fn merge_over(
        self,
        current: &Price,
        key: &str,
        defaults: &Defaults,
        path: &Path,
        file: &str,
    ) -> Result<Price, PricingError> {
        let tiers = self
            .tiers(key, file)?
            .unwrap_or_else(|| current.tiers.clone());
        let free = self
            .free_per_month
            .map_or(current.free_per_month, |free| free.0);
        check_price_amounts(&tiers, Some(free), key, file)?;
        Ok(Price {
            key: key.to_owned(),
            provider: defaults.provider.clone(),
            description: self
                .description
                .unwrap_or_else(|| current.description.clone()),
            unit: self.unit.unwrap_or_else(|| current.unit.clone()),
            currency: defaults.currency.clone(),
            region: self.region.unwrap_or_else(|| defaults.region.clone()),
            tiers,
            free_per_month: free,
            read_on: self.read_on.unwrap_or_else(|| defaults.read_on.clone()),
            source: self.source.unwrap_or_else(|| defaults.source.clone()),
            // A user's own figure is taken as read from their source.
            confirmed: self.confirmed.unwrap_or(true),
            note: self.note,
            origin: Origin::User(path.to_owned()),
        })
    }
}

fn validate_tiers(tiers: &[Tier]) -> Result<(), String> {
    let Some((last, bounded)) = tiers.split_last() else {
        return Err("`tiers` is empty: give at least one `{ price = \"...\" }`".to_owned());
    };
    if last.up_to.is_some() {
        return Err(
            "the last tier has `up_to`: leave it out so the tier covers all remaining volume"
                .to_owned(),
        );
    }
    let mut previous = Decimal::ZERO;
    for tier in bounded {
        let Some(bound) = tier.up_to else {
            return Err("only the last tier may leave out `up_to`".to_owned());
        };
        if bound <= previous {
            return Err(format!(
                "tier bound `{bound}` is not above the previous one: list `up_to` values in increasing order"
            ));
        }
        previous = bound;
    }
    Ok(())
}

fn check_price_amounts(
    tiers: &[Tier],
    free: Option<Decimal>,
    key: &str,
    file: &str,
) -> Result<(), PricingError> {
    let negative = tiers.iter().find(|tier| tier.price.is_sign_negative());
    if let Some(tier) = negative {
        return Err(PricingError::InvalidPrice {
            file: file.to_owned(),
            key: key.to_owned(),
            problem: format!(
                "negative price `{}`: prices must be zero or more",
                tier.price
            ),
        });
    }
    if free.is_some_and(|free| free.is_sign_negative()) {
        return Err(PricingError::InvalidPrice {
            file: file.to_owned(),
            key: key.to_owned(),
            problem: "negative `free_per_month`: use zero or more".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn built_in_files_load() {
        let book = PriceBook::built_in();
        let requests = book.price("aws.lambda.requests");
        assert_eq!(requests.first_tier_price(), dec("0.0000002"));
        assert_eq!(requests.region, "us-east-1");
        assert_eq!(requests.origin, Origin::BuiltIn("aws.toml"));
        assert_eq!(book.price("azure.consumption.executions").region, "eastus");
        assert_eq!(book.price("gcp.run_functions.cpu").region, "us-central1");
    }

    #[test]
    fn tiered_charge_crosses_bands() {
        let book = PriceBook::built_in();
        let x86 = book.price("aws.lambda.duration.x86_64");
        assert_eq!(
            x86.monthly_charge(dec("7000000000"), Decimal::ZERO),
            dec("115000.2")
        );
        assert_eq!(
            x86.monthly_charge(dec("6000000000"), Decimal::ZERO),
            dec("100000.2")
        );
    }

    #[test]
    fn free_units_fill_the_first_band() {
        let book = PriceBook::built_in();
        let x86 = book.price("aws.lambda.duration.x86_64");
        assert_eq!(
            x86.monthly_charge(dec("1500000"), dec("400000")),
            dec("18.33337")
        );
        assert_eq!(
            x86.monthly_charge(dec("300000"), dec("400000")),
            Decimal::ZERO
        );
    }

    #[test]
    fn float_and_integer_amounts_parse_exactly() {
        let mut book = PriceBook::built_in();
        book.merge_user_text(
            Path::new("mine.toml"),
            "[prices.\"aws.sqs.requests\"]\nprice = 0.00000035\n\
             [prices.\"aws.xray.traces_recorded\"]\nprice = 0\n",
        )
        .unwrap();
        assert_eq!(
            book.price("aws.sqs.requests").first_tier_price(),
            dec("0.00000035")
        );
        assert_eq!(
            book.price("aws.xray.traces_recorded").first_tier_price(),
            Decimal::ZERO
        );
    }

    #[test]
    fn tiers_out_of_order_are_rejected() {
        let mut book = PriceBook::built_in();
        let error = book
            .merge_user_text(
                Path::new("mine.toml"),
                "[prices.\"aws.lambda.duration.arm64\"]\n\
                 tiers = [{ up_to = 10, price = \"1\" }, { up_to = 5, price = \"1\" }, { price = \"1\" }]\n",
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid price `aws.lambda.duration.arm64` in `mine.toml`: tier bound `5` is not \
             above the previous one: list `up_to` values in increasing order"
        );
    }

    #[test]
    fn price_and_tiers_together_are_rejected() {
        let mut book = PriceBook::built_in();
        let error = book
            .merge_user_text(
                Path::new("mine.toml"),
                "[prices.\"aws.sns.publishes\"]\nprice = \"1\"\ntiers = [{ price = \"1\" }]\n",
            )
            .unwrap_err();
        assert!(
            error.to_string().contains("both `price` and `tiers`"),
            "{error}"
        );
    }
}
