"""A model's handwriting-benchmark figures before -> after: the report at a commit against the working tree's.
python runs/s42/before_after.py COMMIT [MODEL]   (MODEL: mnist_advanced)"""
import json
import subprocess
import sys
from pathlib import Path

commit, model = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "mnist_advanced")
rel = "evaluation/reports/handwriting/handwriting.json"
old = json.loads(subprocess.run(["git", "show", f"{commit}:{rel}"], capture_output=True, text=True, check=True).stdout)
new = json.loads(Path(rel).read_text())
print(f"## {rel}, {model}\n\n| set | before | after |\n|---|---|---|")
for s, r in old["results"][model].items():
    print(f"| {s} | {r['accuracy']:.2%} | {new['results'][model][s]['accuracy']:.2%} |")
for k in ("real_numbers", "real_numbers_scanned"):
    o, n = old[k][model], new[k][model]
    print(f"| {k}: whole number | {o['whole_number']:.2%} | {n['whole_number']:.2%} |")
    for g in sorted(o["groups"]):
        print(f"| {k}: {g} | {o['groups'][g]['whole_number']:.2%} | {n['groups'][g]['whole_number']:.2%} |")
