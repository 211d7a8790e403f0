//! A user crate that depends on strata under another name.

use renamed_strata::Persist;

#[derive(Persist, Debug, PartialEq)]
#[strata(crate = "renamed_strata")]
pub struct Renamed {
    pub x: u32,
    #[strata(lazy)]
    pub y: Vec<String>,
}

#[cfg(test)]
#[test]
fn derive_under_a_renamed_dependency() {
    let r = Renamed { x: 1, y: vec!["y".into()] };
    let a = renamed_strata::Archive::from_bytes(renamed_strata::to_bytes(&r).unwrap()).unwrap();
    assert_eq!(a.load::<Renamed>().unwrap(), r);
}
