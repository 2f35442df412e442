"""python training/promote.py runs/candidates/cnn/mnist_cnn.keras [--name mnist_cnn] [--out models/] [--overwrite] [--gate | --reader]

Copy a model trained elsewhere (a training script run with --out runs/...) into models/ with its
card and side files (history, metrics, curves).  The card keeps the command that trained the model
and gains a "promoted" entry: where it was copied from, this command and the date, so every card
says truthfully where its model was made and how it got here.  The model is checked (safe mode,
28x28 -> 10 classes) before anything is written.  Then the folder's serving files are written
(digitlab.serving.runtime.write_folder: the promoted file's ONNX copy, the replaced file's removed), so the
app and the predict CLI serve it without TensorFlow at once; --no-serving leaves them to
python evaluation/serving.py.
"""

import sys
from pathlib import Path

from digitlab import cli
from digitlab.models import artifacts, cards
from digitlab.paths import MODELS_DIR


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("model", type=Path, help="the .keras file to promote (its card <name>.json beside it)")
    p.add_argument("--name", type=cli.model_name, default=None, help="name in the models folder (default: the file's)")
    cli.add_out(p, MODELS_DIR, "models folder to copy into")
    p.add_argument("--overwrite", action="store_true", help="replace a model of that name")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--gate", action="store_true", help="the file is the digit gate (checked as one; --out defaults to models/gate/)")
    kind.add_argument("--reader", action="store_true", help="the file is the number reader (checked as one; --out defaults to models/reader/)")
    p.add_argument("--recipe", default=None, metavar="NAME",
                   help="the recipe that made it (training/configs/NAME.toml, training/rebuild.py NAME): the card records "
                        "its description and the commands that make it again (default: none)")
    p.add_argument("--no-serving", action="store_true", help="do not write the serving (ONNX) files (python evaluation/serving.py does)")
    a = p.parse_args(argv)
    from digitlab.serving.gate import GATE_DIR, Gate
    from digitlab.serving.reader import READER_DIR, Reader, margin_warning
    from digitlab.training import rebuild, recipes

    out = (GATE_DIR if a.gate else READER_DIR if a.reader else a.out) if a.out == MODELS_DIR else a.out
    check = Gate if a.gate else (lambda path: Reader(path, "keras")) if a.reader else None
    try:
        extra = None
        if a.recipe:
            recipe = recipes.model(a.recipe)
            extra = {"recipe": recipes.card(recipe["file"], recipe), "rebuild": rebuild.card(a.recipe)}
        path = artifacts.promote(a.model, out, a.name, a.overwrite, command=cards.command_line(argv, __file__), check=check,
                                 extra=extra)
    except (artifacts.ModelError, rebuild.RebuildError, recipes.RecipeError) as e:
        cli.fail(e, p=p)
    print(f"promoted {a.model} -> {path}")
    models_dir = path.parent.parent if a.gate or a.reader else path.parent
    if not a.no_serving:
        from digitlab.serving import runtime

        try:
            runtime.write_folder(models_dir)
        except artifacts.ModelError as e:  # the model is promoted; its serving copy is what failed
            print(f"promoted, but its serving files were not written: {e}\nrun python evaluation/serving.py --models-dir "
                  f"{models_dir} once the cause is fixed", file=sys.stderr)
            return cli.SOME_FAILED
    if path.parent.resolve() == MODELS_DIR.resolve():  # a committed model: figures measured on the file it replaced are stale
        print("to record its card's figures (accuracy, calibration) in docs/results.json and mark the replaced file's as "
              "earlier: python -m digitlab.report.results --from-cards")
    if warning := margin_warning(models_dir):  # the reader's margin weighs the default classifier's cuts
        print(f"warning: {warning}", file=sys.stderr)
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
