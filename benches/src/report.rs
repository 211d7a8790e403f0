//! How figures are written in the tables (`compare`'s and `plot`'s alike).

use std::time::Duration;

/// A duration in the unit that reads best (1 decimal in microseconds, 2 in
/// milliseconds and seconds), or "-" for none.
#[must_use]
pub fn duration(d: Option<Duration>) -> String {
    match d {
        None => String::from("-"),
        Some(d) if d < Duration::from_millis(1) => format!("{:.1} us", d.as_secs_f64() * 1e6),
        Some(d) if d < Duration::from_secs(1) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
    }
}
