//! Mistakes in `#[spanbill::handler]` fail to compile with an error at the offending token.
//! Each case is one file under `tests/ui`, with the expected compiler output next to it.

#[test]
fn handler_attribute_mistakes() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
