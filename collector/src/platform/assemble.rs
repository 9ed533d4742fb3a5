//! Pairing of platform events into invocations by RequestId.
//!
//! Events are never paired by position: execution environments interleave in one log, so a
//! REPORT can follow another request's START. Facts that name no request (INIT_START,
//! INIT_REPORT, RESTORE_REPORT) belong to an execution environment, which is known when the
//! input carries log stream names (one stream per environment).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::invocation::{
    BillingEra, ColdStartSource, InitializationType, Invocation, MemoryUnit, Source, Status,
    TraceContext,
};

use super::ReadOptions;
use super::error::{FieldProblem, Location, ReadError};
use super::event::{CrashEvidence, EventContext, PlatformEvent, ReportFields};
use super::names::{LambdaArn, LogStreamName, parse_log_group};
use super::summary::{DateSource, InputFormat, ReadSummary, SkipReason};

/// Error types that mean the runtime process ended without returning a response.
const CRASH_ERROR_TYPES: &[&str] = &["Runtime.ExitError", "Runtime.OutOfMemory"];

/// State of one execution environment (one log stream).
#[derive(Debug, Default)]
struct Environment {
    region: Option<String>,
    function_name: Option<String>,
    version: Option<String>,
    initialization_type: Option<InitializationType>,
    /// `instanceMaxMemory` of `platform.initStart`.
    memory: Option<(u32, MemoryUnit)>,
    /// Slots started and not yet reported, by slot index.
    open: BTreeSet<usize>,
    /// An invoke-phase INIT_REPORT logged before its request's START.
    pending_init_invoke: Option<InitInvoke>,
    /// A RESTORE_REPORT waiting for the first request after the restore.
    pending_restore_ms: Option<f64>,
}

#[derive(Debug, Clone)]
struct InitInvoke {
    duration_ms: Option<f64>,
    failed: bool,
    error_type: Option<String>,
}

/// Everything known about one invocation of one request id.
#[derive(Debug)]
struct Slot {
    request_id: String,
    stream: Option<Arc<str>>,
    log_group: Option<Arc<str>>,
    owner: Option<Arc<str>>,
    start_time: Option<OffsetDateTime>,
    end_time: Option<OffsetDateTime>,
    report_time: Option<OffsetDateTime>,
    version: Option<String>,
    function_arn: Option<String>,
    report: Option<(ReportFields, Source)>,
    report_location: Option<Location>,
    trace: Option<TraceContext>,
    runtime_status: Option<Status>,
    runtime_error_type: Option<String>,
    crash: CrashEvidence,
    init_invoke: Option<InitInvoke>,
    restore_ms: Option<f64>,
}

impl Slot {
    fn new(request_id: String, context: &EventContext) -> Self {
        Self {
            request_id,
            stream: context.stream.clone(),
            log_group: context.log_group.clone(),
            owner: context.owner.clone(),
            start_time: None,
            end_time: None,
            report_time: None,
            version: None,
            function_arn: None,
            report: None,
            report_location: None,
            trace: None,
            runtime_status: None,
            runtime_error_type: None,
            crash: CrashEvidence::default(),
            init_invoke: None,
            restore_ms: None,
        }
    }
}

/// Collects platform events and turns them into invocations at the end of the input.
#[derive(Debug)]
pub(crate) struct Assembler<'a> {
    options: &'a ReadOptions,
    slots: Vec<Slot>,
    /// Latest slot of each request id. Lambda reuses the request id when it retries an
    /// asynchronous invocation, so one id can own several slots.
    latest: HashMap<String, usize>,
    environments: HashMap<Option<Arc<str>>, Environment>,
    pub(crate) summary: ReadSummary,
}

impl<'a> Assembler<'a> {
    pub(crate) fn new(options: &'a ReadOptions, format: InputFormat) -> Self {
        Self {
            options,
            slots: Vec::new(),
            latest: HashMap::new(),
            environments: HashMap::new(),
            summary: ReadSummary::new(format),
        }
    }

    pub(crate) fn skip(&mut self, reason: SkipReason) {
        self.summary.skip(reason);
    }

    /// Records a recoverable problem, or returns it when the read is strict.
    pub(crate) fn problem(
        &mut self,
        reason: SkipReason,
        error: ReadError,
    ) -> Result<(), ReadError> {
        if self.options.strict {
            return Err(error);
        }
        self.summary.skip(reason);
        self.summary.problem_count += 1;
        if self.summary.problems.len() < self.options.limits.max_problems {
            self.summary.problems.push(error);
        }
        Ok(())
    }

    pub(crate) fn handle(&mut self, context: &EventContext, event: PlatformEvent) {
        match event {
            PlatformEvent::Start {
                request_id,
                version,
                function_arn,
                trace,
            } => self.start(context, &request_id, version, function_arn, trace),
            PlatformEvent::End { request_id } => {
                let index = self.slot(&request_id, context, false);
                self.slots[index].end_time = self.slots[index].end_time.or(context.time);
            }
            PlatformEvent::Report {
                fields,
                from_record,
            } => {
                let source = if from_record {
                    Source::PlatformReport
                } else {
                    Source::ReportLine
                };
                self.report(context, fields, source);
            }
            PlatformEvent::RuntimeDone {
                request_id,
                status,
                error_type,
                trace,
            } => {
                let index = self.slot(&request_id, context, false);
                let slot = &mut self.slots[index];
                slot.runtime_status = slot.runtime_status.or(status);
                slot.runtime_error_type = slot.runtime_error_type.take().or(error_type);
                slot.trace = slot.trace.take().or(trace);
            }
            PlatformEvent::InitStart {
                runtime_version_arn,
                initialization_type,
                function_name,
                version,
                memory,
            } => {
                let environment = self.environments.entry(context.stream.clone()).or_default();
                let region = runtime_version_arn
                    .as_deref()
                    .and_then(LambdaArn::parse)
                    .and_then(|arn| arn.region.map(str::to_owned));
                environment.region = region.or(environment.region.take());
                environment.initialization_type =
                    initialization_type.or(environment.initialization_type);
                environment.function_name = function_name.or(environment.function_name.take());
                environment.version = version.or(environment.version.take());
                environment.memory = memory.or(environment.memory);
            }
            PlatformEvent::InitReport {
                invoke_phase,
                duration_ms,
                failed,
                error_type,
            } => {
                if invoke_phase {
                    let init = InitInvoke {
                        duration_ms,
                        failed,
                        error_type,
                    };
                    self.init_in_invoke_phase(context, init);
                }
            }
            PlatformEvent::RestoreReport { duration_ms } => {
                // A restore precedes the first request of its environment, which only a
                // stream name can identify.
                if context.stream.is_some() {
                    let environment = self.environments.entry(context.stream.clone()).or_default();
                    environment.pending_restore_ms = duration_ms;
                }
            }
            PlatformEvent::Crash {
                request_id,
                evidence,
            } => {
                let index = self.slot(&request_id, context, false);
                let crash = &mut self.slots[index].crash;
                crash.crashed |= evidence.crashed;
                crash.timed_out |= evidence.timed_out;
                crash.error_type = crash.error_type.take().or(evidence.error_type);
            }
            PlatformEvent::LogsDropped { records, bytes } => {
                let dropped = &mut self.summary.logs_dropped;
                dropped.reports += 1;
                dropped.records = dropped.records.saturating_add(records);
                dropped.bytes = dropped.bytes.saturating_add(bytes);
            }
            PlatformEvent::Extension(state) => self.summary.extensions.push(state),
        }
    }

    /// Returns the slot that an event about `request_id` belongs to, creating one when
    /// needed. A START after a REPORT opens a new slot: the request was retried.
    fn slot(&mut self, request_id: &str, context: &EventContext, starts: bool) -> usize {
        if let Some(&index) = self.latest.get(request_id) {
            let reported = self.slots[index].report.is_some();
            if !(starts && reported) {
                let slot = &mut self.slots[index];
                slot.stream = slot.stream.take().or_else(|| context.stream.clone());
                slot.log_group = slot.log_group.take().or_else(|| context.log_group.clone());
                slot.owner = slot.owner.take().or_else(|| context.owner.clone());
                return index;
            }
        }
        self.slots.push(Slot::new(request_id.to_owned(), context));
        let index = self.slots.len() - 1;
        self.latest.insert(request_id.to_owned(), index);
        index
    }

    fn start(
        &mut self,
        context: &EventContext,
        request_id: &str,
        version: Option<String>,
        function_arn: Option<String>,
        trace: Option<TraceContext>,
    ) {
        let index = self.slot(request_id, context, true);
        let slot = &mut self.slots[index];
        slot.start_time = slot.start_time.or(context.time);
        slot.version = slot.version.take().or(version);
        slot.function_arn = slot.function_arn.take().or(function_arn);
        slot.trace = slot.trace.take().or(trace);

        let environment = self.environments.entry(context.stream.clone()).or_default();
        environment.open.insert(index);
        if let Some(init) = environment.pending_init_invoke.take() {
            slot.init_invoke = Some(init);
        }
        if let Some(restore_ms) = environment.pending_restore_ms.take() {
            slot.restore_ms = Some(restore_ms);
        }
    }

    fn report(&mut self, context: &EventContext, fields: ReportFields, source: Source) {
        if let Some(&index) = self.latest.get(&fields.request_id)
            && let Some((existing, _)) = &self.slots[index].report
        {
            if *existing == fields && self.slots[index].report_time == context.time {
                self.skip(SkipReason::DuplicateReport);
                return;
            }
            // A second, different REPORT for the same id is a retried invocation.
            self.slots
                .push(Slot::new(fields.request_id.clone(), context));
            self.latest
                .insert(fields.request_id.clone(), self.slots.len() - 1);
        }
        let index = self.slot(&fields.request_id, context, false);
        let slot = &mut self.slots[index];
        slot.report_time = context.time;
        slot.report = Some((fields, source));
        slot.report_location = Some(context.location.clone());

        let key = slot.stream.clone();
        if let Some(environment) = self.environments.get_mut(&key) {
            environment.open.remove(&index);
        }
    }

    /// Gives an invoke-phase INIT_REPORT to the request running in its environment. Without
    /// a stream name the environment is unknown, so the report is used only when exactly one
    /// request of the input is open.
    fn init_in_invoke_phase(&mut self, context: &EventContext, init: InitInvoke) {
        let environment = self.environments.entry(context.stream.clone()).or_default();
        let target = if context.stream.is_some() {
            environment.open.last().copied()
        } else if environment.open.len() == 1 {
            environment.open.first().copied()
        } else {
            None
        };
        match target {
            Some(index) => self.slots[index].init_invoke = Some(init),
            None if context.stream.is_some() => environment.pending_init_invoke = Some(init),
            None => self.summary.skip(SkipReason::UnattributedInitReport),
        }
    }

    /// Builds the invocations and completes the summary. `date_source` is the origin of the
    /// dates of time-of-day lines. Records with no time at all take [`ReadOptions::date`].
    pub(crate) fn finish(
        mut self,
        date_source: DateSource,
    ) -> Result<(Vec<Invocation>, ReadSummary), ReadError> {
        let input_region = self.single_region();
        let slots = std::mem::take(&mut self.slots);
        let mut invocations = Vec::new();
        let mut timeless = false;
        for slot in slots {
            if slot.report.is_none() {
                self.summary.requests_without_report.push(slot.request_id);
                continue;
            }
            let slot_timeless =
                slot.start_time.is_none() && slot.end_time.is_none() && slot.report_time.is_none();
            match self.build(slot, input_region.as_deref()) {
                Ok(invocation) => {
                    timeless |= slot_timeless;
                    invocations.push(invocation);
                }
                Err(error) => self.problem(SkipReason::InvalidReport, error)?,
            }
        }
        self.summary.invocations = invocations.len();
        self.summary.date_source = match (date_source, self.options.date) {
            (DateSource::Timestamps, Some(date)) if timeless => DateSource::Option(date),
            (DateSource::Timestamps, None) if timeless => DateSource::Unknown,
            (other, _) => other,
        };
        Ok((invocations, self.summary))
    }

    /// Returns the region when every region named in the input is the same one. A log group
    /// belongs to one region, so this region also applies to environments whose INIT_START
    /// was not captured.
    fn single_region(&self) -> Option<String> {
        let mut regions = BTreeSet::new();
        for environment in self.environments.values() {
            regions.extend(environment.region.clone());
        }
        for slot in &self.slots {
            let arn = slot.function_arn.as_deref().and_then(LambdaArn::parse);
            regions.extend(arn.and_then(|arn| arn.region).map(str::to_owned));
            let group = slot.log_group.as_deref().and_then(parse_log_group);
            regions.extend(group.and_then(|(_, region)| region).map(str::to_owned));
        }
        if regions.len() == 1 {
            regions.pop_first()
        } else {
            None
        }
    }

    fn build(&self, mut slot: Slot, input_region: Option<&str>) -> Result<Invocation, ReadError> {
        let (report, source) = slot.report.take().expect("only reported slots are built");
        let environment = self.environments.get(&slot.stream);
        let Some((memory_mb, memory_unit)) = report
            .memory
            .or(environment.and_then(|environment| environment.memory))
        else {
            return Err(ReadError::InvalidPlatformReport {
                location: slot
                    .report_location
                    .expect("reported slots have a location"),
                problem: FieldProblem::Missing("memorySizeMB"),
            });
        };
        // Values that no Lambda REPORT carries: a bill below the time run, or no memory.
        let impossible = if memory_mb == 0 {
            Some(FieldProblem::invalid(
                "Memory Size",
                "0 MB",
                "a memory size above 0 MB",
            ))
        } else if (report.billed_ms as f64) < report.duration_ms.floor() {
            Some(FieldProblem::invalid(
                "Billed Duration",
                &format!("{} ms", report.billed_ms),
                "at least the Duration, which Lambda rounds up to bill",
            ))
        } else {
            None
        };
        if let Some(problem) = impossible {
            return Err(ReadError::InvalidPlatformReport {
                location: slot
                    .report_location
                    .expect("reported slots have a location"),
                problem,
            });
        }
        let identity = self.identity(&slot, environment, input_region);

        let start = slot.start_time.or_else(|| {
            let nanoseconds = (report.duration_ms * 1e6).round() as i64;
            slot.end_time
                .or(slot.report_time)
                .and_then(|end| end.checked_sub(Duration::nanoseconds(nanoseconds)))
        });
        let date = start
            .or(slot.report_time)
            .map(OffsetDateTime::date)
            .or(self.options.date);

        let initialization_type =
            environment.and_then(|environment| environment.initialization_type);
        let init_ms = report
            .init_ms
            .or(slot.init_invoke.as_ref().and_then(|init| init.duration_ms));
        let restore_ms = report.restore_ms.or(slot.restore_ms);
        let init_on_request_path = (report.init_ms.is_some() || restore_ms.is_some())
            && initialization_type != Some(InitializationType::ProvisionedConcurrency);
        let cold_start = slot.init_invoke.is_some() || init_on_request_path;

        let outcome = Outcome::of(&report, &slot, memory_mb);

        Ok(Invocation {
            request_id: report.request_id,
            function: identity.function,
            version: identity.version,
            start,
            date: if start.is_none() { date } else { None },
            duration_ms: report.duration_ms,
            billed_ms: report.billed_ms,
            memory_mb,
            memory_unit,
            max_memory_used_mb: report.max_memory_used_mb,
            init_ms,
            restore_ms,
            billed_restore_ms: report.billed_restore_ms,
            status: outcome.status,
            error_type: outcome.error_type,
            out_of_memory: outcome.out_of_memory,
            cold_start,
            cold_start_source: ColdStartSource::Platform,
            initialization_type,
            architecture: self.options.architecture,
            region: identity.region,
            account: identity.account,
            trace: report.trace.or(slot.trace),
            source,
            billing_era: date.map(BillingEra::for_date),
        })
    }

    /// Names the function, version, region and account of a slot from the most specific
    /// source that has them: the function ARN, the log group, the log stream, the
    /// environment's INIT_START, the input as a whole, and last the read options.
    fn identity(
        &self,
        slot: &Slot,
        environment: Option<&Environment>,
        input_region: Option<&str>,
    ) -> Identity {
        let arn = slot.function_arn.as_deref().and_then(LambdaArn::parse);
        let group = slot.log_group.as_deref().and_then(parse_log_group);
        let stream = slot.stream.as_deref().and_then(LogStreamName::parse);

        let function = arn
            .as_ref()
            .and_then(|arn| arn.function)
            .or(group.map(|(function, _)| function))
            .or(stream.as_ref().and_then(|stream| stream.function))
            .or(environment.and_then(|environment| environment.function_name.as_deref()))
            .or(self.options.function.as_deref())
            .map(str::to_owned);
        let version = slot
            .version
            .clone()
            .or(arn
                .as_ref()
                .and_then(|arn| arn.qualifier.map(str::to_owned)))
            .or(stream.as_ref().map(|stream| stream.version.to_owned()))
            .or(environment.and_then(|environment| environment.version.clone()));
        let region = arn
            .as_ref()
            .and_then(|arn| arn.region)
            .or(group.and_then(|(_, region)| region))
            .or(environment.and_then(|environment| environment.region.as_deref()))
            .or(input_region)
            .or(self.options.region.as_deref())
            .map(str::to_owned);
        let account = arn
            .as_ref()
            .and_then(|arn| arn.account)
            .or(slot
                .owner
                .as_deref()
                .filter(|owner| !owner.is_empty() && owner.bytes().all(|b| b.is_ascii_digit())))
            .map(str::to_owned);
        Identity {
            function,
            version,
            region,
            account,
        }
    }
}

#[derive(Debug)]
struct Identity {
    function: Option<String>,
    version: Option<String>,
    region: Option<String>,
    account: Option<String>,
}

/// Final status of an invocation, from its REPORT and the crash, timeout and runtime
/// records that name it.
#[derive(Debug)]
struct Outcome {
    status: Status,
    error_type: Option<String>,
    out_of_memory: bool,
}

impl Outcome {
    /// Derives the outcome. A REPORT `Status` wins. Without one, a timeout line, a crash line, the runtime's own
    /// status and a failed init in the invoke phase decide, in that order. Out of memory is
    /// inferred when a crash used all configured memory.
    fn of(report: &ReportFields, slot: &Slot, memory_mb: u32) -> Self {
        let error_type = report
            .error_type
            .clone()
            .or(slot.runtime_error_type.clone())
            .or(slot.crash.error_type.clone())
            .or(slot
                .init_invoke
                .as_ref()
                .and_then(|init| init.error_type.clone()));
        let status = report.status.unwrap_or_else(|| {
            if slot.crash.timed_out {
                Status::Timeout
            } else if slot.crash.crashed {
                Status::Error
            } else if let Some(status) = slot.runtime_status {
                status
            } else if slot.init_invoke.as_ref().is_some_and(|init| init.failed) {
                Status::Error
            } else {
                Status::Success
            }
        });
        let crashed = slot.crash.crashed
            || error_type
                .as_deref()
                .is_some_and(|error_type| CRASH_ERROR_TYPES.contains(&error_type));
        let out_of_memory = error_type.as_deref() == Some("Runtime.OutOfMemory")
            || (status == Status::Error && crashed && report.max_memory_used_mb >= memory_mb);
        Self {
            status,
            error_type,
            out_of_memory,
        }
    }
}
