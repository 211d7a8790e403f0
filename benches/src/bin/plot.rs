//! Plots open + map lookup latency against file size for every format, from the JSON
//! files of `compare` runs at several scales (a flat line is what strata is for), and
//! prints the same runs' map lookups and vector elements as Markdown tables, one column
//! per run (the README's "Against file size" tables).
//!
//! ```text
//! cargo run --release -p strata-benches --bin plot -- OUT.svg RESULTS.json...
//! ```

use plotters::prelude::*;
use std::collections::BTreeMap;
use strata_benches::report;

type Series = BTreeMap<String, Vec<(f64, f64)>>;

/// A latency in microseconds, in the unit that reads best.
fn latency(us: f64) -> String {
    match us {
        us if us < 1e3 => format!("{us:.0} us"),
        us if us < 1e6 => format!("{:.0} ms", us / 1e3),
        us => format!("{:.0} s", us / 1e6),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: plot OUT.svg RESULTS.json...")?;
    let mut warm: Series = BTreeMap::new();
    let mut cold: Series = BTreeMap::new();
    let mut docs = Vec::new();
    for path in args {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        docs.push(doc.clone());
        for r in doc["results"].as_array().ok_or("no results")? {
            let name = r["format"].as_str().unwrap_or("?").to_owned();
            let mb = r["file_bytes"].as_f64().unwrap_or(0.0) / 1e6;
            for (series, key) in [(&mut warm, "open + map lookup (warm)"), (&mut cold, "open + map lookup (evicted)")] {
                if let Some(us) = r["reads"][key]["median_us"].as_f64() {
                    series.entry(name.clone()).or_default().push((mb, us));
                }
            }
        }
    }
    let root = SVGBackend::new(&out, (1000, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);
    for (area, series, title) in [(left, &warm, "page cache warm"), (right, &cold, "file evicted")] {
        let xs = series.values().flatten().map(|p| p.0);
        let ys = series.values().flatten().map(|p| p.1);
        let (x0, x1) = xs.fold((f64::MAX, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
        let (y0, y1) = ys.fold((f64::MAX, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
        let mut chart = ChartBuilder::on(&area)
            .caption(format!("open + one map lookup, {title}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            // Headroom above the slowest line for the legend.
            .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), (y0 * 0.5..y1 * 3000.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("file size (MB)")
            .y_desc("latency")
            .x_label_formatter(&|mb| format!("{mb:.0}"))
            .y_label_formatter(&|us| latency(*us))
            .draw()?;
        for (i, (name, points)) in series.iter().enumerate() {
            let mut points = points.clone();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 11))
            .draw()?;
    }
    root.present()?;
    eprintln!("wrote {out}");
    for op in ["open + map lookup", "open + vector element"] {
        for temperature in ["warm", "evicted"] {
            println!("{}", table(&docs, &format!("{op} ({temperature})")));
        }
    }
    Ok(())
}

/// One operation's medians as a Markdown table: a row per format (in the first run's
/// order), a column per run, strata's file size on top. A median marked `*` is a single
/// sample (the operation took 2 s or more), `†` shares one whole-file decode with the format's other operations (as in
/// `compare`'s tables); a format the run could not write says so.
fn table(docs: &[serde_json::Value], key: &str) -> String {
    let mut formats: Vec<String> = Vec::new();
    for doc in docs {
        for r in doc["results"].as_array().into_iter().flatten() {
            let name = r["format"].as_str().unwrap_or("?").to_owned();
            if !formats.contains(&name) {
                formats.push(name);
            }
        }
    }
    let mut out = format!("| {key} |");
    for doc in docs {
        out += &format!(" scale {} |", doc["scale"].as_u64().unwrap_or(0));
    }
    out += &format!("\n|---|{}\n| strata's file |", "---:|".repeat(docs.len()));
    for doc in docs {
        let strata = doc["results"].as_array().into_iter().flatten().find(|r| r["format"] == "strata");
        let gb =
            strata.and_then(|r| r["file_bytes"].as_f64()).map_or(String::from("-"), |b| format!("{:.2} GB", b / 1e9));
        out += &format!(" {gb} |");
    }
    for name in &formats {
        out += &format!("\n| {name} |");
        for doc in docs {
            let result = doc["results"].as_array().into_iter().flatten().find(|r| r["format"] == name.as_str());
            let cell = match result.map(|r| &r["reads"][key]) {
                Some(read) if read["median_us"].is_f64() => {
                    let us = read["median_us"].as_f64().unwrap_or(0.0);
                    // As `compare` marks it: a sample of 2 s or more ends the operation's samples.
                    let once = read["max_us"].as_f64().is_some_and(|max| max >= 2e6);
                    let shared = read["one_decode_for_all_operations"].as_bool() == Some(true);
                    let d = Some(std::time::Duration::from_secs_f64(us / 1e6));
                    format!("{}{}{}", report::duration(d), if once { " *" } else { "" }, if shared { " †" } else { "" })
                }
                _ if doc["not_measured"].get(name.as_str()).is_some() => String::from("cannot write"),
                _ => String::from("-"),
            };
            out += &format!(" {cell} |");
        }
    }
    out
}
