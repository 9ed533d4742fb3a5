//! The execution environment an invocation runs in: function configuration, initialisation
//! type and cold-start state.

use std::env;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use opentelemetry::StringValue;

use crate::clock::{self, SharedClock};
use crate::telemetry::Telemetry;

/// The way Lambda initialised the execution environment, from
/// `AWS_LAMBDA_INITIALIZATION_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitType {
    /// Initialised for the request that is waiting for it (`on-demand`).
    OnDemand,
    /// Initialised ahead of traffic (`provisioned-concurrency`); no request waits for it.
    ProvisionedConcurrency,
    /// Restored from a SnapStart snapshot (`snap-start`); the first request waits for the
    /// restore, not for the function's init code.
    SnapStart,
    /// Lambda Managed Instances (`lambda-managed-instances`): environments are started ahead of
    /// traffic, so no request waits for initialisation.
    ManagedInstances,
}

impl InitType {
    /// Parses the value of `AWS_LAMBDA_INITIALIZATION_TYPE`; `None` for an unknown value.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "on-demand" => Some(Self::OnDemand),
            "provisioned-concurrency" => Some(Self::ProvisionedConcurrency),
            "snap-start" => Some(Self::SnapStart),
            "lambda-managed-instances" => Some(Self::ManagedInstances),
            _ => None,
        }
    }

    /// Returns the value as Lambda spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDemand => "on-demand",
            Self::ProvisionedConcurrency => "provisioned-concurrency",
            Self::SnapStart => "snap-start",
            Self::ManagedInstances => "lambda-managed-instances",
        }
    }

    /// Returns whether the first request of such an environment waits for its init phase.
    #[must_use]
    pub fn first_request_waits(self) -> bool {
        matches!(self, Self::OnDemand | Self::SnapStart)
    }
}

/// Instruction set architecture of the function, which selects the GB-second price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `x86_64`.
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Architecture {
    /// Returns the architecture this binary was compiled for.
    #[must_use]
    pub fn of_this_build() -> Self {
        if cfg!(target_arch = "aarch64") {
            Self::Arm64
        } else {
            Self::X86_64
        }
    }

    /// Returns the name Lambda and the OpenTelemetry `host.arch` attribute use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

/// Static configuration of the function, as Lambda sets it in the environment.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: Arc<str>,
    /// `AWS_LAMBDA_FUNCTION_VERSION` (`$LATEST` or a published version number).
    pub version: Arc<str>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: u32,
    /// `AWS_REGION`.
    pub region: Arc<str>,
    /// Architecture of the running binary.
    pub architecture: Architecture,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub log_group: Arc<str>,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`, which names the execution environment instance.
    pub log_stream: Arc<str>,
}

impl FunctionConfig {
    /// Reads the configuration from Lambda's environment variables, with neutral values for
    /// the ones that are missing (as when a handler runs outside Lambda).
    #[must_use]
    pub fn from_env() -> Self {
        let var = |key: &str, fallback: &str| -> Arc<str> {
            env::var(key).map_or_else(|_| Arc::from(fallback), Arc::from)
        };
        let memory_mb = env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(128);
        Self {
            name: var("AWS_LAMBDA_FUNCTION_NAME", "unknown_function"),
            version: var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            memory_mb,
            region: var("AWS_REGION", "us-east-1"),
            architecture: Architecture::of_this_build(),
            log_group: var("AWS_LAMBDA_LOG_GROUP_NAME", ""),
            log_stream: var("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        }
    }

    /// Returns the memory size in bytes, the unit of the `faas.max_memory` attribute.
    #[must_use]
    pub fn memory_bytes(&self) -> i64 {
        i64::from(self.memory_mb) * 1024 * 1024
    }
}

/// An environment that became ready this long before its first request was initialised
/// proactively by Lambda, so that request did not wait for it.
pub const PROACTIVE_INIT_THRESHOLD: Duration = Duration::from_secs(10);

/// The outcome of cold-start detection for one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart {
    /// Whether this request waited for the environment to initialise (`faas.coldstart`).
    pub cold: bool,
    /// Whether this was the environment's first request after Lambda initialised it ahead
    /// of time without provisioned concurrency.
    pub proactive: bool,
    /// The init phase (start, ready) as this process saw it, for the init span. Only set for
    /// an on-demand cold start; a SnapStart restore happens outside the process's view.
    pub init_phase: Option<(SystemTime, SystemTime)>,
}

/// One execution environment: its function configuration, initialisation type, clock,
/// telemetry and cold-start state.
///
/// On Lambda there is one environment per process, built from the environment variables
/// ([`Environment::global`]). A simulated platform that runs several environments in one
/// process builds one per environment and runs each invocation inside
/// [`Environment::scope`].
#[derive(Debug)]
pub struct Environment {
    function: FunctionConfig,
    init_type: InitType,
    clock: SharedClock,
    telemetry: Option<Telemetry>,
    init_started_at: SystemTime,
    ready_at: OnceLock<SystemTime>,
    invoked: AtomicBool,
    last_arn: Mutex<Option<InvokedArn>>,
}

/// An invoked function ARN and the account in it, kept because every invocation of an
/// environment usually carries the same ARN.
#[derive(Debug, Clone)]
struct InvokedArn {
    arn: StringValue,
    account: Option<StringValue>,
}

tokio::task_local! {
    static CURRENT: Arc<Environment>;
}

static GLOBAL: OnceLock<Arc<Environment>> = OnceLock::new();

impl Environment {
    /// Starts building an environment for `function`.
    #[must_use]
    pub fn builder(function: FunctionConfig) -> EnvironmentBuilder {
        EnvironmentBuilder {
            function,
            init_type: InitType::OnDemand,
            clock: clock::system(),
            telemetry: None,
            init_started_at: None,
        }
    }

    /// Returns the process-wide environment, read from Lambda's environment variables on
    /// first use.
    ///
    /// The first call also marks the start of the init phase, so call it (or set up
    /// [`Telemetry`]) early in `main`.
    pub fn global() -> &'static Arc<Environment> {
        GLOBAL.get_or_init(|| {
            let init_type = env::var("AWS_LAMBDA_INITIALIZATION_TYPE")
                .ok()
                .and_then(|value| InitType::parse(&value))
                .unwrap_or(InitType::OnDemand);
            Arc::new(
                Environment::builder(FunctionConfig::from_env())
                    .init_type(init_type)
                    .build(),
            )
        })
    }

    /// Returns the environment of the running task: the one set by [`Environment::scope`],
    /// otherwise the global one.
    #[must_use]
    pub fn current() -> Arc<Environment> {
        CURRENT
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Arc::clone(Self::global()))
    }

    /// Runs `future` with `environment` as the current environment.
    pub async fn scope<F: Future>(environment: Arc<Environment>, future: F) -> F::Output {
        CURRENT.scope(environment, future).await
    }

    /// Returns the function's configuration.
    #[must_use]
    pub fn function(&self) -> &FunctionConfig {
        &self.function
    }

    /// Returns how the environment was initialised.
    #[must_use]
    pub fn init_type(&self) -> InitType {
        self.init_type
    }

    /// Returns the environment's clock.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Returns the telemetry this environment exports to, if it has its own.
    #[must_use]
    pub fn telemetry(&self) -> Option<&Telemetry> {
        self.telemetry.as_ref()
    }

    /// Marks the end of the init phase: the environment is ready for its first request.
    ///
    /// Without a call, the init phase ends when the first request arrives.
    pub fn mark_ready(&self) {
        let _ = self.ready_at.set(self.clock.now());
    }

    /// Returns the invoked ARN and the account id in it as attribute values, or `None` for
    /// an empty ARN.
    pub(crate) fn invoked_arn(&self, arn: &str) -> Option<(StringValue, Option<StringValue>)> {
        if arn.is_empty() {
            return None;
        }
        let mut last = self.last_arn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = last.as_ref().filter(|known| known.arn.as_str() == arn) {
            return Some((known.arn.clone(), known.account.clone()));
        }
        let account = arn
            .split(':')
            .nth(4)
            .filter(|account| !account.is_empty())
            .map(|account| StringValue::from(Arc::<str>::from(account)));
        let known = InvokedArn {
            arn: StringValue::from(Arc::<str>::from(arn)),
            account,
        };
        let parts = (known.arn.clone(), known.account.clone());
        *last = Some(known);
        Some(parts)
    }

    /// Decides whether the invocation starting `now` is a cold start, and consumes the
    /// environment's first-request state.
    pub fn take_cold_start(&self, now: SystemTime) -> ColdStart {
        let first = !self.invoked.swap(true, Ordering::AcqRel);
        if !first || !self.init_type.first_request_waits() {
            return ColdStart {
                cold: false,
                proactive: false,
                init_phase: None,
            };
        }
        if self.init_type == InitType::SnapStart {
            return ColdStart {
                cold: true,
                proactive: false,
                init_phase: None,
            };
        }

        let ready = *self.ready_at.get_or_init(|| now);
        let idle = now.duration_since(ready).unwrap_or_default();
        if idle >= PROACTIVE_INIT_THRESHOLD {
            return ColdStart {
                cold: false,
                proactive: true,
                init_phase: None,
            };
        }
        ColdStart {
            cold: true,
            proactive: false,
            init_phase: Some((self.init_started_at, ready)),
        }
    }
}

/// Builder for an [`Environment`].
#[derive(Debug)]
pub struct EnvironmentBuilder {
    function: FunctionConfig,
    init_type: InitType,
    clock: SharedClock,
    telemetry: Option<Telemetry>,
    init_started_at: Option<SystemTime>,
}

impl EnvironmentBuilder {
    /// Sets how the environment was initialised (default: on demand).
    #[must_use]
    pub fn init_type(mut self, init_type: InitType) -> Self {
        self.init_type = init_type;
        self
    }

    /// Sets the clock for span timestamps (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the telemetry this environment exports to (default: the global telemetry).
    #[must_use]
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Sets when the init phase started (default: when `build` is called).
    #[must_use]
    pub fn init_started_at(mut self, at: SystemTime) -> Self {
        self.init_started_at = Some(at);
        self
    }

    /// Builds the environment.
    #[must_use]
    pub fn build(self) -> Environment {
        let init_started_at = self.init_started_at.unwrap_or_else(|| self.clock.now());
        Environment {
            function: self.function,
            init_type: self.init_type,
            clock: self.clock,
            telemetry: self.telemetry,
            init_started_at,
            ready_at: OnceLock::new(),
            invoked: AtomicBool::new(false),
            last_arn: Mutex::new(None),
        }
    }
}
