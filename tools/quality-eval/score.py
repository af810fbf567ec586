"""Scores `camwatch diagnose` on the evaluation set written by make_set.py.

The predicted class of a case is its highest-scoring fault, or `normal` when none is raised.
Prints per-class precision/recall/F1, macro-F1 over the ten kinds plus `normal`, the confusion
matrix, and the false-alarm rate: the share of normal pictures for which any fault is raised.

Suspects (findings judged without a baseline that a healthy scene shows too; never faults) are
not faults in those figures. Printed beside them: the share of normal pictures with a suspect
and no fault (surfaced for review), macro-F1 and the review rate if every suspect were a fault
(the highest-scoring finding of either level as the prediction), and, per form and severity,
recall as a fault and as a finding of either level.

With --no-baseline every case but `scene_change` is diagnosed without its baseline, as for a
camera whose picture nobody has approved yet (`color_cast` is then judged on the picture alone).

usage: score.py SET_DIR CAMWATCH_BINARY [dev|test|all] [--no-baseline]   (JOBS=N: N at a time)
"""
import json
import os
import subprocess
import sys

CLASSES = ["normal", "signal_loss", "too_dark", "too_bright", "blur", "noise", "color_cast",
           "occlusion", "stripes", "frozen", "scene_change"]


def main(d, exe, split="test", baseline="--with-baseline"):
    cases = [json.loads(l) for l in open(os.path.join(d, "cases.jsonl"))]
    cases = [c for c in cases if split == "all" or c["split"] == split]
    conf = {a: {b: 0 for b in CLASSES} for a in CLASSES}
    false_alarms, normals, wrong = 0, 0, []
    suspected = 0  # normal pictures with a suspect and no fault
    conf_any = {a: {b: 0 for b in CLASSES} for a in CLASSES}  # every suspect taken as a fault
    by_form = {}  # (label, form or severity) -> [found as a fault, n, found as either]
    def run(c):
        cmd = [exe, "diagnose", "--json", os.path.join(d, c["image"])]
        if c.get("prev"):
            cmd += ["--prev", os.path.join(d, c["prev"])]
        if c.get("baseline") and (baseline != "--no-baseline" or c["label"] == "scene_change"):
            cmd += ["--baseline", os.path.join(d, c["baseline"])]
        return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)

    # One process per case, JOBS at a time (default: one per core); results in case order.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(int(os.environ.get("JOBS", os.cpu_count() or 1))) as pool:
        outs = list(pool.map(run, cases))
    for c, out in zip(cases, outs):
        faults = out["faults"]
        suspects = out.get("suspects", [])
        findings = sorted(faults + suspects, key=lambda x: -x["score"])
        pred = faults[0]["kind"] if faults else "normal"
        conf[c["label"]][pred] += 1
        conf_any[c["label"]][findings[0]["kind"] if findings else "normal"] += 1
        if c["label"] != "normal":
            for key in (c.get("form"), c.get("severity")):
                if key and key != c["label"]:
                    f = by_form.setdefault((c["label"], key), [0, 0, 0])
                    f[0] += any(x["kind"] == c["label"] for x in faults)
                    f[1] += 1
                    f[2] += any(x["kind"] == c["label"] for x in findings)
        if c["label"] == "normal":
            normals += 1
            false_alarms += bool(faults)
            suspected += bool(suspects) and not faults
        if pred != c["label"]:
            wrong.append((c["id"], c["label"], pred, out["metrics"]))
    print("split: %s, %d cases%s" % (split, len(cases), ", no baselines" if baseline == "--no-baseline" else ""))
    print("%-13s %9s %9s %9s %6s" % ("class", "precision", "recall", "F1", "n"))
    f1s = []
    for k in CLASSES:
        tp = conf[k][k]
        fp = sum(conf[a][k] for a in CLASSES) - tp
        fn = sum(conf[k].values()) - tp
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        f1s.append(f1)
        print("%-13s %9.3f %9.3f %9.3f %6d" % (k, p, r, f1, tp + fn))
    print("macro-F1: %.3f" % (sum(f1s) / len(f1s)))
    print("false-alarm rate on normal pictures: %.2f%% (%d of %d)" % (100.0 * false_alarms / max(normals, 1), false_alarms, normals))
    print("confusion (rows: truth, columns: predicted):")
    short = [k[:6] for k in CLASSES]
    print("%-13s " % "" + " ".join("%6s" % s for s in short))
    for a in CLASSES:
        print("%-13s " % a + " ".join("%6d" % conf[a][b] for b in CLASSES))
    print("suspects: normal pictures with a suspect and no fault: %.2f%% (%d of %d)" % (100.0 * suspected / max(normals, 1), suspected, normals))
    print("if every suspect were a fault: macro-F1 %.3f, false alarms %.2f%% (%d of %d)" % (
        macro_f1(conf_any), 100.0 * (false_alarms + suspected) / max(normals, 1), false_alarms + suspected, normals))
    print("recall by form and by severity (the kind among the faults raised; among faults and suspects):")
    for (label, key), (found, n, either) in sorted(by_form.items()):
        print("  %-13s %-16s %5.3f  (%d of %d)  %5.3f" % (label, key, found / n, found, n, either / n))
    if os.environ.get("SHOW_WRONG"):
        for w in wrong:
            print("WRONG", w[0], w[1], "->", w[2], json.dumps(w[3]))


def macro_f1(conf):
    f1s = []
    for k in CLASSES:
        tp = conf[k][k]
        fp = sum(conf[a][k] for a in CLASSES) - tp
        fn = sum(conf[k].values()) - tp
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return sum(f1s) / len(f1s)


if __name__ == "__main__":
    main(*sys.argv[1:])
