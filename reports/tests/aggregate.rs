//! Cost per function, per trace and per business unit, the allocation of tiered monthly
//! charges to invocations, and monthly projections.

use rust_decimal::Decimal;
use spanbill_collector::Architecture;
use spanbill_reports::aggregate::{
    per_business_unit, per_function, per_trace, project_linear, total,
};
use spanbill_reports::downstream::{DownstreamCall, Service, price_call};
use spanbill_reports::lambda::{
    LambdaOptions, LambdaUsage, price_invocations, project_month, provisioned_concurrency_charge,
    snapstart_cache_charge,
};
use spanbill_reports::{Basis, BillingMonth, PriceBook};

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn usage(request_id: &str, function: &str, trace: &str, billed_ms: u64, count: u64) -> LambdaUsage {
    let mut usage = LambdaUsage::estimated(request_id, 1024, 0.0, None, None);
    usage.function = Some(function.to_owned());
    usage.trace_id = (!trace.is_empty()).then(|| trace.to_owned());
    usage.billed_ms = billed_ms;
    usage.basis = Basis::Billed;
    usage.architecture_known = true;
    usage.count = count;
    usage.month = Some(BillingMonth {
        year: 2026,
        month: 11,
    });
    usage
}

#[test]
fn tier_crossing_month_uses_average_price() {
    let book = PriceBook::built_in();
    // 7 billion GB-s in one month: 5 billion from one function, 2 billion from another.
    let usages = [
        usage("a", "createOrder", "", 1000, 5_000_000_000),
        usage("b", "handlePayment", "", 1000, 2_000_000_000),
    ];
    let costs = price_invocations(&usages, &book, LambdaOptions::default());
    let duration = costs.bills[0].line("aws.lambda.duration.x86_64").unwrap();
    assert_eq!(duration.amount, dec("115000.20"));

    let a = &costs.invocations[0];
    let b = &costs.invocations[1];
    // Identical invocations pay the same average price, whichever function ran them.
    assert_eq!(a.compute, b.compute);
    assert!(a.compute < dec("0.0000166667"));
    assert!(a.compute > dec("0.000015"));
    let allocated = a.compute * Decimal::from(a.count) + b.compute * Decimal::from(b.count);
    assert!(
        (allocated - dec("115000.20")).abs() < dec("0.000000001"),
        "{allocated}"
    );
}

#[test]
fn allocation_does_not_depend_on_order() {
    let book = PriceBook::built_in();
    let forward = [
        usage("a", "f", "", 1000, 5_000_000_000),
        usage("b", "g", "", 3000, 1_000_000_000),
    ];
    let backward = [forward[1].clone(), forward[0].clone()];
    let first = price_invocations(&forward, &book, LambdaOptions::default());
    let second = price_invocations(&backward, &book, LambdaOptions::default());
    assert_eq!(first.invocations[0], second.invocations[1]);
    assert_eq!(first.invocations[1], second.invocations[0]);
    // The 3 s invocation uses three times the GB-s and pays three times the compute.
    assert_eq!(
        first.invocations[1].compute,
        first.invocations[0].compute * dec("3")
    );
}

#[test]
fn free_tier_resets_each_month() {
    let book = PriceBook::built_in();
    let mut october = usage("a", "f", "", 1000, 400_000);
    october.month = Some(BillingMonth {
        year: 2026,
        month: 10,
    });
    let november = usage("b", "f", "", 1000, 400_000);
    let costs = price_invocations(
        &[october, november],
        &book,
        LambdaOptions { free_tier: true },
    );
    assert_eq!(costs.bills.len(), 2);
    assert_eq!(costs.total(), Decimal::ZERO);
}

#[test]
fn free_tier_shared_x86_first() {
    let book = PriceBook::built_in();
    let x86 = usage("a", "f", "", 1000, 300_000);
    let mut arm = usage("b", "g", "", 1000, 300_000);
    arm.architecture = Architecture::Arm64;
    let costs = price_invocations(&[arm, x86], &book, LambdaOptions { free_tier: true });
    let bill = &costs.bills[0];
    assert_eq!(
        bill.line("aws.lambda.duration.x86_64").unwrap().free,
        dec("300000")
    );
    assert_eq!(
        bill.line("aws.lambda.duration.arm64").unwrap().free,
        dec("100000")
    );
    assert_eq!(
        bill.line("aws.lambda.duration.arm64").unwrap().amount,
        dec("200000") * dec("0.0000133334")
    );
}

#[test]
fn per_trace_joins_invocations_and_calls() {
    let book = PriceBook::built_in();
    let trace_a = "663367c2ad6a0f14a3cdc9d8a02e9f81";
    let trace_b = "0254799a0ac90514d1651b11c49e48b8";
    let usages = [
        usage("1", "createOrder", trace_a, 100, 1),
        usage("2", "handlePayment", trace_a, 200, 1),
        usage("3", "createOrder", trace_b, 100, 1),
        usage("4", "createOrder", "", 100, 1),
    ];
    let lambda = price_invocations(&usages, &book, LambdaOptions::default());
    let mut send = DownstreamCall::new(Service::Sqs, Some("SendMessage"), 1000, 1);
    send.trace_id = Some(trace_a.to_owned());
    let mut put = DownstreamCall::new(Service::DynamoDb, Some("PutItem"), 500, 1);
    put.trace_id = Some(trace_a.to_owned());
    let downstream = [price_call(&send, &book), price_call(&put, &book)];

    let traces = per_trace(&lambda.invocations, &downstream);
    assert_eq!(traces.len(), 2);
    let a = &traces[trace_a];
    assert_eq!(a.invocations, 2);
    assert_eq!(a.downstream_calls, 2);
    // 0.3 GB-s of compute, 2 requests, one SQS request and one write request unit.
    assert_eq!(
        a.lambda,
        dec("0.3") * dec("0.0000166667") + dec("0.0000004")
    );
    assert_eq!(a.downstream, dec("0.0000004") + dec("0.000000625"));
    assert_eq!(a.total, a.lambda + a.downstream);
    assert_eq!(a.basis, Basis::Estimated);
    let b = &traces[trace_b];
    assert_eq!(b.total, dec("0.1") * dec("0.0000166667") + dec("0.0000002"));
    assert_eq!(b.basis, Basis::Billed);

    let functions = per_function(&lambda.invocations);
    assert_eq!(functions["createOrder"].invocations, 3);
    assert_eq!(functions["handlePayment"].invocations, 1);
}

#[test]
fn cost_per_order_created() {
    let book = PriceBook::built_in();
    let lambda = price_invocations(
        &[usage("1", "createOrder", "", 1000, 1000)],
        &book,
        LambdaOptions::default(),
    );
    let sum = total(&lambda.invocations, &[]);
    let unit = per_business_unit("orders.created", 250, &sum);
    // 1000 GB-s and 1000 requests for 250 orders.
    assert_eq!(sum.total, dec("0.0166667") + dec("0.0002"));
    assert_eq!(unit.per_unit, Some(dec("0.0000674668")));
    assert_eq!(unit.basis, Basis::Billed);
    assert_eq!(per_business_unit("orders.created", 0, &sum).per_unit, None);
}

#[test]
fn projection_reprices_scaled_volume_with_tiers() {
    let book = PriceBook::built_in();
    // One day of 1 billion 1 GB-s invocations scales by 2,629,746 / 86,400 = 30.436875.
    let projection = project_month(
        &[usage("a", "f", "", 1000, 1_000_000_000)],
        86_400,
        &book,
        LambdaOptions::default(),
    );
    assert_eq!(projection.factor, dec("30.436875"));
    assert_eq!(projection.bill.invocations, 30_436_875_000);
    assert_eq!(projection.bill.basis, Basis::Estimated);
    let duration = projection.bill.line("aws.lambda.duration.x86_64").unwrap();
    assert_eq!(duration.quantity, dec("30436875000"));
    assert_eq!(duration.amount, dec("440826.229125"));
    assert_eq!(
        projection.bill.line("aws.lambda.requests").unwrap().amount,
        dec("6087.375")
    );
    assert_eq!(project_linear(dec("1"), 86_400), dec("30.436875"));
}

#[test]
fn provisioned_concurrency_and_snapstart_cache() {
    let book = PriceBook::built_in();
    // 2 environments of 1024 MB for one hour: 7,200 GB-s.
    assert_eq!(
        provisioned_concurrency_charge(&book, Architecture::X86_64, 1024, 2, 3600),
        dec("7200") * dec("0.0000041667")
    );
    assert_eq!(
        snapstart_cache_charge(&book, 2048, 3600),
        dec("7200") * dec("0.0000015046")
    );
    let mut warm = usage("p", "f", "", 1000, 1);
    warm.provisioned = true;
    let costs = price_invocations(&[warm], &book, LambdaOptions::default());
    assert_eq!(costs.invocations[0].compute, dec("0.0000097222"));
}

#[test]
fn ephemeral_storage_above_512_mb() {
    let book = PriceBook::built_in();
    let mut big = usage("s", "f", "", 1000, 1);
    big.ephemeral_storage_mb = 10_240;
    let costs = price_invocations(&[big], &book, LambdaOptions::default());
    // 9,728 MB above the free 512 MB for 1 s is 9.5 GB-s.
    assert_eq!(
        costs.invocations[0].ephemeral_storage,
        dec("9.5") * dec("0.0000000309")
    );
}
