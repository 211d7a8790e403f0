// `via` names a type the field converts to and from, on inline fields only.
#[derive(Clone)]
struct Foreign(u32);
impl From<Foreign> for u64 {
    fn from(f: Foreign) -> u64 {
        u64::from(f.0)
    }
}

#[derive(strata::Persist)]
struct Bad {
    #[strata(lazy, via = "u64")]
    lazy_via: Foreign,
    #[strata(via = "not a type")]
    unparsable: Foreign,
}
fn main() {}
