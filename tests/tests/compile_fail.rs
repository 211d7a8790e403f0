//! The derive's compile errors: each case in `tests/ui` must fail with the message and
//! span recorded beside it.

#[test]
fn derive_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
