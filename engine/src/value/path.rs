//! Paths into a value: `a.b[3]["key"].c`.

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A field (`.name`, or `.0` of a tuple struct).
    Field(String),
    /// An element of a vector, array or tuple (`[3]`), or a map key that is a number.
    Index(u64),
    /// A map key (`["key"]`).
    Key(String),
}

impl Step {
    /// The step as it is written in a path.
    #[must_use]
    pub fn show(&self) -> String {
        match self {
            Step::Field(s) => format!(".{s}"),
            Step::Index(i) => format!("[{i}]"),
            Step::Key(k) => format!("[{k:?}]"),
        }
    }
}

/// Parses `a.b[3]["key"].c` into its steps.
///
/// # Errors
/// [`crate::Error::Path`] for an unterminated bracket or an index that is not a number.
pub fn parse_path(path: &str) -> crate::Result<Vec<Step>> {
    let bad = |detail: String| crate::Error::Path { path: path.to_owned(), detail };
    let mut steps = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").ok_or_else(|| bad(String::from("unterminated [\"key\"]")))?;
            let (key, tail) = r.split_at(end);
            steps.push(Step::Key(key.to_owned()));
            rest = tail.get(2..).unwrap_or_default();
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad(String::from("unterminated [index]")))?;
            let (n, tail) = r.split_at(end);
            let index = n.trim().parse().map_err(|_| bad(format!("`[{n}]` is not an index; quote keys: [\"{n}\"]")))?;
            steps.push(Step::Index(index));
            rest = tail.get(1..).unwrap_or_default();
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, tail) = rest.split_at(end);
        steps.push(Step::Field(name.to_owned()));
        rest = tail;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::{Step, parse_path};

    #[test]
    fn paths_parse_into_steps() -> crate::Result<()> {
        assert_eq!(
            parse_path(r#"a.b[3]["k.e]y"].c"#)?,
            [
                Step::Field("a".into()),
                Step::Field("b".into()),
                Step::Index(3),
                Step::Key("k.e]y".into()),
                Step::Field("c".into())
            ]
        );
        assert!(parse_path("a[x]").is_err());
        assert!(parse_path("a[\"x").is_err());
        assert_eq!(parse_path("")?, []);
        Ok(())
    }
}
