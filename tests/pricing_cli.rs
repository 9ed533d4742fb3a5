//! `spanbill pricing`: the prices in force, user overrides and exit codes.

use std::io::Write as _;

use assert_cmd::Command;

fn spanbill() -> Command {
    Command::cargo_bin("spanbill").unwrap()
}

fn user_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn pricing_table_shows_price_and_provenance() {
    let output = spanbill().arg("pricing").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("aws.lambda.duration.x86_64 "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(
            "0.0000166667 up to 6000000000, 0.000015 up to 15000000000, then 0.0000133334 USD \
             per GB-second, 400000 free a month when the free tier is on, us-east-1"
        ),
        "{line}"
    );
    assert!(
        text.contains("from built-in aws.toml, read 2026-09-20 at https://aws.amazon.com/lambda/pricing/ (confirmed)"),
        "{text}"
    );
    assert!(text.contains("gcp.run_functions.requests"), "{text}");
}

#[test]
fn pricing_json_filters_by_region() {
    let output = spanbill()
        .args(["pricing", "--region", "eastus", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|row| row["region"] == "eastus"));
    let consumption = rows
        .iter()
        .find(|row| row["key"] == "azure.consumption.execution_time")
        .unwrap();
    assert_eq!(consumption["tiers"][0]["price"], "0.000016");
    assert_eq!(consumption["free_per_month"], "400000");
    assert_eq!(consumption["confirmed"], false);
    assert_eq!(consumption["origin"], "built-in azure.toml");
}

#[test]
fn pricing_user_file_overrides_and_is_named() {
    let file = user_file(
        "source = \"enterprise agreement\"\nread_on = \"2026-11-30\"\n\
         [prices.\"aws.sqs.requests\"]\nprice = \"0.00000035\"\n",
    );
    let output = spanbill()
        .args(["pricing", "--format", "json", "--pricing"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let sqs = rows
        .iter()
        .find(|row| row["key"] == "aws.sqs.requests")
        .unwrap();
    assert_eq!(sqs["tiers"][0]["price"], "0.00000035");
    assert_eq!(sqs["source"], "enterprise agreement");
    assert_eq!(sqs["read_on"], "2026-11-30");
    assert_eq!(
        sqs["origin"],
        format!("user file {}", file.path().display())
    );
}

#[test]
fn pricing_unknown_key_exits_2() {
    let file = user_file("[prices.\"aws.sqs.request\"]\nprice = \"1\"\n");
    let output = spanbill()
        .args(["pricing", "--pricing"])
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.starts_with(&format!(
            "error: unknown price `aws.sqs.request` in `{}`: use one of the known keys (",
            file.path().display()
        )),
        "{text}"
    );
    assert!(text.contains("aws.sqs.requests"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn pricing_bad_file_names_line_and_exits_2() {
    let file = user_file("[prices.\"aws.sqs.requests\"]\nprice = 0.0.4\n");
    let output = spanbill()
        .args(["pricing", "--pricing"])
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.starts_with(&format!(
            "error: invalid pricing file `{}` at line 2, column ",
            file.path().display()
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn pricing_unknown_region_exits_2() {
    let output = spanbill()
        .args(["pricing", "--region", "eu-west-1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        text,
        "error: no prices for region `eu-west-1`: the prices in force cover eastus, \
         us-central1, us-east-1; pass a --pricing file that sets `region = \"eu-west-1\"` \
         with the prices for it\n"
    );
}
