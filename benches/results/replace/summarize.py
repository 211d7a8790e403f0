#!/usr/bin/env python3
"""Strata's save against postcard's in the paired write jobs of this folder, for each
build (`base`: before the change, `new`: after; `scale10`: after, at scale 10) and
dataset.

    python3 summarize.py
"""
import glob, json, os, statistics

here = os.path.dirname(os.path.abspath(__file__))

for dataset in ["users", "records"]:
    for build in ["base", "new", "scale10"]:
        ratios, wins, strata, postcard = [], [], [], []
        for p in sorted(glob.glob(os.path.join(here, f"{dataset}-{build}{'-write' if build == 'scale10' else ''}-run*.json"))):
            with open(p) as f:
                runs = {r["format"]: r for r in json.load(f)["results"]}
            a, b = runs["strata"]["write_ms"], runs["postcard"]["write_ms"]
            ratios.append(statistics.median(a) / statistics.median(b))
            wins.append(sum(1 for x, y in zip(a, b) if x <= y))
            strata.append(statistics.median(a))
            postcard.append(statistics.median(b))
        if ratios:
            print(
                f"{dataset} {build}: strata/postcard {statistics.median(ratios):.3f} "
                f"({min(ratios):.3f}-{max(ratios):.3f}); strata no slower in {wins} of 15; "
                f"strata {', '.join(f'{x:.1f}' for x in strata)} ms; postcard {', '.join(f'{x:.1f}' for x in postcard)} ms"
            )
