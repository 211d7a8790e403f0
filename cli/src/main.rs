//! `strata`: inspect, verify, stat and dump any strata file without its Rust types.
//!
//! ```text
//! strata inspect FILE [--depth N] [--json]
//! strata verify FILE [--json]
//! strata stat FILE [--space] [--json]
//! strata dump FILE [PATH] [--shallow] [--compact]
//! strata schema FILE [--layout] [--check-against OTHER]
//! strata compact FILE [--json]
//! ```
//!
//! `FILE` is a path or, with the `object-store` feature (on by default), a URL:
//! `s3://bucket/key`, `gs://...`, `az://...`, `http(s)://...`, configured from the
//! environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_REGION`, ...).
//!
//! Exit codes: 0 success, 1 damage found (`verify`) or an incompatible schema
//! (`schema --check-against`), 2 any other error (one line on standard error, never a
//! panic).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod json;
mod schema;
mod tree;

use clap::{Parser, Subcommand};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use strata::inspect::Bytes;
use strata::raw::format::meta::ChunkKind;
use strata::{Archive, Inspection};

#[derive(Parser)]
#[command(name = "strata", version, about = "Inspect, verify, stat and dump strata files without their Rust types.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The chunk tree: every chunk's path, kind, offset, sizes and codec, with totals.
    Inspect {
        file: PathBuf,
        /// Levels of the tree to print (the JSON output always lists every chunk).
        #[arg(long, default_value_t = 3)]
        depth: usize,
        /// Children to print under a vector or map before summarizing the rest.
        #[arg(long, default_value_t = 4)]
        max_children: usize,
        /// Machine-readable output listing every chunk.
        #[arg(long)]
        json: bool,
    },
    /// Checks every chunk (checksums, decompression, structure) in parallel; exits 1 and
    /// names each damaged chunk if any is damaged.
    Verify {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Rewrites a local file with only the chunks its current version uses, dropping the
    /// dead bytes earlier versions left (incremental saves), atomically; prints the
    /// sizes before and after.
    Compact {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// One screen of summary: size, chunk counts, compression, largest fields, shard
    /// sizes; with `--space`, where the bytes go (values, index nodes, bucket headers,
    /// padding, meta) per field.
    Stat {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Where the bytes go, per field (reads every bucket).
        #[arg(long)]
        space: bool,
    },
    /// Prints a value as JSON, e.g. `players["Hero123"].level`, `users[54321].name`;
    /// reads only the chunks the path needs.
    Dump {
        file: PathBuf,
        /// The value's path from the root (the whole value when absent).
        path: Option<String>,
        /// Print lazy fields, vectors and maps under the value as references instead of
        /// reading them.
        #[arg(long)]
        shallow: bool,
        /// One line instead of indented JSON.
        #[arg(long)]
        compact: bool,
    },
    /// The stored schema as Rust-like declarations; with `--check-against OTHER`,
    /// whether a file with OTHER's schema can be read by types written like FILE's
    /// (exit code 1 when it cannot, saying why).
    Schema {
        file: PathBuf,
        /// Each type's archived size and alignment, each field's offset.
        #[arg(long)]
        layout: bool,
        /// A strata file whose schema is checked against FILE's.
        #[arg(long, value_name = "OTHER")]
        check_against: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Colours only on a terminal, and never with `NO_COLOR`.
struct Style(bool);

impl Style {
    fn detect() -> Self {
        Self(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
    }
    fn paint(&self, code: &str, text: &str) -> String {
        if self.0 { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }
}

/// Opens a file, or with the `object-store` feature (on by default) an object named by
/// a URL (`s3://bucket/key`, `gs://`, `az://`, `http(s)://`, `file://`), configured
/// from the environment as the cloud's own tools are.
fn open(file: &PathBuf) -> Result<Archive, String> {
    let shown = file.display();
    #[cfg(feature = "object-store")]
    if let Some(url) = file.to_str().filter(|f| f.contains("://")) {
        return Archive::open_url(url).map_err(|e| format!("{shown}: {e}"));
    }
    Archive::open(file).map_err(|e| format!("{shown}: {e}"))
}

fn print_json(v: &serde_json::Value) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(v).map_err(|e| e.to_string())?);
    Ok(())
}

fn run(command: Command) -> Result<ExitCode, String> {
    let style = Style::detect();
    match command {
        Command::Schema { file, layout, check_against } => {
            let text = open(&file)?.schema_text().map_err(|e| format!("{}: {e}", file.display()))?;
            let Some(other) = check_against else {
                let parsed = strata::schema::Schema::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
                print!("{}", schema::declarations(&parsed, layout));
                return Ok(ExitCode::SUCCESS);
            };
            let other_text = open(&other)?.schema_text().map_err(|e| format!("{}: {e}", other.display()))?;
            match strata::check_readable(&other_text, &text) {
                Ok(()) => {
                    println!("{}: readable by types written like {}'s schema", other.display(), file.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ (strata::Error::Incompatible { .. } | strata::Error::TypeMismatch { .. })) => {
                    println!(
                        "{}: not readable by types written like {}'s schema: {e}",
                        other.display(),
                        file.display()
                    );
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Command::Inspect { file, depth, max_children, json } => {
            let archive = open(&file)?;
            let tree = archive.inspect().map_err(|e| format!("{}: {e}", file.display()))?;
            if json {
                print_json(&tree::json(&tree, &archive))?;
            } else {
                print!("{}: {}", style.paint("1", &file.display().to_string()), tree.tree(depth, max_children));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, json } => {
            let archive = open(&file)?;
            let total: u64 =
                archive.directory().map(|m| m.chunks.iter().map(|e| e.chunk.stored_len()).sum()).unwrap_or(0);
            let bar = if std::io::stderr().is_terminal() && !json {
                let bar = indicatif::ProgressBar::new(total);
                if let Ok(s) =
                    indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                {
                    bar.set_style(s);
                }
                Some(bar)
            } else {
                None
            };
            let report = archive
                .verify_with(|n| {
                    if let Some(b) = &bar {
                        b.inc(n);
                    }
                })
                .map_err(|e| format!("{}: {e}", file.display()))?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            if json {
                let damaged: Vec<_> = report
                    .damaged
                    .iter()
                    .map(|d| json!({ "path": d.path, "offset": d.chunk.offset(), "kind": d.kind.map(ChunkKind::name), "error": d.error.to_string() }))
                    .collect();
                print_json(&json!({ "chunks": report.chunks, "bytes": report.bytes, "damaged": damaged }))?;
            } else {
                for d in &report.damaged {
                    println!(
                        "{} {} at offset {}: {}",
                        style.paint("31;1", "DAMAGED"),
                        d.path,
                        d.chunk.offset(),
                        d.error
                    );
                }
                let verdict = if report.is_ok() { style.paint("32;1", "ok") } else { style.paint("31;1", "damaged") };
                println!(
                    "{}: {} chunks, {} checked: {verdict} ({} damaged)",
                    file.display(),
                    report.chunks,
                    Bytes(report.bytes),
                    report.damaged.len()
                );
            }
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Compact { file, json } => {
            let stats = strata::compact(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            if json {
                print_json(&json!({
                    "before": stats.before, "after": stats.after, "chunks": stats.chunks,
                    "patched": stats.patched, "seconds": stats.elapsed.as_secs_f64(),
                }))?;
            } else {
                println!(
                    "{}: {} -> {} ({} chunks, {} rewritten, {:.2?})",
                    style.paint("1", &file.display().to_string()),
                    Bytes(stats.before),
                    Bytes(stats.after),
                    stats.chunks,
                    stats.patched,
                    stats.elapsed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stat { file, json, space } => {
            let archive = open(&file)?;
            let tree = archive.inspect().map_err(|e| format!("{}: {e}", file.display()))?;
            let space = space.then(|| archive.space()).transpose().map_err(|e| format!("{}: {e}", file.display()))?;
            let live = archive.stats().map_err(|e| format!("{}: {e}", file.display()))?;
            stat(&tree, &live, space.as_ref(), json, &style, &file)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dump { file, path, shallow, compact } => {
            let archive = open(&file)?;
            let schema =
                strata::schema::Schema::parse_archive(&archive).map_err(|e| format!("the file's schema: {e}"))?;
            let decoder = strata::value::Decoder::new(&archive, &schema, !shallow);
            let place = match &path {
                Some(p) => decoder.walk(p).map_err(|e| e.to_string())?,
                None => decoder.root().map_err(|e| e.to_string())?,
            };
            let value = json::json(&decoder.value(&place).map_err(|e| e.to_string())?);
            if compact {
                println!("{value}");
            } else {
                print_json(&value)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn stat(
    tree: &Inspection,
    live: &strata::Stats,
    space: Option<&strata::Space>,
    json: bool,
    style: &Style,
    file: &Path,
) -> Result<(), String> {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let (mut stored, mut raw, mut compressed) = (0u64, 0u64, 0u64);
    let mut shard_hist = [0u64; 6];
    let labels = ["< 4 KiB", "4-16 KiB", "16-64 KiB", "64-256 KiB", "256 KiB-1 MiB", ">= 1 MiB"];
    for n in tree.chunks() {
        *counts.entry(n.kind.map_or("unknown", ChunkKind::name)).or_default() += 1;
        stored += n.chunk.stored_len();
        raw += n.chunk.raw_len();
        compressed += u64::from(n.chunk.encoding() == Some(strata::raw::format::Encoding::Zstd));
        if n.kind == Some(ChunkKind::Shard) {
            let b = match n.chunk.raw_len() {
                r if r < 4 << 10 => 0,
                r if r < 16 << 10 => 1,
                r if r < 64 << 10 => 2,
                r if r < 256 << 10 => 3,
                r if r < 1 << 20 => 4,
                _ => 5,
            };
            if let Some(slot) = shard_hist.get_mut(b) {
                *slot += 1;
            }
        }
    }
    // Fields: the named chunks (promises, vectors, maps), largest first.
    let mut fields: Vec<(String, u64, u64, u64)> = tree
        .chunks()
        .iter()
        .filter(|n| matches!(n.kind, Some(ChunkKind::Lazy | ChunkKind::Vector | ChunkKind::Map)))
        .map(|n| (n.path.clone(), n.total.stored, n.total.raw, n.total.chunks))
        .collect();
    fields.sort_by_key(|f| std::cmp::Reverse(f.1));
    fields.truncate(10);
    let root_type = tree.root_type().unwrap_or_default();
    if json {
        let space = space.map(|sp| {
            json!({
                "root": sp.root, "meta": sp.meta, "tail_copies": sp.tail_copies,
                "chunk_padding": sp.chunk_padding, "header_footer": sp.header_footer, "dead": sp.dead,
                "fields": sp.fields.iter().map(|f| json!({
                    "path": f.path, "stored": f.stored, "chunks": f.chunks, "values": f.values,
                    "index_nodes": f.index_nodes, "bucket_headers": f.bucket_headers, "entry_padding": f.entry_padding,
                    "value_padding": f.value_padding,
                })).collect::<Vec<_>>(),
            })
        });
        return print_json(&json!({
            "space": space,
            "file_len": tree.file_len(),
            "live": live.live,
            "dead": live.dead,
            "root_type": root_type,
            "chunks": counts,
            "stored": stored,
            "raw": raw,
            "compressed_chunks": compressed,
            "largest_fields": fields.iter().map(|(p, s, r, c)| json!({ "path": p, "stored": s, "raw": r, "chunks": c })).collect::<Vec<_>>(),
            "shard_sizes": labels.iter().zip(shard_hist).map(|(l, n)| json!({ "raw": l, "shards": n })).collect::<Vec<_>>(),
        }));
    }
    println!(
        "{}: {} ({} bytes), format {}, root type {}",
        style.paint("1", &file.display().to_string()),
        Bytes(tree.file_len()),
        tree.file_len(),
        tree.version(),
        style.paint("36", root_type)
    );
    println!(
        "live {}, dead {} ({:.1}%: chunks of earlier versions that incremental saves left)",
        Bytes(live.live),
        Bytes(live.dead),
        live.dead_ratio() * 100.0
    );
    let total: u64 = counts.values().sum::<u64>() + 1;
    println!(
        "chunks: {total} ({}, meta 1)",
        counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    );
    let ratio = if stored > 0 { raw as f64 / stored as f64 } else { 1.0 };
    println!(
        "data: {} stored, {} raw (compression {ratio:.2}x), {compressed} chunks compressed",
        Bytes(stored),
        Bytes(raw)
    );
    println!("largest fields:");
    for (p, s, r, c) in &fields {
        println!("  {:<40} {:>10} stored  {:>10} raw  {c} chunks", p, Bytes(*s).to_string(), Bytes(*r).to_string());
    }
    if shard_hist.iter().any(|&n| n > 0) {
        println!("shard sizes (raw):");
        let max = shard_hist.iter().copied().max().unwrap_or(1).max(1);
        for (l, n) in labels.iter().zip(shard_hist) {
            let bar = "#".repeat(((n * 40).div_ceil(max)) as usize);
            println!("  {l:>14} {n:>8} {bar}");
        }
    }
    if let Some(space) = space {
        print!("{space}");
    }
    Ok(())
}
