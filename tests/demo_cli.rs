//! Short `spanbill demo` runs. The report finds the updateInventory regression with the
//! version that brought it, the handlePayment loop with the trace that shows it, and no
//! regression for createOrder, whose code did not change. A run without new releases finds
//! neither.

use assert_cmd::Command;

#[test]
fn demo_finds_regression_and_spiral() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("demo.html");
    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .args([
            "demo",
            "--duration",
            "2d",
            "--orders-per-hour",
            "40",
            "--seed",
            "7",
            "--html",
        ])
        .arg(&html)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");

    let latency_line = |function: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(&format!("  {function}: ")) && line.contains(" vs "))
            .unwrap_or_else(|| panic!("no latency line for {function}:\n{stdout}"))
            .to_owned()
    };
    let inventory = latency_line("updateInventory");
    assert!(
        inventory.starts_with("  updateInventory: REGRESSION (version 2 vs version 1:"),
        "{inventory}"
    );
    // Only updateInventory's new version is slower; its spans show where.
    for line in stdout.lines().filter(|line| line.contains("REGRESSION")) {
        assert!(line.starts_with("  updateInventory"), "{line}");
    }
    // createOrder's code did not change, so its latency is not compared at all.
    assert!(
        stdout.contains("\n  createOrder: no new version in the window\n"),
        "{stdout}"
    );

    let spiral = stdout
        .lines()
        .find(|line| line.contains("recursive_loop"))
        .unwrap_or_else(|| panic!("no recursive loop:\n{stdout}"));
    assert!(
        spiral.contains("handlePayment re-enters itself through a queue: trace "),
        "{spiral}"
    );
    assert!(spiral.ends_with("passes through it 16 times"), "{spiral}");
    assert!(
        stderr.contains("demo: collector on http://127.0.0.1:"),
        "{stderr}"
    );

    // The KPI counter reached the collector over OTLP, so cost per order is known.
    assert!(stdout.contains("\ncost per orders.created: $"), "{stdout}");
    // The most expensive trace is a loop: one order and many payment attempts. How many
    // depends on whether the loop ended before the run did, and which loop costs most on
    // real handler durations and cold starts.
    let traces = stdout
        .split("most expensive traces:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no trace list:\n{stdout}"));
    let first = traces.lines().next().unwrap();
    assert!(
        first.contains("(createOrder x1, handlePayment x"),
        "{first}"
    );
    let payments: u32 = first
        .split("handlePayment x")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no payment count in {first}"));
    assert!(payments >= 10, "{first}");

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h3>updateInventory</h3>"), "{page}");
    assert!(
        page.contains("<span class=\"bad\">REGRESSION</span>"),
        "{page}"
    );
}

#[test]
fn steady_demo_finds_nothing() {
    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .args([
            "demo",
            "--duration",
            "1d",
            "--scenario",
            "steady",
            "--seed",
            "11",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("; no new release\n"), "{stderr}");
    for function in ["createOrder", "handlePayment", "updateInventory"] {
        assert!(
            stdout.contains(&format!("\n  {function}: no new version in the window\n")),
            "{stdout}"
        );
    }
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
    assert!(!stdout.contains("recursive_loop"), "{stdout}");
}

#[test]
fn demo_checks_output_paths_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let missing = dir.path().join("missing/report.html");
    let cases = [
        (
            vec!["--html".to_owned(), missing.display().to_string()],
            "pass a file path in an existing directory",
        ),
        (
            vec!["--keep".to_owned(), file.display().to_string()],
            "is a file: pass a new or empty directory to `--keep`",
        ),
    ];
    for (flags, message) in cases {
        let output = Command::cargo_bin("spanbill")
            .unwrap()
            .arg("demo")
            .args(&flags)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let text = String::from_utf8(output.stderr).unwrap();
        assert!(text.contains(message), "{flags:?}: {text}");
        assert!(
            !text.contains("collector on"),
            "{flags:?}: the run started: {text}"
        );
    }
}

/// Renders the report of `data_dir` within `window` as JSON twice: from kept rollups, and
/// from the rows themselves.
fn rollup_and_row_reports(
    data_dir: &std::path::Path,
    window: spanbill_reports::dataset::Window,
) -> (String, String) {
    use spanbill_reports::PriceBook;
    use spanbill_reports::dataset::{load_tables, load_unit_counts};
    use spanbill_reports::lambda::LambdaOptions;
    use spanbill_reports::report::{Format, ReportSettings, build_rollup, build_tables, render};
    use spanbill_reports::rollup_cache::load_rollup;

    let book = PriceBook::built_in();
    let settings = ReportSettings::default();
    let units = load_unit_counts(data_dir, window, None).unwrap();
    let rollup = load_rollup(data_dir, window, 16).unwrap();
    let from_rollups = build_rollup(&rollup, &units, None, &book, &settings);
    let tables = load_tables(data_dir, window, units, &book, LambdaOptions::default()).unwrap();
    let from_rows = build_tables(&tables, None, &book, &settings);
    (
        render(&from_rollups, Format::Json),
        render(&from_rows, Format::Json),
    )
}

#[test]
fn kept_rollups_give_the_row_report() {
    use spanbill_reports::dataset::Window;

    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept");
    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .args(["demo", "--duration", "30h", "--seed", "5", "--keep"])
        .arg(&kept)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The whole dataset, built cold and then read from the kept rollups.
    let (cold, rows) = rollup_and_row_reports(&kept, Window::default());
    assert_eq!(cold, rows);
    assert!(cold.contains("recursive_loop"), "{cold}");
    let days = std::fs::read_dir(kept.join("rollups")).unwrap().count();
    assert!(days >= 2, "{days} days of rollups");
    let (warm, rows) = rollup_and_row_reports(&kept, Window::default());
    assert_eq!(warm, rows);

    // Windows that cut the first day at noon, and that end at the second day's start.
    let first = std::fs::read_dir(kept.join("invocations"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("date=").map(str::to_owned)
        })
        .min()
        .unwrap();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let midnight = time::Date::parse(&first, &format)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp_nanos() as i64;
    let hour = 3_600_000_000_000_i64;
    for window in [
        Window {
            start_ns: Some(midnight + 12 * hour),
            end_ns: None,
        },
        Window {
            start_ns: None,
            end_ns: Some(midnight + 24 * hour),
        },
    ] {
        let (rollups, rows) = rollup_and_row_reports(&kept, window);
        assert_eq!(rollups, rows, "{window:?}");
    }
}
