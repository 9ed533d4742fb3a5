//! Invocations and spans as compact rows, for reports over millions of records.
//!
//! A row contains numbers and small ids. Names (functions, versions, span names) are stored
//! once per table, W3C trace ids are kept as 128-bit numbers, and an invocation's cost is
//! the index of its usage group. Identical invocations of one month cost the same under
//! the average rule of [`crate::lambda`], so a window of millions of invocations is priced
//! as a few thousand groups, and each downstream call kind is priced once.
//!
//! [`TableBuilder`] takes records one by one, so a dataset can be read a partition at a
//! time, and [`TableBuilder::finish`] joins spans with invocations and prices both.

use std::borrow::Cow;
use std::cmp::Ordering;

use rust_decimal::Decimal;
use spanbill_collector::{
    Architecture, BillingEra, InitializationType, Invocation, Source, Status,
};

use crate::aggregate::GroupCost;
use crate::cost::{Basis, BillingMonth};
use crate::downstream::{DownstreamCall, DownstreamCost, price_call};
use crate::lambda::{
    FREE_EPHEMERAL_STORAGE_MB, InvocationCost, LambdaOptions, LambdaUsage, price_invocations,
};
use crate::pricing::PriceBook;
use crate::traces::{TraceSpan, UnitCount};

/// Function name of invocations that do not name theirs.
pub const UNKNOWN: &str = "unknown";

/// Distinct names, each with a small id.
#[derive(Debug, Clone, Default)]
pub struct Names {
    names: Vec<String>,
    ids: foldhash::HashMap<String, u32>,
}

impl Names {
    /// Returns the id of `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct names");
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// Returns the name of `id`.
    #[must_use]
    pub fn get(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// Returns the id of `name`, when present.
    #[must_use]
    pub fn find(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// Returns how many names there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Returns whether there are no names.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A trace id: 32 lowercase hex digits as a number, or any other text by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceId {
    /// A W3C trace id.
    Hex {
        /// First 16 hex digits.
        high: u64,
        /// Last 16 hex digits.
        low: u64,
    },
    /// Text that is not 32 lowercase hex digits, by its id in [`Traces`].
    Other(u32),
}

/// Trace ids that are not 32 lowercase hex digits.
#[derive(Debug, Clone, Default)]
pub struct Traces {
    other: Names,
}

impl Traces {
    /// Returns the id of `text`.
    pub fn intern(&mut self, text: &str) -> TraceId {
        match parse_hex(text) {
            Some((high, low)) => TraceId::Hex { high, low },
            None => TraceId::Other(self.other.intern(text)),
        }
    }

    /// Returns the text of `id`.
    #[must_use]
    pub fn text(&self, id: TraceId) -> Cow<'_, str> {
        match id {
            TraceId::Hex { high, low } => Cow::Owned(format!("{high:016x}{low:016x}")),
            TraceId::Other(index) => Cow::Borrowed(self.other.get(index)),
        }
    }

    /// Returns the [`key_hash`] of `id`.
    #[must_use]
    pub fn hash(&self, id: TraceId) -> u64 {
        match id {
            TraceId::Hex { high, low } => hash_halves(high, low),
            TraceId::Other(index) => key_hash(self.other.get(index)),
        }
    }

    /// Compares two ids in the order of their texts.
    #[must_use]
    pub fn cmp(&self, a: TraceId, b: TraceId) -> Ordering {
        match (a, b) {
            (TraceId::Hex { high, low }, TraceId::Hex { high: h, low: l }) => {
                (high, low).cmp(&(h, l))
            }
            _ => self.text(a).cmp(&self.text(b)),
        }
    }
}

/// Parses 32 lowercase hex digits.
fn parse_hex(text: &str) -> Option<(u64, u64)> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    Some((hex_u64(&bytes[..16])?, hex_u64(&bytes[16..])?))
}

/// One invocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvocationRow {
    /// Function id in [`Tables::functions`]. Invocations without a name get [`UNKNOWN`].
    pub function: u32,
    /// Version id in [`Tables::versions`].
    pub version: Option<u32>,
    /// Start in nanoseconds since the Unix epoch.
    pub start_ns: Option<i64>,
    /// Handler duration in ms.
    pub duration_ms: f64,
    /// Billed duration in ms.
    pub billed_ms: u64,
    /// Init duration in ms, on cold starts.
    pub init_ms: Option<f64>,
    /// Configured memory in MB.
    pub memory_mb: u32,
    /// Maximum memory used in MB.
    pub max_memory_used_mb: u32,
    /// Index of the invocation's cost in [`Tables::costs`].
    pub cost: u32,
    /// Trace: from the invocation's span, else from its X-Ray header.
    pub trace: Option<TraceId>,
    /// Outcome.
    pub status: Status,
    /// Whether it was a cold start.
    pub cold_start: bool,
    /// Whether its billing era bills INIT time.
    pub init_billed: bool,
}

/// One span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanRow {
    /// Trace.
    pub trace: TraceId,
    /// Start in nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// Duration in ms.
    pub duration_ms: f64,
    /// Name id in [`Tables::span_names`].
    pub name: u32,
    /// Function id in [`Tables::functions`].
    pub function: Option<u32>,
    /// Version id in [`Tables::versions`].
    pub version: Option<u32>,
    /// Row of the invocation this span covers, when it covers one in the table.
    pub invocation: Option<u32>,
    /// Index of the priced call the span records, in [`Tables::calls`].
    pub call: Option<u32>,
    /// Whether the span covers a whole invocation (it has `faas.invocation_id`).
    pub is_invocation: bool,
    /// Whether the invocation was triggered by a queue (`faas.trigger` = `pubsub`).
    pub from_queue: bool,
    /// Whether the span's status is error.
    pub error: bool,
}

/// Invocations and spans of a window, priced.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Invocations.
    pub invocations: Vec<InvocationRow>,
    /// Spans.
    pub spans: Vec<SpanRow>,
    /// Function names.
    pub functions: Names,
    /// Version names.
    pub versions: Names,
    /// Span names.
    pub span_names: Names,
    /// Trace ids that are not hex.
    pub traces: Traces,
    /// Usage groups: identical invocations of one month, with their count.
    pub usages: Vec<LambdaUsage>,
    /// The per-invocation cost of each usage group.
    pub costs: Vec<InvocationCost>,
    /// Distinct downstream calls, priced.
    pub calls: Vec<DownstreamCost>,
    /// Spans recording each call of [`Tables::calls`].
    pub call_spans: Vec<u64>,
    /// Business KPI counts.
    pub units: Vec<UnitCount>,
    /// Invocation rows left out of the join because other tables have their request id,
    /// with that request id.
    pub loose_rows: Vec<(u32, String)>,
    /// Spans of invocations left out of the join for the same reason, with the request id
    /// they name.
    pub loose_spans: Vec<(u32, String)>,
}

/// Hashes of the request ids and trace ids that other tables also have. Rows and spans with
/// such a request id are not joined within one table, and traces with such an id are not
/// summed within one table, because the rest of them is elsewhere. See [`key_hash`].
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// Hashes of request ids.
    pub requests: foldhash::HashSet<u64>,
    /// Hashes of trace ids.
    pub traces: foldhash::HashSet<u64>,
    /// Place of these tables in read order among the tables that are merged, such as the day
    /// of a day partition. The join after the merge takes rows and spans in this order.
    pub place: i64,
}

/// Hashes a request id or trace id given as two 64-bit halves, as [`key_hash`] does for
/// its text.
fn hash_halves(high: u64, low: u64) -> u64 {
    let hasher = foldhash::quality::FixedState::with_seed(0x6b65_7973);
    std::hash::BuildHasher::hash_one(&hasher, (high, low))
}

/// Hashes a request id or trace id the same way for every table: a lowercase UUID or W3C
/// trace id by its 128-bit value, any other text by its bytes.
#[must_use]
pub fn key_hash(text: &str) -> u64 {
    if let Some((high, low)) = parse_uuid(text).or_else(|| parse_hex(text)) {
        return hash_halves(high, low);
    }
    let hasher = foldhash::quality::FixedState::with_seed(0x6b65_7973);
    std::hash::BuildHasher::hash_one(&hasher, text)
}

impl Tables {
    /// Builds the tables of records, priced with `book`.
    #[must_use]
    pub fn from_records(
        invocations: &[Invocation],
        spans: &[TraceSpan],
        units: &[UnitCount],
        book: &PriceBook,
        options: LambdaOptions,
    ) -> Self {
        let mut builder = TableBuilder::of_records(invocations, spans);
        builder.units = units.to_vec();
        builder.finish(book, options)
    }

    /// Returns the loose rows without a start. Other tables may repeat them, so they are
    /// counted after a merge, once per record.
    #[must_use]
    pub fn deferred_rows(&self) -> foldhash::HashSet<u32> {
        self.loose_rows
            .iter()
            .map(|(row, _)| *row)
            .filter(|&row| self.invocations[row as usize].start_ns.is_none())
            .collect()
    }

    /// Returns the function name of an id.
    #[must_use]
    pub fn function(&self, id: u32) -> &str {
        self.functions.get(id)
    }

    /// Returns the version name of an id.
    #[must_use]
    pub fn version(&self, id: Option<u32>) -> Option<&str> {
        id.map(|id| self.versions.get(id))
    }

    /// Returns the cost of one invocation.
    #[must_use]
    pub fn cost(&self, row: &InvocationRow) -> &InvocationCost {
        &self.costs[row.cost as usize]
    }

    /// Sums every invocation and downstream call.
    #[must_use]
    pub fn total(&self) -> GroupCost {
        let mut total = GroupCost::default();
        for cost in &self.costs {
            total.add_invocation(cost);
        }
        for (cost, &spans) in self.calls.iter().zip(&self.call_spans) {
            total.add_downstream_times(cost, spans);
        }
        total
    }

    /// Returns the rows of each function, by function id.
    #[must_use]
    pub fn rows_by_function(&self) -> Vec<Vec<u32>> {
        let mut groups = vec![Vec::new(); self.functions.len()];
        for (index, row) in self.invocations.iter().enumerate() {
            groups[row.function as usize].push(index as u32);
        }
        groups
    }
}

/// The fields of one invocation that a table keeps.
#[derive(Debug, Clone)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each flag is a field of the record"
)]
pub struct InvocationFields<'a> {
    /// Lambda request id, for the join with spans.
    pub request_id: &'a str,
    /// Function name.
    pub function: Option<&'a str>,
    /// Version.
    pub version: Option<&'a str>,
    /// Start in nanoseconds since the Unix epoch.
    pub start_ns: Option<i64>,
    /// Handler duration in ms.
    pub duration_ms: f64,
    /// Billed duration in ms.
    pub billed_ms: u64,
    /// Configured memory in MB.
    pub memory_mb: u32,
    /// Maximum memory used in MB.
    pub max_memory_used_mb: u32,
    /// Init duration in ms.
    pub init_ms: Option<f64>,
    /// Whether it restored a SnapStart snapshot.
    pub snapstart_restore: bool,
    /// Outcome.
    pub status: Status,
    /// Cold start.
    pub cold_start: bool,
    /// Billing era.
    pub billing_era: Option<BillingEra>,
    /// Architecture, when known.
    pub architecture: Option<Architecture>,
    /// Region, when known.
    pub region: Option<&'a str>,
    /// Whether it ran on provisioned concurrency.
    pub provisioned: bool,
    /// Whether the billed duration is an estimate (records of the local simulator).
    pub estimated: bool,
    /// W3C trace id from the invocation's X-Ray header.
    pub trace_id: Option<&'a str>,
}

impl<'a> InvocationFields<'a> {
    /// Returns the fields of a record.
    #[must_use]
    pub fn of(invocation: &'a Invocation) -> Self {
        Self {
            request_id: &invocation.request_id,
            function: invocation.function.as_deref(),
            version: invocation.version.as_deref(),
            start_ns: invocation
                .start
                .and_then(|start| i64::try_from(start.unix_timestamp_nanos()).ok()),
            duration_ms: invocation.duration_ms,
            billed_ms: invocation.billed_ms,
            memory_mb: invocation.memory_mb,
            max_memory_used_mb: invocation.max_memory_used_mb,
            init_ms: invocation.init_ms,
            snapstart_restore: invocation.restore_ms.is_some(),
            status: invocation.status,
            cold_start: invocation.cold_start,
            billing_era: invocation.billing_era,
            architecture: invocation.architecture,
            region: invocation.region.as_deref(),
            provisioned: invocation.initialization_type
                == Some(InitializationType::ProvisionedConcurrency),
            estimated: invocation.source == Source::Simulator,
            trace_id: invocation
                .trace
                .as_ref()
                .and_then(|trace| trace.w3c_trace_id.as_deref()),
        }
    }
}

/// The fields of one span that a table keeps.
#[derive(Debug, Clone)]
pub struct SpanFields<'a> {
    /// W3C trace id.
    pub trace_id: &'a str,
    /// Span name.
    pub name: &'a str,
    /// Function: `faas.name`, else `service.name`.
    pub function: Option<&'a str>,
    /// Version: `faas.version`, else `service.version`.
    pub version: Option<&'a str>,
    /// `faas.invocation_id`.
    pub invocation_id: Option<&'a str>,
    /// Whether a queue triggered the invocation.
    pub from_queue: bool,
    /// Start in nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// Duration in ms.
    pub duration_ms: f64,
    /// Error status.
    pub error: bool,
    /// The priced call the span records.
    pub call: Option<&'a DownstreamCall>,
}

/// Fields that decide an invocation's cost: invocations with equal keys cost the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct UsageKey {
    month: Option<BillingMonth>,
    region: Option<u32>,
    architecture: Option<Architecture>,
    memory_mb: u32,
    billed_ms: u64,
    estimated: bool,
    provisioned: bool,
    snapstart_restore: bool,
}

/// Fields that decide a call's cost: calls with equal keys cost the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CallKey {
    service: crate::downstream::Service,
    operation: Option<String>,
    payload_bytes: u64,
    count: u64,
}

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// A request id as a join key. Lambda request ids are lowercase UUIDs, which are kept as their
/// 128-bit value. Any other text is kept by its id among the builder's other request ids.
/// Equal texts give equal keys, so the join matches the same ids as a join on the texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RequestKey {
    /// A lowercase UUID, as its first and last 64 bits.
    Uuid(u64, u64),
    /// Any other text, by id.
    Other(u32),
}

impl RequestKey {
    /// Returns the key of `request_id`, adding it to `others` when it is not a lowercase UUID.
    fn of(request_id: &str, others: &mut Names) -> Self {
        match parse_uuid(request_id) {
            Some((high, low)) => Self::Uuid(high, low),
            None => Self::Other(others.intern(request_id)),
        }
    }
}

impl RequestKey {
    /// Returns the [`key_hash`] of the key's request id.
    fn hash(self, others: &Names) -> u64 {
        match self {
            Self::Uuid(high, low) => hash_halves(high, low),
            Self::Other(id) => key_hash(others.get(id)),
        }
    }

    /// Returns the request id.
    fn text(self, others: &Names) -> String {
        match self {
            Self::Uuid(high, low) => {
                let hex = format!("{high:016x}{low:016x}");
                format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
            }
            Self::Other(id) => others.get(id).to_owned(),
        }
    }
}

/// Parses a lowercase UUID in its 8-4-4-4-12 form into its first and last 64 bits.
fn parse_uuid(text: &str) -> Option<(u64, u64)> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&at| bytes[at] != b'-') {
        return None;
    }
    let mut digits = [0_u8; 32];
    let groups = [
        &bytes[..8],
        &bytes[9..13],
        &bytes[14..18],
        &bytes[19..23],
        &bytes[24..],
    ];
    let mut at = 0;
    for group in groups {
        digits[at..at + group.len()].copy_from_slice(group);
        at += group.len();
    }
    Some((hex_u64(&digits[..16])?, hex_u64(&digits[16..])?))
}

/// Nibble of each lowercase hex digit, and 0xFF for every other byte.
const NIBBLES: [u8; 256] = {
    let mut nibbles = [0xFF_u8; 256];
    let mut digit = 0;
    while digit < 16 {
        let text = b"0123456789abcdef"[digit];
        nibbles[text as usize] = digit as u8;
        digit += 1;
    }
    nibbles
};

/// Parses 16 lowercase hex digits. Reads all 16 before checking them, without a branch per
/// digit, because reports parse tens of millions of ids.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let digits: &[u8; 16] = digits.try_into().ok()?;
    let mut value = 0_u64;
    let mut invalid = 0_u8;
    for &digit in digits {
        let nibble = NIBBLES[usize::from(digit)];
        invalid |= nibble;
        value = value << 4 | u64::from(nibble & 0x0F);
    }
    (invalid & 0xF0 == 0).then_some(value)
}

/// Builds [`Tables`] from records given one by one.
#[derive(Debug, Default)]
pub struct TableBuilder {
    tables: Tables,
    /// Business KPI counts to keep with the tables.
    pub units: Vec<UnitCount>,
    /// The request id of each invocation row.
    request_keys: Vec<RequestKey>,
    /// Spans that cover an invocation, each with the invocation id it names.
    invocation_spans: Vec<(u32, RequestKey)>,
    /// Request ids that are not lowercase UUIDs.
    other_request_ids: Names,
    regions: Names,
    usage_ids: foldhash::HashMap<UsageKey, u32>,
    usage_keys: Vec<UsageKey>,
    usage_counts: Vec<u64>,
    call_ids: foldhash::HashMap<CallKey, u32>,
    call_keys: Vec<CallKey>,
    /// The day and month of the last start seen, since neighbouring rows share them.
    last_day: Option<(i64, BillingMonth)>,
    /// Request ids and trace ids that other tables also have.
    shared: Shared,
}

impl TableBuilder {
    /// Returns a builder with `invocations` and `spans` added.
    #[must_use]
    pub fn of_records(invocations: &[Invocation], spans: &[TraceSpan]) -> Self {
        let mut builder = Self::default();
        builder.reserve(invocations.len(), spans.len());
        for invocation in invocations {
            builder.push_invocation(&InvocationFields::of(invocation));
        }
        for span in spans {
            builder.push_span(&SpanFields {
                trace_id: &span.trace_id,
                name: &span.name,
                function: span.function.as_deref(),
                version: span.version.as_deref(),
                invocation_id: span.invocation_id.as_deref(),
                from_queue: span.trigger.as_deref() == Some("pubsub"),
                start_ns: span.start_ns,
                duration_ms: span.duration_ms,
                error: span.error,
                call: span.downstream.as_ref(),
            });
        }
        builder
    }

    /// Makes room for `invocations` and `spans` more records.
    pub fn reserve(&mut self, invocations: usize, spans: usize) {
        self.tables.invocations.reserve(invocations);
        self.request_keys.reserve(invocations);
        self.tables.spans.reserve(spans);
    }

    /// Adds an invocation.
    pub fn push_invocation(&mut self, fields: &InvocationFields<'_>) {
        let tables = &mut self.tables;
        let function = tables.functions.intern(fields.function.unwrap_or(UNKNOWN));
        let version = fields
            .version
            .map(|version| tables.versions.intern(version));
        let trace = fields.trace_id.map(|trace| tables.traces.intern(trace));
        let month = fields.start_ns.map(|start| {
            let day = start.div_euclid(NANOS_PER_DAY);
            match self.last_day {
                Some((last, month)) if last == day => month,
                _ => {
                    let month = month_of(day);
                    self.last_day = Some((day, month));
                    month
                }
            }
        });
        let key = UsageKey {
            month,
            region: fields.region.map(|region| self.regions.intern(region)),
            architecture: fields.architecture,
            memory_mb: fields.memory_mb,
            billed_ms: fields.billed_ms,
            estimated: fields.estimated,
            provisioned: fields.provisioned,
            snapstart_restore: fields.snapstart_restore,
        };
        let cost = *self.usage_ids.entry(key).or_insert_with(|| {
            self.usage_keys.push(key);
            self.usage_counts.push(0);
            (self.usage_keys.len() - 1) as u32
        });
        self.usage_counts[cost as usize] += 1;
        let request_key = RequestKey::of(fields.request_id, &mut self.other_request_ids);
        self.request_keys.push(request_key);
        tables.invocations.push(InvocationRow {
            function,
            version,
            start_ns: fields.start_ns,
            duration_ms: fields.duration_ms,
            billed_ms: fields.billed_ms,
            init_ms: fields.init_ms,
            memory_mb: fields.memory_mb,
            max_memory_used_mb: fields.max_memory_used_mb,
            cost,
            trace,
            status: fields.status,
            cold_start: fields.cold_start,
            init_billed: fields.billing_era == Some(BillingEra::InitBilled),
        });
    }

    /// Adds a span.
    pub fn push_span(&mut self, fields: &SpanFields<'_>) {
        let tables = &mut self.tables;
        let call = fields.call.map(|call| {
            let key = CallKey {
                service: call.service,
                operation: call.operation.clone(),
                payload_bytes: call.payload_bytes,
                count: call.count,
            };
            if let Some(&id) = self.call_ids.get(&key) {
                return id;
            }
            let id = self.call_keys.len() as u32;
            self.call_keys.push(key.clone());
            self.call_ids.insert(key, id);
            id
        });
        let index = tables.spans.len() as u32;
        if let Some(invocation_id) = fields.invocation_id {
            let request_key = RequestKey::of(invocation_id, &mut self.other_request_ids);
            self.invocation_spans.push((index, request_key));
        }
        tables.spans.push(SpanRow {
            trace: tables.traces.intern(fields.trace_id),
            start_ns: fields.start_ns,
            duration_ms: fields.duration_ms,
            name: tables.span_names.intern(fields.name),
            function: fields.function.map(|name| tables.functions.intern(name)),
            version: fields.version.map(|name| tables.versions.intern(name)),
            invocation: None,
            call,
            is_invocation: fields.invocation_id.is_some(),
            from_queue: fields.from_queue,
            error: fields.error,
        });
    }

    /// Joins spans with invocations by request id and prices invocations and calls.
    ///
    /// An invocation takes the trace of its span (the last one, when several name it),
    /// else keeps the trace of its X-Ray header. Records that repeat one invocation, such as
    /// a file ingested twice, are counted once: they have the same request id, start,
    /// duration, billed duration, memory and function. Lambda retries of an asynchronous
    /// invocation share its request id but start later, so each retry is counted.
    #[must_use]
    pub fn finish(self, book: &PriceBook, options: LambdaOptions) -> Tables {
        self.finish_shared(book, options, Shared::default())
    }

    /// Returns the [`key_hash`] of every request id of the invocations and invocation spans
    /// added so far, and of every trace id of the spans and invocations.
    #[must_use]
    pub fn key_hashes(&self) -> (Vec<u64>, Vec<u64>) {
        let others = &self.other_request_ids;
        let requests = self
            .request_keys
            .iter()
            .chain(self.invocation_spans.iter().map(|(_, key)| key))
            .map(|key| key.hash(others))
            .collect();
        let tables = &self.tables;
        let traces = tables
            .spans
            .iter()
            .map(|span| span.trace)
            .chain(tables.invocations.iter().filter_map(|row| row.trace))
            .map(|trace| tables.traces.hash(trace))
            .collect();
        (requests, traces)
    }

    /// Finishes as [`TableBuilder::finish`] does, but leaves out of the join the rows and
    /// spans whose request id is in `shared`, and lists them in [`Tables::loose_rows`] and
    /// [`Tables::loose_spans`].
    #[must_use]
    pub fn finish_shared(
        mut self,
        book: &PriceBook,
        options: LambdaOptions,
        shared: Shared,
    ) -> Tables {
        self.shared = shared;
        let mut tables = std::mem::take(&mut self.tables);
        crate::timed("request id join", || self.join(&mut tables));
        crate::timed("pricing", || self.price(tables, book, options))
    }

    /// Gives each span that names an invocation the invocation's row, and the invocation the
    /// span's trace, after dropping repeated invocation records.
    fn join(&mut self, tables: &mut Tables) {
        // Spans whose request id other tables have are joined when the tables are merged.
        let mut loose_spans = foldhash::HashSet::default();
        if !self.shared.requests.is_empty() {
            let others = &self.other_request_ids;
            for &(span, key) in &self.invocation_spans {
                if self.shared.requests.contains(&key.hash(others)) {
                    tables.loose_spans.push((span, key.text(others)));
                    loose_spans.insert(span);
                }
            }
        }
        if tables.invocations.is_empty() {
            return;
        }
        // One map of millions of keys misses the cache at almost every lookup. The keys go to
        // buckets by hash instead, each bucket is joined with a map that fits in the cache,
        // and two threads take half of the buckets each.
        let partition = KeyPartition::new(self.request_keys.len());
        let (rows, spans) = std::thread::scope(|scope| {
            let rows = scope.spawn(|| {
                let rows = self.request_keys.iter().enumerate();
                partition.split(rows.map(|(row, &key)| (key, row as u32)))
            });
            let spans =
                partition.split(self.invocation_spans.iter().map(|&(span, key)| (key, span)));
            (
                rows.join().expect("partitioning rows does not panic"),
                spans,
            )
        });
        let half = rows.len() / 2;
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| join_buckets(&rows[half..], &spans[half..]));
            let first = join_buckets(&rows[..half], &spans[..half]);
            (
                first,
                second.join().expect("joining buckets does not panic"),
            )
        });
        let repeated = first.repeated.iter().chain(&second.repeated);
        let dropped = repeated_records(&tables.invocations, &self.request_keys, repeated);
        let new_rows = self.drop_rows(tables, &dropped);
        if !self.shared.requests.is_empty() {
            let others = &self.other_request_ids;
            for (row, key) in self.request_keys.iter().enumerate() {
                let row = row as u32;
                let kept = match &new_rows {
                    None => Some(row),
                    Some(new_rows) => dropped
                        .binary_search(&row)
                        .is_err()
                        .then(|| new_rows[row as usize]),
                };
                if let Some(kept) = kept
                    && self.shared.requests.contains(&key.hash(others))
                {
                    tables.loose_rows.push((kept, key.text(others)));
                }
            }
        }
        // A key is in one bucket only, so applying bucket by bucket keeps the span order that
        // decides which span gives an invocation its trace. Loose spans stay unjoined.
        let matches = first.matches.into_iter().chain(second.matches);
        let matches = matches.filter(|(span, _)| !loose_spans.contains(span));
        for (span, row) in matches {
            let row = new_rows
                .as_ref()
                .map_or(row, |new_rows| new_rows[row as usize]);
            let span = &mut tables.spans[span as usize];
            span.invocation = Some(row);
            tables.invocations[row as usize].trace = Some(span.trace);
        }
    }

    /// Removes the invocation rows `dropped` (ascending) and their usage counts, and returns
    /// the new index of each old row, or `None` when no row was dropped. Matched rows are
    /// never dropped, so they all have a new index.
    fn drop_rows(&mut self, tables: &mut Tables, dropped: &[u32]) -> Option<Vec<u32>> {
        if dropped.is_empty() {
            return None;
        }
        tracing::warn!(
            records = dropped.len(),
            "invocation records that repeat another one (same request id, start and durations) \
             were counted once; the dataset contains them twice, for example from an input \
             ingested twice"
        );
        let mut new_rows = Vec::with_capacity(tables.invocations.len());
        let mut dropped = dropped.iter().peekable();
        // The new index of the next row that stays: the count of rows kept so far.
        let mut kept_rows = 0_u32;
        let mut row = 0_u32;
        tables.invocations.retain(|invocation| {
            let drop = dropped.next_if_eq(&&row).is_some();
            row += 1;
            new_rows.push(kept_rows);
            if drop {
                self.usage_counts[invocation.cost as usize] -= 1;
            } else {
                kept_rows += 1;
            }
            !drop
        });
        Some(new_rows)
    }

    /// Prices the usage groups and the distinct calls.
    fn price(self, mut tables: Tables, book: &PriceBook, options: LambdaOptions) -> Tables {
        tables.usages = self
            .usage_keys
            .iter()
            .zip(&self.usage_counts)
            .map(|(key, &count)| LambdaUsage {
                request_id: String::new(),
                function: None,
                trace_id: None,
                month: key.month,
                region: key.region.map(|id| self.regions.get(id).to_owned()),
                architecture: key.architecture.unwrap_or(Architecture::X86_64),
                architecture_known: key.architecture.is_some(),
                memory_mb: key.memory_mb,
                billed_ms: key.billed_ms,
                basis: if key.estimated {
                    Basis::Estimated
                } else {
                    Basis::Billed
                },
                provisioned: key.provisioned,
                snapstart_restore: key.snapstart_restore,
                ephemeral_storage_mb: FREE_EPHEMERAL_STORAGE_MB,
                count,
            })
            .collect();
        tables.costs = price_invocations(&tables.usages, book, options).invocations;

        let mut call_spans = vec![0_u64; self.call_keys.len()];
        for span in &tables.spans {
            if let Some(call) = span.call {
                call_spans[call as usize] += 1;
            }
        }
        tables.calls = self
            .call_keys
            .into_iter()
            .map(|key| {
                let call = DownstreamCall {
                    trace_id: None,
                    service: key.service,
                    operation: key.operation,
                    payload_bytes: key.payload_bytes,
                    count: key.count,
                };
                price_call(&call, book)
            })
            .collect();
        tables.call_spans = call_spans;
        tables.units = self.units;
        tables
    }
}

/// Buckets of request keys by hash, for a join in parts that fit in the cache.
#[derive(Debug, Clone)]
struct KeyPartition {
    buckets: usize,
    hasher: foldhash::fast::FixedState,
}

impl KeyPartition {
    /// Buckets per million invocations, so that a bucket's map takes about a megabyte.
    const BUCKETS_PER_MILLION: usize = 32;

    fn new(invocations: usize) -> Self {
        Self {
            buckets: (invocations / 1_000_000 + 1) * Self::BUCKETS_PER_MILLION,
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
        }
    }

    /// Splits `(key, index)` pairs into buckets, keeping their order within each.
    fn split(&self, pairs: impl Iterator<Item = (RequestKey, u32)>) -> Vec<Vec<(RequestKey, u32)>> {
        let mut buckets = vec![Vec::new(); self.buckets];
        for (key, index) in pairs {
            let hash = std::hash::BuildHasher::hash_one(&self.hasher, key);
            let bucket = ((u128::from(hash) * self.buckets as u128) >> 64) as usize;
            buckets[bucket].push((key, index));
        }
        buckets
    }
}

/// The matches of a join of some buckets, and the rows whose request id an earlier row had.
#[derive(Debug, Default)]
struct BucketJoin {
    /// (span, row) pairs, in span order within each bucket.
    matches: Vec<(u32, u32)>,
    /// (earlier row, row) pairs of rows with the same request id, in row order.
    repeated: Vec<(u32, u32)>,
}

/// Joins the spans of each bucket with the invocation rows of the same bucket. When several
/// rows have one request id, the last one is matched.
fn join_buckets(rows: &[Vec<(RequestKey, u32)>], spans: &[Vec<(RequestKey, u32)>]) -> BucketJoin {
    let mut join = BucketJoin::default();
    let mut map: foldhash::HashMap<RequestKey, u32> = foldhash::HashMap::default();
    for (rows, spans) in rows.iter().zip(spans) {
        map.clear();
        for &(key, row) in rows {
            if let Some(earlier) = map.insert(key, row) {
                join.repeated.push((earlier, row));
            }
        }
        join.matches.extend(
            spans
                .iter()
                .filter_map(|(key, span)| Some((*span, *map.get(key)?))),
        );
    }
    join
}

/// Returns, in ascending order, the rows that repeat a later row with the same request id,
/// start, duration, billed duration, memory and function. The last of such records is kept,
/// because the join matches spans with the last row of a request id.
fn repeated_records<'a>(
    invocations: &[InvocationRow],
    request_keys: &[RequestKey],
    repeated: impl Iterator<Item = &'a (u32, u32)>,
) -> Vec<u32> {
    // Rows of each request id that more than one row has, in row order.
    let mut groups: foldhash::HashMap<RequestKey, Vec<u32>> = foldhash::HashMap::default();
    for &(earlier, row) in repeated {
        let group = groups
            .entry(request_keys[row as usize])
            .or_insert_with(|| vec![earlier]);
        group.push(row);
    }
    let same_record = |a: &InvocationRow, b: &InvocationRow| {
        a.start_ns == b.start_ns
            && a.duration_ms.to_bits() == b.duration_ms.to_bits()
            && a.billed_ms == b.billed_ms
            && a.memory_mb == b.memory_mb
            && a.function == b.function
    };
    let mut dropped = Vec::new();
    for rows in groups.values() {
        for (position, &row) in rows.iter().enumerate() {
            let record = &invocations[row as usize];
            let later = &rows[position + 1..];
            if later
                .iter()
                .any(|&other| same_record(record, &invocations[other as usize]))
            {
                dropped.push(row);
            }
        }
    }
    dropped.sort_unstable();
    dropped
}

/// Returns the month of a day counted from the Unix epoch.
fn month_of(day: i64) -> BillingMonth {
    let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map_or(time::OffsetDateTime::UNIX_EPOCH, |at| at);
    BillingMonth {
        year: date.year(),
        month: u8::from(date.month()),
    }
}

/// Formats nanoseconds since the Unix epoch as RFC 3339, or as an empty string when out of
/// range.
#[must_use]
pub fn rfc3339(nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Sums a cost over `count` invocations.
#[must_use]
pub fn times(amount: Decimal, count: u64) -> Decimal {
    if count == 1 {
        amount
    } else {
        amount * Decimal::from(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_round_trip() {
        let mut traces = Traces::default();
        let hex = traces.intern("4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(matches!(hex, TraceId::Hex { .. }));
        assert_eq!(traces.text(hex), "4bf92f3577b34da6a3ce929d0e0e4736");
        let upper = traces.intern("4BF92F3577B34DA6A3CE929D0E0E4736");
        assert!(matches!(upper, TraceId::Other(_)));
        assert_eq!(traces.text(upper), "4BF92F3577B34DA6A3CE929D0E0E4736");
        let short = traces.intern("a");
        assert_eq!(traces.intern("a"), short);
        assert_eq!(traces.cmp(short, hex), Ordering::Greater);
        let low = traces.intern("00000000000000000000000000000001");
        assert_eq!(traces.cmp(low, hex), Ordering::Less);
    }

    #[test]
    fn uuid_parses_to_its_bits() {
        assert_eq!(
            parse_uuid("3f1d4a9e-8e7c-4c55-9d2b-0d6f1e2a7b10"),
            Some((0x3f1d_4a9e_8e7c_4c55, 0x9d2b_0d6f_1e2a_7b10))
        );
        assert_eq!(parse_uuid("3F1D4A9E-8E7C-4C55-9D2B-0D6F1E2A7B10"), None);
        assert_eq!(parse_uuid("3f1d4a9e8e7c-4c55-9d2b-0d6f1e2a7b10-"), None);
        assert_eq!(parse_uuid("3f1d4a9e-8e7c-4c55-9d2b-0d6f1e2a7b1"), None);
        assert_eq!(parse_uuid("3f1d4a9e-8e7c-4c55-9d2b-0d6f1e2a7b1g"), None);
    }

    #[test]
    fn request_keys_equal_for_equal_texts() {
        let mut others = Names::default();
        let uuid = "3f1d4a9e-8e7c-4c55-9d2b-0d6f1e2a7b10";
        assert_eq!(
            RequestKey::of(uuid, &mut others),
            RequestKey::of(uuid, &mut others)
        );
        let upper = uuid.to_uppercase();
        assert_eq!(
            RequestKey::of(&upper, &mut others),
            RequestKey::of(&upper, &mut others)
        );
        assert_ne!(
            RequestKey::of(&upper, &mut others),
            RequestKey::of(uuid, &mut others)
        );
        assert_ne!(
            RequestKey::of("req-1", &mut others),
            RequestKey::of("req-2", &mut others)
        );
    }

    fn invocation_fields(request_id: &str) -> InvocationFields<'_> {
        InvocationFields {
            request_id,
            function: Some("createOrder"),
            version: None,
            start_ns: Some(0),
            duration_ms: 10.0,
            billed_ms: 10,
            memory_mb: 128,
            max_memory_used_mb: 64,
            init_ms: None,
            snapstart_restore: false,
            status: Status::Success,
            cold_start: false,
            billing_era: None,
            architecture: None,
            region: None,
            provisioned: false,
            estimated: false,
            trace_id: None,
        }
    }

    fn span_fields<'a>(trace_id: &'a str, invocation_id: &'a str) -> SpanFields<'a> {
        SpanFields {
            trace_id,
            name: "createOrder",
            function: Some("createOrder"),
            version: None,
            invocation_id: Some(invocation_id),
            from_queue: false,
            start_ns: 0,
            duration_ms: 10.0,
            error: false,
            call: None,
        }
    }

    #[test]
    fn join_matches_uuid_and_other_ids() {
        let uuid = "3f1d4a9e-8e7c-4c55-9d2b-0d6f1e2a7b10";
        let trace_a = "4bf92f3577b34da6a3ce929d0e0e4736";
        let trace_b = "00000000000000000000000000000002";
        let mut builder = TableBuilder::default();
        // A span may come before its invocation.
        builder.push_span(&span_fields(trace_a, "req-1"));
        builder.push_invocation(&invocation_fields(uuid));
        builder.push_invocation(&invocation_fields("req-1"));
        builder.push_invocation(&invocation_fields("3F1D4A9E-8E7C-4C55-9D2B-0D6F1E2A7B10"));
        builder.push_span(&span_fields(trace_a, uuid));
        // The last span that names an invocation gives it its trace.
        builder.push_span(&span_fields(trace_b, uuid));
        builder.push_span(&span_fields(trace_b, "req-2"));

        let tables = builder.finish(&PriceBook::built_in(), LambdaOptions::default());

        let joined: Vec<Option<u32>> = tables.spans.iter().map(|span| span.invocation).collect();
        assert_eq!(joined, [Some(1), Some(0), Some(0), None]);
        let trace_of = |row: usize| {
            tables.invocations[row]
                .trace
                .map(|id| tables.traces.text(id))
        };
        assert_eq!(trace_of(0).as_deref(), Some(trace_b));
        assert_eq!(trace_of(1).as_deref(), Some(trace_a));
        assert_eq!(trace_of(2), None);
    }

    #[test]
    fn join_takes_last_duplicate_row() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut builder = TableBuilder::default();
        builder.push_invocation(&invocation_fields("req-1"));
        // A retry of the same request, a second later.
        builder.push_invocation(&InvocationFields {
            start_ns: Some(1_000_000_000),
            ..invocation_fields("req-1")
        });
        builder.push_span(&span_fields(trace, "req-1"));

        let tables = builder.finish(&PriceBook::built_in(), LambdaOptions::default());

        assert_eq!(tables.spans[0].invocation, Some(1));
        assert_eq!(tables.invocations[0].trace, None);
        assert!(tables.invocations[1].trace.is_some());
    }

    #[test]
    fn repeated_records_count_once() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let retry = InvocationFields {
            start_ns: Some(1_000_000_000),
            ..invocation_fields("req-1")
        };
        let mut builder = TableBuilder::default();
        builder.push_invocation(&invocation_fields("req-1"));
        builder.push_invocation(&retry);
        builder.push_invocation(&invocation_fields("req-1"));
        builder.push_invocation(&invocation_fields("req-2"));
        builder.push_invocation(&invocation_fields("req-2"));
        builder.push_span(&span_fields(trace, "req-1"));

        let tables = builder.finish(&PriceBook::built_in(), LambdaOptions::default());

        // The first req-1 record and the first req-2 record repeat later ones.
        let starts: Vec<Option<i64>> = tables.invocations.iter().map(|row| row.start_ns).collect();
        assert_eq!(starts, [Some(1_000_000_000), Some(0), Some(0)]);
        let counted: u64 = tables.usages.iter().map(|usage| usage.count).sum();
        assert_eq!(counted, 3);
        // The span names the last req-1 record, which is now row 1.
        assert_eq!(tables.spans[0].invocation, Some(1));
        assert!(tables.invocations[1].trace.is_some());
        assert_eq!(tables.invocations[0].trace, None);
    }
}
