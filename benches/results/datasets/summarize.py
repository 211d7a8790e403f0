#!/usr/bin/env python3
"""Summarizes the runs in this folder: for each dataset, the median over runs of each
figure and of each per-run ratio, with the runs' min and max.

    python3 summarize.py [FOLDER]

FOLDER defaults to this script's folder.
"""
import glob, json, statistics, os, sys

here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

def load(pattern):
    runs = []
    for p in sorted(glob.glob(os.path.join(here, pattern))):
        with open(p) as f:
            doc = json.load(f)
        runs.append({r["format"]: r for r in doc["results"]})
    return runs

def read(r, fmt, op):
    x = r.get(fmt, {}).get("reads", {}).get(op)
    return x and x["median_us"]

def span(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"

for dataset in ["users", "records"]:
    for scale, pattern in [(1, f"{dataset}-run*.json"), (10, f"{dataset}-scale10-run*.json"), (100, f"{dataset}-scale100-*run*.json")]:
        runs = load(pattern)
        if runs:
            print(f"## {dataset}, scale {scale}: {len(runs)} runs")
            s, p, c = "strata", "postcard", "parcode 0.6.1"
            print("file strata/postcard:", span([r[s]["file_bytes"] / r[p]["file_bytes"] for r in runs if p in r]))
            print("write strata/postcard (medians):", span([r[s]["write_median_ms"] / r[p]["write_median_ms"] for r in runs if p in r and r[s].get("write_median_ms")]))
            for temp in ["warm", "evicted"]:
                op = f"open + full load ({temp})"
                print(f"full load {temp} parcode/strata:", span([read(r, c, op) / read(r, s, op) for r in runs if read(r, s, op) and read(r, c, op)]))
            for op in ["open + map lookup (warm)", "open + vector element (warm)", "open + map lookup (evicted)", "open + vector element (evicted)"]:
                print(f"{op} strata us:", span([read(r, s, op) for r in runs]))
    writes = load(f"{dataset}-write-run*.json")
    if writes:
        print(f"## {dataset}: {len(writes)} runs of writes")
        ratios, wins, total = [], 0, 0
        for r in writes:
            a, b = r["strata"]["write_ms"], r["postcard"]["write_ms"]
            ratios.append(statistics.median(a) / statistics.median(b))
            wins += sum(1 for x, y in zip(a, b) if x <= y)
            total += min(len(a), len(b))
            print(f"  run: strata {statistics.median(a):.1f} ms, postcard {statistics.median(b):.1f} ms, strata no slower in {sum(1 for x, y in zip(a, b) if x <= y)} of {min(len(a), len(b))}")
        print("write strata/postcard:", span(ratios), f"strata no slower in {wins} of {total} paired runs")
        fast = "strata (zstd -1)"
        if fast in writes[0]:
            print("file strata (zstd -1)/postcard:", span([r[fast]["file_bytes"] / r["postcard"]["file_bytes"] for r in writes]))
            print("write strata (zstd -1)/strata:", span([statistics.median(r[fast]["write_ms"]) / statistics.median(r["strata"]["write_ms"]) for r in writes]))
