#!/usr/bin/env python3
"""Each figure of the runs in this folder, for each build (`new`: 32 KiB compressed
shards, `shard`: 8 KiB) and format: the median over the runs and their range; then the
compressed format's figure over the uncompressed one's, taken within each run.

    python3 summarize.py
"""
import json, os, statistics

here = os.path.dirname(os.path.abspath(__file__))
ops = ["open + map lookup (warm)", "open + vector element (warm)", "open + full load (warm)",
       "open + map lookup (evicted)", "open + vector element (evicted)", "open + full load (evicted)"]
plain, fast = "strata", "strata (zstd -1)"

def figure(x, k):
    if k == "file (MB)":
        return x["file_bytes"] / 1e6
    if k == "write (ms)":
        return statistics.median(x["write_ms"])
    return x["reads"][k]["median_us"]

def span(xs):
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"

for build in ["new", "shard"]:
    runs = []
    for r in (1, 2, 3):
        with open(os.path.join(here, f"{build}-run{r}.json")) as f:
            runs.append({x["format"]: x for x in json.load(f)["results"]})
    print(f"## {build}")
    for k in ["file (MB)", "write (ms)"] + [o + " (us)" for o in ops]:
        key = k[:-5] if k.endswith(" (us)") else k
        a = [figure(r[plain], key) for r in runs]
        b = [figure(r[fast], key) for r in runs]
        print(f"{k}: {plain} {span(a)}; {fast} {span(b)}; ratio {span([y / x for x, y in zip(a, b)])}")
