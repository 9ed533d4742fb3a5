//! Traffic for the local platform: a seeded stream of orders over days, with the variety of
//! a real shop, carried through all three functions, and the deploys a scenario schedules.
//!
//! Orders arrive at a rate that follows the time of day. About 4% reuse an earlier
//! idempotency key, 3% are invalid, 3% are declined by the payment gateway, a few products
//! run out of stock, and bursts of concurrent orders force new environments. After each
//! arrival the queues are drained through handlePayment and updateInventory, as Lambda's
//! SQS event source would, with up to 10 messages a batch. A trace that re-enters
//! handlePayment more than [`MAX_RECURSIVE_INVOCATIONS`] times is stopped, as Lambda's
//! recursive loop detection stops it.

use std::collections::{BTreeMap, HashMap};
use std::f64::consts::PI;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::bus::{self, InMemoryBus, QueueSettings};
use crate::clock::{Clock as _, ManualClock};
use crate::handlers;
use crate::payment::{BreakerSettings, PaymentClient, RetryPolicy, SandboxGateway};
use crate::platform::{Failure, InvokeError, Platform};
use crate::service::OrderService;
use crate::store::{Store, StoreError};

/// Invocations of one function within one trace after which Lambda stops a recursive loop
/// through SQS (AWS Lambda recursive loop detection, 2023: "approximately 16").
pub const MAX_RECURSIVE_INVOCATIONS: usize = 16;

/// Charges above this many cents are declined by the scenario's payment gateway.
pub const DECLINE_ABOVE_CENTS: i64 = 90_000;

/// A change of the code a function runs, at a point of the scenario.
#[derive(Debug, Clone)]
pub struct Deploy {
    /// Time since the start of the scenario.
    pub after: Duration,
    /// The function.
    pub function: String,
    /// The version it runs from then on.
    pub version: String,
}

/// The traffic and deploys of a scenario.
#[derive(Debug, Clone)]
pub struct ScenarioSettings {
    /// Seed of the traffic.
    pub seed: u64,
    /// Virtual time of the first arrival.
    pub start: SystemTime,
    /// Length of the scenario in virtual time.
    pub duration: Duration,
    /// Average orders per hour over a day.
    pub orders_per_hour: f64,
    /// Products in the catalog. The stock table has one row for each.
    pub catalog_size: u32,
    /// Time between bursts of concurrent orders; `None` for no bursts.
    pub burst_every: Option<Duration>,
    /// Orders in one burst.
    pub burst_size: usize,
    /// Deploys, in any order.
    pub deploys: Vec<Deploy>,
}

/// The counts of what a scenario did.
#[derive(Debug, Default)]
pub struct ScenarioSummary {
    /// createOrder requests sent.
    pub requests: usize,
    /// createOrder responses by HTTP status.
    pub responses: BTreeMap<i64, usize>,
    /// Invocations by function and version.
    pub invocations: BTreeMap<(String, String), usize>,
    /// Invocations the concurrency limit throttled.
    pub throttled: usize,
    /// Messages dropped by recursive loop detection.
    pub loops_stopped: usize,
    /// Deploys carried out, with the virtual time they took effect.
    pub deployed: Vec<(SystemTime, String, String)>,
}

/// The state of a running scenario, passed to the callback of
/// [`Simulation::run_with_progress`].
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Virtual time since the scenario's start.
    pub elapsed: Duration,
    /// Counts so far.
    pub summary: &'a ScenarioSummary,
    /// The release just deployed, when the call is for a deploy.
    pub deployed: Option<&'a Deploy>,
}

/// Errors that end a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The order database failed.
    #[error("the scenario's order store failed")]
    Store(#[from] StoreError),
    /// The in-process queue failed.
    #[error("the scenario's queue failed")]
    Bus(#[from] bus::BusError),
    /// The platform could not run an invocation for a reason other than throttling.
    #[error("the platform failed")]
    Platform(#[from] InvokeError),
    /// A deploy names a function the platform does not run.
    #[error(
        "deploy of unknown function `{0}`; the platform runs createOrder, handlePayment and updateInventory"
    )]
    UnknownFunction(String),
}

/// The order service wired for the platform: a store, an in-process bus on virtual time and
/// a payment gateway that declines large charges.
#[derive(Debug)]
pub struct Simulation {
    platform: Platform,
    service: Arc<OrderService>,
    bus: Arc<InMemoryBus>,
    bus_clock: Arc<ManualClock>,
}

impl Simulation {
    /// Wires the service on `store` to `platform`, whose functions must be registered
    /// under the names createOrder, handlePayment and updateInventory. The queues' clock
    /// starts at `start`, the start of the scenario.
    pub fn new(platform: Platform, store: Store, start: SystemTime) -> Self {
        let bus_clock = Arc::new(ManualClock::starting_at(start));
        let bus = Arc::new(InMemoryBus::new(
            bus_clock.clone(),
            QueueSettings::default(),
        ));
        bus.create_queue("orders");
        bus.create_queue("payments");
        let gateway = Arc::new(SandboxGateway::new(DECLINE_ABOVE_CENTS));
        let payments = PaymentClient::new(
            gateway,
            RetryPolicy::default(),
            BreakerSettings::default(),
            bus_clock.clone(),
        );
        let service = Arc::new(OrderService::new(store, bus.clone(), payments));
        Self {
            platform,
            service,
            bus,
            bus_clock,
        }
    }

    /// Returns the platform.
    #[must_use]
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Returns the order service.
    #[must_use]
    pub fn service(&self) -> &Arc<OrderService> {
        &self.service
    }

    /// Runs `settings` to the end.
    pub async fn run(&self, settings: &ScenarioSettings) -> Result<ScenarioSummary, ScenarioError> {
        self.run_with_progress(settings, |_| {}).await
    }

    /// Runs `settings` to the end, calling `progress` each time another tenth of the
    /// scenario's virtual time has passed and after each deploy.
    pub async fn run_with_progress(
        &self,
        settings: &ScenarioSettings,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<ScenarioSummary, ScenarioError> {
        let mut tenths_reported = 0_u32;
        let mut summary = ScenarioSummary::default();
        let mut random = StdRng::seed_from_u64(settings.seed);
        let catalog = Catalog::new(settings.catalog_size);
        self.service
            .store()
            .set_stock_many(catalog.stock_levels())
            .await?;

        let mut deploys = settings.deploys.clone();
        deploys.sort_by_key(|deploy| deploy.after);
        let mut deploys = deploys.into_iter().peekable();
        let mut loops = HashMap::new();
        let mut keys: Vec<(String, String)> = Vec::new();
        let end = settings.start + settings.duration;
        let mut now = settings.start;
        let mut next_burst = settings.burst_every.map(|every| settings.start + every);

        loop {
            now += next_gap(&mut random, now, settings.orders_per_hour);
            if now >= end {
                break;
            }
            self.advance_bus(now);
            while let Some(deploy) = deploys.next_if(|deploy| settings.start + deploy.after <= now)
            {
                self.deploy(&deploy, now, &mut summary)?;
                progress(Progress {
                    elapsed: now.duration_since(settings.start).unwrap_or_default(),
                    summary: &summary,
                    deployed: Some(&deploy),
                });
            }
            let elapsed = now.duration_since(settings.start).unwrap_or_default();
            let tenths = (elapsed.as_secs_f64() / settings.duration.as_secs_f64() * 10.0) as u32;
            if tenths > tenths_reported {
                tenths_reported = tenths;
                progress(Progress {
                    elapsed,
                    summary: &summary,
                    deployed: None,
                });
            }

            let count = match next_burst {
                Some(at) if at <= now => {
                    next_burst = settings.burst_every.map(|every| at + every);
                    settings.burst_size
                }
                _ => 1,
            };
            let requests: Vec<_> = (0..count)
                .map(|_| catalog.request(&mut random, &mut keys))
                .collect();
            self.send_orders(requests, now, &mut summary).await?;
            self.drain(now, &mut loops, &mut summary).await?;
        }
        self.platform
            .log()
            .flush()
            .map_err(|source| InvokeError::Log {
                function: "all".to_owned(),
                source,
            })?;
        Ok(summary)
    }

    fn advance_bus(&self, to: SystemTime) {
        let behind = to
            .duration_since(self.bus_clock.system_time())
            .unwrap_or_default();
        self.bus_clock.advance(behind);
    }

    fn deploy(
        &self,
        deploy: &Deploy,
        at: SystemTime,
        summary: &mut ScenarioSummary,
    ) -> Result<(), ScenarioError> {
        let mut spec = self
            .platform
            .spec(&deploy.function)
            .ok_or_else(|| ScenarioError::UnknownFunction(deploy.function.clone()))?;
        spec.version.clone_from(&deploy.version);
        self.platform.register(spec);
        summary
            .deployed
            .push((at, deploy.function.clone(), deploy.version.clone()));
        Ok(())
    }

    async fn send_orders(
        &self,
        requests: Vec<ApiGatewayV2httpRequest>,
        at: SystemTime,
        summary: &mut ScenarioSummary,
    ) -> Result<(), ScenarioError> {
        let invocations = requests.into_iter().map(|request| {
            let service = Arc::clone(&self.service);
            self.platform.invoke("createOrder", at, move |context| {
                service.scope(handlers::create_order(request, context))
            })
        });
        for outcome in futures_util::future::join_all(invocations).await {
            summary.requests += 1;
            match outcome {
                Ok(invoked) => {
                    count_invocation(summary, &invoked.record);
                    let status = match invoked.output {
                        Ok(response) => response.status_code,
                        Err(_) => 500,
                    };
                    *summary.responses.entry(status).or_default() += 1;
                }
                Err(InvokeError::Throttled { .. }) => {
                    summary.throttled += 1;
                    *summary.responses.entry(429).or_default() += 1;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Delivers the queued messages to their consumers until the queues are empty, each hop
    /// a few milliseconds after the last.
    async fn drain(
        &self,
        arrival: SystemTime,
        loops: &mut HashMap<String, usize>,
        summary: &mut ScenarioSummary,
    ) -> Result<(), ScenarioError> {
        let mut at = arrival;
        // Hops per arrival are bounded, so a loop that the detection misses cannot stall the
        // scenario. The queues keep what is left for the next arrival.
        for _ in 0..4 * MAX_RECURSIVE_INVOCATIONS {
            let orders = self.bus.message_counts("orders")?.visible;
            let payments = self.bus.message_counts("payments")?.visible;
            if orders == 0 && payments == 0 {
                break;
            }
            at += Duration::from_millis(40);
            if orders > 0 {
                self.deliver("orders", "handlePayment", at, loops, summary)
                    .await?;
            }
            if payments > 0 {
                self.deliver("payments", "updateInventory", at, loops, summary)
                    .await?;
            }
        }
        Ok(())
    }

    async fn deliver(
        &self,
        queue: &str,
        function: &str,
        at: SystemTime,
        loops: &mut HashMap<String, usize>,
        summary: &mut ScenarioSummary,
    ) -> Result<(), ScenarioError> {
        let mut outcome = None;
        bus::deliver_batch(self.bus.as_ref(), queue, 10, |mut event: SqsEvent| {
            summary.loops_stopped += stop_recursive_loops(&mut event, function, loops);
            let service = Arc::clone(&self.service);
            let platform = &self.platform;
            let outcome = &mut outcome;
            async move {
                if event.records.is_empty() {
                    return Ok(SqsBatchResponse::default());
                }
                let result = platform
                    .invoke(function, at, move |context| {
                        service.scope(consume(function, event, context))
                    })
                    .await;
                let response = match &result {
                    Ok(invoked) => match &invoked.output {
                        Ok(response) => Ok(response.clone()),
                        Err(Failure::Error(error)) => Err(error.to_string()),
                        Err(Failure::Timeout) => Err("the invocation timed out".to_owned()),
                    },
                    Err(error) => Err(error.to_string()),
                };
                *outcome = Some(result);
                response
            }
        })
        .await?;

        match outcome {
            Some(Ok(invoked)) => count_invocation(summary, &invoked.record),
            Some(Err(InvokeError::Throttled { .. })) => summary.throttled += 1,
            Some(Err(error)) => return Err(error.into()),
            None => {}
        }
        Ok(())
    }
}

async fn consume(
    function: &str,
    event: SqsEvent,
    context: lambda_runtime::Context,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    if function == "handlePayment" {
        handlers::handle_payment(event, context).await
    } else {
        handlers::update_inventory(event, context).await
    }
}

fn count_invocation(summary: &mut ScenarioSummary, record: &spanbill_collector::Invocation) {
    let function = record.function.clone().unwrap_or_default();
    let version = record.version.clone().unwrap_or_default();
    *summary.invocations.entry((function, version)).or_default() += 1;
}

/// Removes the messages whose trace already passed through `function`
/// [`MAX_RECURSIVE_INVOCATIONS`] times, and counts this delivery for the others. Returns how
/// many were removed.
fn stop_recursive_loops(
    event: &mut SqsEvent,
    function: &str,
    loops: &mut HashMap<String, usize>,
) -> usize {
    let before = event.records.len();
    event.records.retain(|message| {
        let Some(trace) = spanbill::propagation::extract_sqs_message(message) else {
            return true;
        };
        let seen = loops
            .entry(format!("{function}/{:032x}", trace.trace_id()))
            .or_default();
        *seen += 1;
        *seen <= MAX_RECURSIVE_INVOCATIONS
    });
    before - event.records.len()
}

/// Time to the next arrival: exponential, with a rate that peaks in the afternoon and is
/// lowest at night.
fn next_gap(random: &mut StdRng, now: SystemTime, orders_per_hour: f64) -> Duration {
    let seconds_of_day = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        % 86_400;
    let hour = seconds_of_day as f64 / 3600.0;
    let daily = 1.0 + 0.6 * (2.0 * PI * (hour - 9.0) / 24.0).sin();
    let rate_per_second = (orders_per_hour * daily / 3600.0).max(1e-6);
    let uniform: f64 = random.random_range(f64::EPSILON..1.0);
    Duration::from_secs_f64(-uniform.ln() / rate_per_second)
}

/// The products on sale: most are well stocked, every hundredth is scarce.
struct Catalog {
    size: u32,
}

impl Catalog {
    fn new(size: u32) -> Self {
        Self { size: size.max(1) }
    }

    fn sku(index: u32) -> String {
        format!("SKU-{index:06}")
    }

    fn stock_levels(&self) -> Vec<(String, i64)> {
        (0..self.size)
            .map(|index| (Self::sku(index), if index % 100 == 7 { 3 } else { 100_000 }))
            .collect()
    }

    /// Builds the next createOrder request; `keys` contains the idempotency keys and bodies
    /// sent so far, for duplicates.
    fn request(
        &self,
        random: &mut StdRng,
        keys: &mut Vec<(String, String)>,
    ) -> ApiGatewayV2httpRequest {
        let roll: f64 = random.random();
        let (key, body) = if roll < 0.04 && !keys.is_empty() {
            keys[random.random_range(0..keys.len())].clone()
        } else if roll < 0.07 {
            (
                format!("key-{}", random.random::<u64>()),
                invalid_body(random),
            )
        } else {
            let declined = roll < 0.10;
            let body = self.order_body(random, declined);
            let key = format!("key-{}", random.random::<u64>());
            keys.push((key.clone(), body.clone()));
            (key, body)
        };
        order_request(&key, &body)
    }

    fn order_body(&self, random: &mut StdRng, declined: bool) -> String {
        let lines = random.random_range(1..=3);
        let items: Vec<serde_json::Value> = (0..lines)
            .map(|_| {
                // Low indexes sell more often, as a few products make most sales.
                let skew: f64 = random.random();
                let index = (skew * skew * f64::from(self.size)) as u32 % self.size;
                let price = if declined { 950.0 } else { f64::from(random.random_range(500..12_000)) / 100.0 };
                serde_json::json!({"sku": Self::sku(index), "quantity": random.random_range(1..=3), "price": price})
            })
            .collect();
        let user = format!("user-{}", random.random_range(1..5_000));
        serde_json::json!({"userId": user, "items": items}).to_string()
    }
}

fn invalid_body(random: &mut StdRng) -> String {
    match random.random_range(0..3) {
        0 => "{\"userId\": \"user-1\", \"items\": []}".to_owned(),
        1 => "{\"userId\": \"user-1\", \"items\": [{\"sku\": \"SKU-000001\", \"quantity\": 1, \"price\": -3}]}".to_owned(),
        _ => "not json".to_owned(),
    }
}

fn order_request(key: &str, body: &str) -> ApiGatewayV2httpRequest {
    serde_json::from_value(serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-idempotency-key": key},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "orders-api",
            "domainName": "orders-api.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": "/orders",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.20",
                "userAgent": "spanbill-scenario"
            },
            "requestId": "scenario",
            "routeKey": "POST /orders",
            "stage": "$default"
        },
        "body": body,
        "isBase64Encoded": false
    }))
    .expect("the scenario's request matches the API Gateway v2 event shape")
}
