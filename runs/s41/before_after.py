"""mnist_cnn's figures before -> after (the report at a commit against the working tree's): python runs/s41/before_after.py COMMIT"""
import json, subprocess, sys
from pathlib import Path

commit = sys.argv[1]
for rel, key in [("evaluation/reports/handwriting/handwriting.json", None)]:
    old = json.loads(subprocess.run(["git", "show", f"{commit}:{rel}"], capture_output=True, text=True, check=True).stdout)
    new = json.loads(Path(rel).read_text())
    print(f"## {rel}\n\n| set | before | after |\n|---|---|---|")
    for s, r in old["results"]["mnist_cnn"].items():
        print(f"| {s} | {r['accuracy']:.2%} | {new['results']['mnist_cnn'][s]['accuracy']:.2%} |")
    for k in ("real_numbers", "real_numbers_scanned"):
        o, n = old[k]["mnist_cnn"], new[k]["mnist_cnn"]
        print(f"| {k}: whole number | {o['whole_number']:.2%} | {n['whole_number']:.2%} |")
        for g in ("site app", "site syn"):
            print(f"| {k}: {g} | {o['groups'][g]['whole_number']:.2%} | {n['groups'][g]['whole_number']:.2%} |")
rel = "evaluation/reports/conventions/conventions.json"
old = json.loads(subprocess.run(["git", "show", f"{commit}:{rel}"], capture_output=True, text=True, check=True).stdout)
new = json.loads(Path(rel).read_text())
def styles(d):
    m = d["models"]["mnist_cnn"] if "models" in d and isinstance(d["models"], dict) else d["results"]["mnist_cnn"]
    return m
print("\n## conventions keys", list(old.keys())[:12])
