//! A local Lambda platform: runs the real handlers in-process under Lambda's execution model.
//!
//! Each function has a pool of execution environments. An invocation takes a warm
//! environment when one is free. Otherwise it starts a new one, which runs an init phase and
//! makes the invocation a cold start. Environments idle for longer than
//! [`PlatformSettings::idle_timeout`] are reclaimed, a per-function concurrency limit
//! throttles invocations beyond it, and a handler that runs past the function's timeout is
//! stopped. Every invocation writes START, END and REPORT lines in Lambda's text format to a
//! [`PlatformLog`], billed as Lambda bills: duration rounded up to the millisecond, with the
//! init phase of an on-demand cold start included from 2025-08-01.
//!
//! Time is virtual: an invocation starts at the arrival time the caller gives, and each
//! environment's clock ([`AnchoredClock`]) runs at real speed from there, so a run can cover
//! days of traffic in minutes. Request ids and X-Ray trace ids come from a seeded generator,
//! so a run is reproducible.

mod clock;
mod log;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use spanbill::{Environment, FunctionConfig, InitType, Telemetry};
use spanbill_collector::format;
use spanbill_collector::{
    BillingEra, ColdStartSource, InitializationType, Invocation, MemoryUnit, Source, Status,
    TraceContext,
};

pub use clock::AnchoredClock;
pub use log::PlatformLog;

/// Configuration of one simulated function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Function name.
    pub name: String,
    /// Published version that runs, or `$LATEST`.
    pub version: String,
    /// Memory size in MB.
    pub memory_mb: u32,
    /// Instruction set, which selects the price.
    pub architecture: spanbill::Architecture,
    /// Maximum run time of one invocation.
    pub timeout: Duration,
    /// Maximum number of invocations that run at once; more are throttled.
    pub concurrency_limit: usize,
    /// Runtime start-up time added to the measured init phase of every new environment,
    /// standing in for the process start and runtime bootstrap that an in-process
    /// environment does not have.
    pub simulated_init: Duration,
}

/// Platform-wide settings.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    /// AWS region in ARNs and resource attributes.
    pub region: String,
    /// AWS account id in ARNs.
    pub account: String,
    /// How long an environment may stay idle before it is reclaimed.
    pub idle_timeout: Duration,
    /// Seed for request ids and trace ids.
    pub seed: u64,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_owned(),
            account: "123456789012".to_owned(),
            idle_timeout: Duration::from_mins(10),
            seed: 1,
        }
    }
}

/// Builds the telemetry pipeline of a new execution environment.
pub type TelemetryFactory = Arc<dyn Fn(&FunctionConfig) -> Telemetry + Send + Sync>;

/// Errors that keep an invocation from running.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No function of that name is registered.
    #[error("unknown function `{0}`: register it with `Platform::register` first")]
    UnknownFunction(String),
    /// The function's concurrency limit is reached.
    #[error("function `{function}` throttled: {limit} invocations already running")]
    Throttled {
        /// The function.
        function: String,
        /// Its concurrency limit.
        limit: usize,
    },
    /// Writing the platform log failed.
    #[error("failed to write the platform log of `{function}`")]
    Log {
        /// The function.
        function: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The ways a handler run can fail.
#[derive(Debug)]
pub enum Failure {
    /// The handler returned an error.
    Error(lambda_runtime::Error),
    /// The handler ran past the function's timeout and was stopped.
    Timeout,
}

/// The result of one invocation: the handler's output and the platform's record of it.
#[derive(Debug)]
pub struct Invoked<T> {
    /// The handler's output, or why there is none.
    pub output: Result<T, Failure>,
    /// The platform's record: the values of the REPORT line.
    pub record: Invocation,
}

struct WarmEnvironment {
    environment: Arc<Environment>,
    clock: Arc<AnchoredClock>,
    stream: String,
    idle_since: SystemTime,
}

struct Pool {
    spec: FunctionSpec,
    idle: Vec<WarmEnvironment>,
    running: usize,
}

/// The simulated platform.
pub struct Platform {
    settings: PlatformSettings,
    telemetry: TelemetryFactory,
    log: PlatformLog,
    pools: RwLock<HashMap<String, Arc<Mutex<Pool>>>>,
    random: Mutex<StdRng>,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("settings", &self.settings)
            .field("functions", &self.functions())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Creates a platform with no functions.
    #[must_use]
    pub fn new(settings: PlatformSettings, telemetry: TelemetryFactory, log: PlatformLog) -> Self {
        let random = Mutex::new(StdRng::seed_from_u64(settings.seed));
        Self {
            settings,
            telemetry,
            log,
            pools: RwLock::new(HashMap::new()),
            random,
        }
    }

    /// Adds a function, or deploys a new configuration of one: invocations that arrive
    /// afterwards run in new environments, and the old environments end with the
    /// invocations that still run in them.
    pub fn register(&self, spec: FunctionSpec) {
        let pool = Pool {
            spec: spec.clone(),
            idle: Vec::new(),
            running: 0,
        };
        self.pools
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(spec.name, Arc::new(Mutex::new(pool)));
    }

    /// Returns the configuration `function` runs with now.
    #[must_use]
    pub fn spec(&self, function: &str) -> Option<FunctionSpec> {
        let pools = self.pools.read().unwrap_or_else(PoisonError::into_inner);
        let pool = pools.get(function)?;
        let spec = pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spec
            .clone();
        Some(spec)
    }

    /// Returns the names of the registered functions, sorted.
    #[must_use]
    pub fn functions(&self) -> Vec<String> {
        let pools = self.pools.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = pools.keys().cloned().collect();
        names.sort();
        names
    }

    /// Returns the platform log.
    #[must_use]
    pub fn log(&self) -> &PlatformLog {
        &self.log
    }

    /// Invokes `function` at virtual time `arrival` with `handler`, which receives the
    /// invocation's Lambda context.
    pub async fn invoke<H, Fut, T>(
        &self,
        function: &str,
        arrival: SystemTime,
        handler: H,
    ) -> Result<Invoked<T>, InvokeError>
    where
        H: FnOnce(lambda_runtime::Context) -> Fut,
        Fut: Future<Output = Result<T, lambda_runtime::Error>>,
    {
        let pool = self
            .pools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(function)
            .cloned()
            .ok_or_else(|| InvokeError::UnknownFunction(function.to_owned()))?;
        let pool = pool.as_ref();
        let (spec, warm) = self.acquire(pool, arrival)?;

        let (warm, init_ms) = if let Some(warm) = warm {
            warm.clock.set(arrival);
            (warm, None)
        } else {
            let (warm, init) =
                self.start_environment(&spec, arrival)
                    .map_err(|source| InvokeError::Log {
                        function: function.to_owned(),
                        source,
                    })?;
            (warm, Some(init))
        };

        let result = self.run(&spec, &warm, init_ms, handler).await;
        let (output, record) = match result {
            Ok(done) => done,
            Err(source) => {
                Self::release(pool, warm);
                return Err(InvokeError::Log {
                    function: function.to_owned(),
                    source,
                });
            }
        };
        Self::release(pool, warm);
        Ok(Invoked { output, record })
    }

    /// Takes a warm environment, or room for a new one, within the concurrency limit.
    fn acquire(
        &self,
        pool: &Mutex<Pool>,
        arrival: SystemTime,
    ) -> Result<(FunctionSpec, Option<WarmEnvironment>), InvokeError> {
        let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
        let idle_timeout = self.settings.idle_timeout;
        pool.idle.retain(|warm| {
            arrival.duration_since(warm.idle_since).unwrap_or_default() < idle_timeout
        });
        if pool.running >= pool.spec.concurrency_limit {
            return Err(InvokeError::Throttled {
                function: pool.spec.name.clone(),
                limit: pool.spec.concurrency_limit,
            });
        }
        pool.running += 1;
        // The most recently used environment is the warmest, as Lambda prefers it.
        let warm = pool.idle.pop();
        Ok((pool.spec.clone(), warm))
    }

    fn release(pool: &Mutex<Pool>, mut warm: WarmEnvironment) {
        let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
        pool.running -= 1;
        warm.idle_since = spanbill::clock::Clock::now(&*warm.clock);
        pool.idle.push(warm);
    }

    /// Starts a new execution environment at `arrival` and runs its init phase. Returns the
    /// environment and the init duration in ms.
    fn start_environment(
        &self,
        spec: &FunctionSpec,
        arrival: SystemTime,
    ) -> std::io::Result<(WarmEnvironment, f64)> {
        let stream = self.log_stream(spec, arrival);
        let function = FunctionConfig {
            name: Arc::from(spec.name.as_str()),
            version: Arc::from(spec.version.as_str()),
            memory_mb: spec.memory_mb,
            region: Arc::from(self.settings.region.as_str()),
            architecture: spec.architecture,
            log_group: Arc::from(format!("/aws/lambda/{}", spec.name).as_str()),
            log_stream: Arc::from(stream.as_str()),
        };

        // The init phase is the real work of setting up the environment plus the simulated
        // runtime start-up.
        let clock = Arc::new(AnchoredClock::new(arrival));
        let started = Instant::now();
        let telemetry = (self.telemetry)(&function);
        let init = started.elapsed() + spec.simulated_init;
        let environment = Environment::builder(function)
            .init_type(InitType::OnDemand)
            .clock(clock.clone())
            .telemetry(telemetry)
            .init_started_at(arrival)
            .build();
        clock.set(arrival + init);
        environment.mark_ready();

        let runtime_line = format!(
            "INIT_START Runtime Version: provided:al2023.v100\tRuntime Version ARN: arn:aws:lambda:{}::runtime:{}\n",
            self.settings.region,
            "9d7e2b8a1c4f6e0b3a5d7c9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a"
        );
        self.log
            .write(&spec.name, &stream, arrival, &runtime_line)?;
        let warm = WarmEnvironment {
            environment: Arc::new(environment),
            clock,
            stream,
            idle_since: arrival,
        };
        Ok((warm, init.as_secs_f64() * 1000.0))
    }

    async fn run<H, Fut, T>(
        &self,
        spec: &FunctionSpec,
        warm: &WarmEnvironment,
        init_ms: Option<f64>,
        handler: H,
    ) -> std::io::Result<(Result<T, Failure>, Invocation)>
    where
        H: FnOnce(lambda_runtime::Context) -> Fut,
        Fut: Future<Output = Result<T, lambda_runtime::Error>>,
    {
        let clock: &dyn spanbill::clock::Clock = &*warm.clock;
        let started = clock.now();
        let (request_id, trace) = self.ids(started);
        let context = self.context(spec, warm, &request_id, &trace, started);

        let mut record = Invocation {
            request_id,
            function: Some(spec.name.clone()),
            version: Some(spec.version.clone()),
            start: Some(time::OffsetDateTime::from(started)),
            date: None,
            duration_ms: 0.0,
            billed_ms: 0,
            memory_mb: spec.memory_mb,
            memory_unit: MemoryUnit::Mb,
            max_memory_used_mb: 0,
            init_ms,
            restore_ms: None,
            billed_restore_ms: None,
            status: Status::Success,
            error_type: None,
            out_of_memory: false,
            cold_start: init_ms.is_some(),
            cold_start_source: ColdStartSource::Platform,
            initialization_type: Some(InitializationType::OnDemand),
            architecture: Some(match spec.architecture {
                spanbill::Architecture::X86_64 => spanbill_collector::Architecture::X86_64,
                spanbill::Architecture::Arm64 => spanbill_collector::Architecture::Arm64,
            }),
            region: Some(self.settings.region.clone()),
            account: Some(self.settings.account.clone()),
            trace: TraceContext::from_xray_header(&trace),
            source: Source::Simulator,
            billing_era: Some(BillingEra::for_date(
                time::OffsetDateTime::from(started).date(),
            )),
        };
        self.log.write(
            &spec.name,
            &warm.stream,
            started,
            &format::format_start_line(&record),
        )?;

        let scoped = Environment::scope(Arc::clone(&warm.environment), handler(context));
        let output = match tokio::time::timeout(spec.timeout, scoped).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Failure::Error(error)),
            Err(_) => Err(Failure::Timeout),
        };
        let ended = clock.now();

        let elapsed_ms = ended
            .duration_since(started)
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0;
        record.duration_ms = match output {
            Err(Failure::Timeout) => spec.timeout.as_secs_f64() * 1000.0,
            _ => elapsed_ms,
        };
        match &output {
            Ok(_) => {}
            Err(Failure::Error(_)) => {
                record.status = Status::Error;
                record.error_type = Some("Runtime.HandlerError".to_owned());
            }
            Err(Failure::Timeout) => record.status = Status::Timeout,
        }
        record.billed_ms = billed_ms(&record);
        record.max_memory_used_mb = memory_used_mb(spec, init_ms.is_some());

        self.log.write(
            &spec.name,
            &warm.stream,
            ended,
            &format::format_end_line(&record),
        )?;
        self.log.write(
            &spec.name,
            &warm.stream,
            ended,
            &format::format_report_line(&record),
        )?;
        Ok((output, record))
    }

    fn ids(&self, at: SystemTime) -> (String, String) {
        let mut random = self.random.lock().unwrap_or_else(PoisonError::into_inner);
        let request_id = uuid::Builder::from_random_bytes(random.random())
            .into_uuid()
            .to_string();
        let epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let unique: [u8; 12] = random.random();
        let parent: u64 = random.random::<u64>() | 1;
        let unique = hex(&unique);
        let trace = format!("Root=1-{epoch:08x}-{unique};Parent={parent:016x};Sampled=1");
        (request_id, trace)
    }

    fn context(
        &self,
        spec: &FunctionSpec,
        warm: &WarmEnvironment,
        request_id: &str,
        trace: &str,
        started: SystemTime,
    ) -> lambda_runtime::Context {
        let deadline = started + spec.timeout;
        let mut config = lambda_runtime::Config::default();
        config.function_name.clone_from(&spec.name);
        config.memory = i32::try_from(spec.memory_mb).unwrap_or(i32::MAX);
        config.version.clone_from(&spec.version);
        config.log_stream.clone_from(&warm.stream);
        config.log_group = format!("/aws/lambda/{}", spec.name);

        let mut context = lambda_runtime::Context::default();
        request_id.clone_into(&mut context.request_id);
        context.deadline = deadline
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        context.invoked_function_arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.settings.region, self.settings.account, spec.name
        );
        context.xray_trace_id = Some(trace.to_owned());
        context.env_config = Arc::new(config);
        context
    }

    fn log_stream(&self, spec: &FunctionSpec, at: SystemTime) -> String {
        let date = time::OffsetDateTime::from(at).date();
        let instance: [u8; 16] = self
            .random
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random();
        let instance = hex(&instance);
        format!(
            "{:04}/{:02}/{:02}/[{}]{instance}",
            date.year(),
            u8::from(date.month()),
            date.day(),
            spec.version
        )
    }
}

/// Billed duration as Lambda computes it: the duration rounded up to the millisecond, plus
/// the init phase of an on-demand cold start from 2025-08-01, rounded up together.
fn billed_ms(record: &Invocation) -> u64 {
    let init = match (record.billing_era, record.init_ms) {
        (Some(BillingEra::InitBilled), Some(init_ms)) => init_ms,
        _ => 0.0,
    };
    (record.duration_ms + init).ceil() as u64
}

/// Memory the simulated runtime reports as used.
///
/// NOTE: in-process environments share one heap, so this is a model, not a measurement:
/// a fixed runtime footprint, a little more after init, capped at the memory size.
fn memory_used_mb(spec: &FunctionSpec, cold: bool) -> u32 {
    let footprint = if cold { 38 } else { 41 };
    footprint.min(spec.memory_mb)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            // Writing to a `String` cannot fail.
            let _ = write!(text, "{byte:02x}");
            text
        })
}
