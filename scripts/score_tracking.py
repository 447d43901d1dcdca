#!/usr/bin/env python3
"""Scores a tracker's output against ground truth with py-motmetrics (CLEAR-MOT and IDF1).

Usage: score_tracking.py GT.txt RES.txt

Both files are MOTChallenge text (frame,id,x,y,w,h,...). Prints one JSON object: idf1, mota,
motp (mean IoU of matches), num_switches, num_fragmentations, mostly_tracked, num_unique_objects,
num_false_positives, num_misses, num_objects. Matches need an IoU of at least 0.5, as in MOTChallenge.
Called by examples/bench_tracking (through scripts/bench-tracking.sh, which installs motmetrics).
"""
import json
import sys

import motmetrics as mm
import numpy as np


def read(path):
    frames = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 6:
                continue
            frame, ident = int(parts[0]), int(parts[1])
            box = [float(v) for v in parts[2:6]]
            frames.setdefault(frame, []).append((ident, box))
    return frames


def main():
    gt, res = read(sys.argv[1]), read(sys.argv[2])
    acc = mm.MOTAccumulator(auto_id=False)
    for frame in sorted(set(gt) | set(res)):
        g, r = gt.get(frame, []), res.get(frame, [])
        distances = mm.distances.iou_matrix(
            np.array([b for _, b in g]).reshape(-1, 4), np.array([b for _, b in r]).reshape(-1, 4), max_iou=0.5
        )
        acc.update([i for i, _ in g], [i for i, _ in r], distances, frameid=frame)
    names = [
        "idf1", "mota", "motp", "num_switches", "num_fragmentations", "mostly_tracked",
        "num_unique_objects", "num_false_positives", "num_misses", "num_objects",
    ]
    summary = mm.metrics.create().compute(acc, metrics=names, name="scene")
    row = summary.loc["scene"]
    out = {name: (float(row[name]) if name in ("idf1", "mota", "motp") else int(row[name])) for name in names}
    # motmetrics' MOTP is a distance (1 - IoU); say it as the mean IoU of the matches.
    out["motp"] = 1.0 - out["motp"]
    # A scene with nothing in it has no ratios: null, not NaN (which JSON does not have).
    print(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
