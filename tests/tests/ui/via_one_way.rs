// A `via` type must convert both ways: `u64` does not convert back into `Foreign`.
#[derive(Clone)]
struct Foreign(u32);
impl From<Foreign> for u64 {
    fn from(f: Foreign) -> u64 {
        u64::from(f.0)
    }
}

#[derive(strata::Persist)]
struct OneWay {
    #[strata(via = "u64")]
    id: Foreign,
}
fn main() {}
