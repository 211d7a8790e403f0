#[derive(strata::Persist)]
#[strata(alias = "not a name")]
struct BadAlias {
    #[strata(alias = "old", alias = "old")]
    a: u32,
}

#[derive(strata::Persist)]
struct DefaultFnOnShard {
    #[strata(shard, default = "Vec::new")]
    items: Vec<u32>,
    #[strata(default = "not a path!")]
    level: u32,
    #[strata(default, default)]
    twice: u32,
}

#[derive(strata::Persist)]
enum OtherOnData {
    #[strata(other)]
    Unknown(u32),
    Known,
}

#[derive(strata::Persist)]
enum TwoOthers {
    #[strata(other)]
    A,
    #[strata(other)]
    B,
}

#[derive(strata::Persist)]
enum VariantFieldAttr {
    #[strata(lazy)]
    A(u32),
}

#[derive(strata::Persist)]
#[strata(default)]
struct DefaultOnType {
    a: u32,
}


#[derive(strata::Persist)]
struct AliasClash {
    a: u32,
    #[strata(alias = "a")]
    b: u32,
    #[strata(alias = "c")]
    c: u32,
}

#[derive(strata::Persist)]
enum VariantAliasClash {
    #[strata(alias = "Old")]
    A,
    #[strata(alias = "Old")]
    B,
}
fn main() {}
