//! The worked Lambda cost cases: US East prices, exact to every stated digit.

use rust_decimal::Decimal;
use spanbill_collector::Architecture;
use spanbill_collector::platform::{ReadOptions, read_bytes};
use spanbill_reports::lambda::{
    LambdaOptions, LambdaUsage, monthly_compute_charge, price_invocation, price_invocations,
};
use spanbill_reports::{Basis, PriceBook};

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// `count` identical x86_64 invocations in one undated month.
fn usage(count: u64, billed_ms: u64, memory_mb: u32) -> LambdaUsage {
    let mut usage = LambdaUsage::estimated("batch", memory_mb, 0.0, None, None);
    usage.billed_ms = billed_ms;
    usage.basis = Basis::Billed;
    usage.architecture_known = true;
    usage.count = count;
    usage
}

/// Reads one REPORT line through the platform log reader.
fn report(line: &str, architecture: Option<Architecture>) -> LambdaUsage {
    let text = format!(
        "REPORT RequestId: 5b2e9c1a-6f0d-4d8e-9a43-2c7b1e0f9d34\t{line}\tMax Memory Used: 100 MB\t\n"
    );
    let options = ReadOptions {
        architecture,
        ..ReadOptions::default()
    };
    let read = read_bytes("case.log", text.as_bytes(), &options).unwrap();
    assert_eq!(read.invocations.len(), 1);
    LambdaUsage::from_invocation(&read.invocations[0])
}

#[test]
fn case_1_x86_512mb_free_tier_on() {
    let book = PriceBook::built_in();
    let costs = price_invocations(
        &[usage(3_000_000, 1000, 512)],
        &book,
        LambdaOptions { free_tier: true },
    );
    let bill = &costs.bills[0];
    let duration = bill.line("aws.lambda.duration.x86_64").unwrap();
    assert_eq!(duration.quantity, dec("1500000"));
    assert_eq!(duration.quantity - duration.free, dec("1100000"));
    assert_eq!(duration.amount, dec("18.33337"));
    let requests = bill.line("aws.lambda.requests").unwrap();
    assert_eq!(requests.quantity - requests.free, dec("2000000"));
    assert_eq!(requests.amount, dec("0.40"));
    assert_eq!(bill.total, dec("18.73337"));
    assert_eq!(bill.basis, Basis::Billed);
}

#[test]
fn case_2_x86_128mb_free_tier_on() {
    let book = PriceBook::built_in();
    let costs = price_invocations(
        &[usage(30_000_000, 200, 128)],
        &book,
        LambdaOptions { free_tier: true },
    );
    let bill = &costs.bills[0];
    let duration = bill.line("aws.lambda.duration.x86_64").unwrap();
    assert_eq!(duration.quantity, dec("750000"));
    assert_eq!(duration.amount, dec("5.833345"));
    assert_eq!(
        bill.line("aws.lambda.requests").unwrap().amount,
        dec("5.80")
    );
    assert_eq!(bill.total, dec("11.633345"));
}

#[test]
fn case_1_without_free_tier_charges_everything() {
    let book = PriceBook::built_in();
    let costs = price_invocations(
        &[usage(3_000_000, 1000, 512)],
        &book,
        LambdaOptions::default(),
    );
    // 1,500,000 GB-s x $0.0000166667 + 3M x $0.0000002.
    assert_eq!(costs.total(), dec("25.00005") + dec("0.6"));
}

#[test]
fn case_3_x86_crosses_first_tier() {
    let book = PriceBook::built_in();
    assert_eq!(
        monthly_compute_charge(&book, Architecture::X86_64, dec("7000000000"), false),
        dec("115000.20")
    );
}

#[test]
fn case_4_x86_reaches_third_tier() {
    let book = PriceBook::built_in();
    assert_eq!(
        monthly_compute_charge(&book, Architecture::X86_64, dec("16000000000"), false),
        dec("248333.60")
    );
}

#[test]
fn case_5_arm64_crosses_first_tier() {
    let book = PriceBook::built_in();
    assert_eq!(
        monthly_compute_charge(&book, Architecture::Arm64, dec("10000000000"), false),
        dec("130000.75")
    );
}

#[test]
fn case_6_arm64_reaches_third_tier() {
    let book = PriceBook::built_in();
    assert_eq!(
        monthly_compute_charge(&book, Architecture::Arm64, dec("20000000000"), false),
        dec("248335.00")
    );
}

#[test]
fn tier_boundaries_are_exact() {
    let book = PriceBook::built_in();
    let x86 =
        |gb_seconds| monthly_compute_charge(&book, Architecture::X86_64, dec(gb_seconds), false);
    assert_eq!(x86("6000000000"), dec("100000.2"));
    assert_eq!(x86("6000000001"), dec("100000.2") + dec("0.000015"));
    assert_eq!(x86("15000000000"), dec("235000.2"));
    let arm =
        |gb_seconds| monthly_compute_charge(&book, Architecture::Arm64, dec(gb_seconds), false);
    assert_eq!(arm("7500000000"), dec("100000.5"));
    assert_eq!(arm("18750000000"), dec("235001.625"));
}

#[test]
fn case_7_cold_invocation_x86() {
    let usage = report(
        "Duration: 395.99 ms\tBilled Duration: 662 ms\tMemory Size: 512 MB\tInit Duration: 265.72 ms",
        Some(Architecture::X86_64),
    );
    let cost = price_invocation(&usage, &PriceBook::built_in());
    assert_eq!(cost.gb_seconds, dec("0.331"));
    assert_eq!(cost.total, dec("0.0000057166777"));
    assert_eq!(cost.basis, Basis::Billed);
    assert!(cost.assumptions.is_empty());
}

#[test]
fn case_8_cold_invocation_arm64() {
    let usage = report(
        "Duration: 395.99 ms\tBilled Duration: 662 ms\tMemory Size: 512 MB\tInit Duration: 265.72 ms",
        Some(Architecture::Arm64),
    );
    let cost = price_invocation(&usage, &PriceBook::built_in());
    assert_eq!(cost.total, dec("0.0000046133554"));
}

#[test]
fn case_9_init_already_in_billed_duration() {
    let usage = report(
        "Duration: 133.61 ms\tBilled Duration: 214 ms\tMemory Size: 128 MB\tInit Duration: 80.00 ms",
        None,
    );
    assert_eq!(usage.billed_ms, 214);
    let cost = price_invocation(&usage, &PriceBook::built_in());
    assert_eq!(cost.gb_seconds, dec("0.02675"));
    assert_eq!(cost.total, dec("0.000000645834225"));
    assert_eq!(
        cost.assumptions,
        ["architecture not in the input: x86_64 assumed"]
    );
}

#[test]
fn case_10_snapstart_restore_already_billed() {
    let mut usage = report(
        "Duration: 127.10 ms\tBilled Duration: 154 ms\tMemory Size: 2048 MB\tRestore Duration: 325.93 ms\tBilled Restore Duration: 26 ms",
        Some(Architecture::X86_64),
    );
    assert!(usage.snapstart_restore);
    let book = PriceBook::built_in();
    let with_restore = price_invocation(&usage, &book);
    assert_eq!(with_restore.gb_seconds, dec("0.308"));
    assert_eq!(
        with_restore.compute + with_restore.request,
        dec("0.0000053333436")
    );
    // The restore charge comes on top: 2 GB restored at the SnapStart restore price.
    assert_eq!(
        with_restore.snapstart_restore,
        dec("2") * dec("0.0001397998")
    );

    usage.snapstart_restore = false;
    let duration_only = price_invocation(&usage, &book);
    assert_eq!(duration_only.total, dec("0.0000053333436"));
}
