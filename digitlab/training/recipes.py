"""Recipe files: a committed model, written down so a learner can read it and anyone can make it again.

A recipe is a TOML file in ``training/configs/`` (nanoGPT keeps its runs as ``config/*.py`` the same way).
There are two kinds:

    a network    ``script`` (the training script that runs it), ``description`` and that script's flags,
                 each under its flag's name with ``_`` for ``-`` (``real_strokes = "data/unipen/..."``);
                 ``python training/train_cnn.py --config training/configs/cnn_a.toml`` trains it, and flags
                 given on the command line override the file's
    a model      ``name``, ``description`` and ``members``: the network recipes it averages (the mean of
                 their logits, or ``weights``); a model of one network is that network's recipe itself

Each network is one run from random weights; a model is the average of such runs.  ``training/rebuild.py
NAME`` turns a model recipe into its commands (``digitlab.training.rebuild``).

    load(path)            a recipe file -> dict, refused with a RecipeError that says what is wrong
    model(name)           training/configs/<name>.toml, the recipe of a committed model
    apply(p, argv)        the flags a script's parser gets from ``--config FILE``, as its defaults
    card(path, recipe)    what a model card keeps of its recipe: the file and its one-paragraph description
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from digitlab.paths import ROOT, shown

RECIPES_DIR = ROOT / "training" / "configs"
NOT_FLAGS = ("script", "description")  # keys of a network recipe that are not its script's flags
MODEL_KEYS = ("name", "description", "members", "weights")
MAX_BYTES = 64 * 1024  # a recipe is a page of text


class RecipeError(ValueError):
    """A recipe file that cannot be read or does not fit the script it is given to."""


def load(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file")
    if path.stat().st_size > MAX_BYTES:
        raise RecipeError(f"{path}: {path.stat().st_size:,} bytes is too long for a recipe (at most {MAX_BYTES:,})")
    try:
        recipe = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"{path}: not a TOML file: {e}") from e
    description = recipe.get("description")
    if not isinstance(description, str) or not description.strip():
        raise RecipeError(f"{path}: a recipe says what it makes in a 'description'")
    if "members" in recipe:
        unknown = sorted(set(recipe) - set(MODEL_KEYS))
        if unknown:
            raise RecipeError(f"{path}: a model recipe holds {', '.join(MODEL_KEYS)}; not {', '.join(unknown)}")
        members = recipe["members"]
        if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, str) for m in members):
            raise RecipeError(f"{path}: 'members' lists two or more network recipe files")
        weights = recipe.get("weights")
        if weights is not None and (not isinstance(weights, list) or len(weights) != len(members)
                                    or not all(isinstance(w, int | float) and w > 0 for w in weights)):
            raise RecipeError(f"{path}: 'weights' gives each member a weight above 0")
    elif not isinstance(recipe.get("script"), str):
        raise RecipeError(f"{path}: a network recipe names its training 'script' (e.g. training/train_cnn.py)")
    return recipe


def path_of(name: str) -> Path:
    return RECIPES_DIR / f"{name}.toml"


def model(name: str) -> dict:
    """The recipe of the committed model ``name``, with ``networks``: each network recipe and its file."""
    path = path_of(name)
    if not path.is_file():
        have = sorted(p.stem for p in RECIPES_DIR.glob("*.toml") if "members" in load(p) or load(p).get("name") == p.stem)
        raise RecipeError(f"no recipe {shown(path)}; the models with one: {', '.join(have)}")
    recipe = load(path)
    files = [RECIPES_DIR / m for m in recipe["members"]] if "members" in recipe else [path]
    return {**recipe, "file": path, "networks": [(f, load(f)) for f in files]}


def models() -> list[str]:
    """Every model that has a recipe (a model recipe, or a network recipe named after its file)."""
    out = []
    for p in sorted(RECIPES_DIR.glob("*.toml")):
        r = load(p)
        if "members" in r or r.get("name") == p.stem:
            out.append(p.stem)
    return out


def card(path: Path, recipe: dict) -> dict:
    return {"file": shown(path), "description": " ".join(recipe["description"].split())}


def _value(action: argparse.Action, key: str, value, path: Path):
    """A recipe value as the parser's default: a relative path is relative to the repository (the recipe is
    part of it), a flag without a value takes true or false."""
    if action.nargs == 0:
        if not isinstance(value, bool):
            raise RecipeError(f"{path}: {key} is a switch: true or false")
        return value
    if isinstance(value, list):
        if action.nargs not in ("+", "*") and not (isinstance(action.nargs, int) and len(value) == action.nargs):
            raise RecipeError(f"{path}: {key} takes {action.nargs if isinstance(action.nargs, int) else 'one'} value(s), not {len(value)}")
        return [_value_one(action, key, v, path) for v in value]
    return _value_one(action, key, value, path)


def _value_one(action: argparse.Action, key: str, value, path: Path):
    if isinstance(value, dict | list):
        raise RecipeError(f"{path}: {key} takes a plain value")
    if action.type is Path:
        if not isinstance(value, str):
            raise RecipeError(f"{path}: {key} is a path")
        return Path(value) if Path(value).is_absolute() else ROOT / value
    if action.type is not None and not isinstance(value, str):
        try:
            value = action.type(value)
        except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
            raise RecipeError(f"{path}: {key} = {value!r}: {e}") from e
    if action.choices is not None and value not in action.choices:
        raise RecipeError(f"{path}: {key} = {value!r}: one of {', '.join(map(str, action.choices))}")
    return value


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="a recipe file (training/configs/*.toml): its values are this script's flags; flags given here override them")


def apply(p: argparse.ArgumentParser, argv: list[str] | None, script: str, also: set[str] = frozenset()) -> tuple[Path, dict] | None:
    """Read ``--config FILE`` from ``argv`` and make the recipe's values ``p``'s defaults (``p.error`` on a bad
    file, a key that is no flag of ``p`` or of ``also``, or a recipe of another script); returns (file, recipe)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path, default=None)
    known, _ = pre.parse_known_args(argv)
    if known.config is None:
        return None
    try:
        recipe = load(known.config)
        if "members" in recipe:
            raise RecipeError(f"{known.config}: a model of several networks: python training/rebuild.py {known.config.stem}")
        if Path(recipe["script"]).name != Path(script).name:
            raise RecipeError(f"{known.config}: a recipe of {recipe['script']}, not of {shown(script)}")
        actions = {a.dest: a for a in p._actions if a.option_strings and a.dest not in ("help", "config")}
        defaults = {}
        for key, value in recipe.items():
            if key in NOT_FLAGS or key in also:
                continue
            if key not in actions:
                raise RecipeError(f"{known.config}: {key!r} is no flag of {shown(script)} (its flags: {', '.join(sorted(actions))})")
            defaults[key] = _value(actions[key], key, value, known.config)
    except RecipeError as e:
        p.error(str(e))
    p.set_defaults(**defaults)
    return known.config, recipe
