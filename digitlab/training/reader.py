"""The number reader: a network trained with CTC to read every digit of a line of ink at once, with no cuts
(``serving.reader`` serves it, ``serving.numbers.read_number`` combines it with the segmenter).

    line (28, 224, 1) -> 5 x [conv 3x3, batch norm, relu] pooled to (3, 56) -> conv over the height -> (56, 128)
         -> dropout -> bidirectional LSTM -> dense 11 (CTC's blank, digits 0-9) per frame of 4 columns

Training lines (``number_lines.lines``): numbers composed from MNIST *train* digits, one real writer's digits
laid out from apart to overlapping, and digits real writers wrote in a row.  The real writers are the
real-strokes file's training writers minus a share of them (``tuning_writers``) that the reader never sees: on
those, and on numbers composed from MNIST *validation* digits, the combination rule is fitted:

    where the segmenter's number and the reader's differ, take the reader's when
    log P(reader's | line) - log P(segmenter's | line) >= margin      (both under the reader's CTC output)

The margin lives in the reader's card (``models/reader/number_reader.json``, key "margin"), where ``serving.reader``
reads it.  It is fitted with ``classifier``'s segmenter reading (the default model); the validation writers,
the held-out site and MNIST test are never read here.

``python training/train_reader.py`` (about 45 minutes on 2 cores) writes the committed reader and its card
into ``models/reader/``; then rebuild the serving files (``python evaluation/serving.py``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.data import number_cases, number_lines, unipen
from digitlab.models import artifacts, cards
from digitlab.serving.reader import CLASSES, FITTED_AGAINST_KEY, MARGIN_KEY, READER_DIR, READER_NAME, decode, keras_model
from digitlab.training import recipe

DATA_VERSION = "1"
TUNING_SEED = 20261124  # which training writers are kept for tuning, and how their numbers are drawn: fixed, independent of any training seed


@dataclass(frozen=True)
class ReaderConfig:
    name: str = READER_NAME  # file stem in the output folder
    real_strokes: str | None = None  # the real-strokes file (digitlab.data.unipen): required
    n_lines: int = 180_000  # training lines
    line_seed: int = 1  # seed of the training lines (number_lines.lines)
    tuning_writers: float = 0.15  # share of each site's training writers never trained on: the rule is fitted on them
    n_tuning_per_cell: int = 3  # numbers composed from MNIST validation digits per (length 2-8, gap, render)
    classifier: str = "mnist_advanced"  # whose segmenter reading the rule is fitted against
    width: int = 128  # filters of the last convolution (24, 48, 64, 96 before it)
    lstm: int = 96  # units of each direction of the LSTM
    dropout: float = 0.2
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3  # cosine decay from here to 0 over the run
    clipnorm: float = 5.0
    seed: int = 0  # weights and shuffling
    mnist_path: str | None = None  # explicit MNIST .npz (else $DIGITLAB_MNIST, keras cache, download)
    dry_run: bool = False  # a few lines and steps: seconds, for tests


DRY_RUN = {"n_lines": 96, "n_tuning_per_cell": 1}


def build(width: int = 128, lstm: int = 96, dropout: float = 0.2, name: str = "number_reader"):
    """(LINE_H, LINE_W, 1) line -> (FRAMES, 11) logits.  Pure builder, uncompiled, ~430k params by default."""
    import keras
    from keras import layers

    inputs = keras.Input((number_lines.LINE_H, number_lines.LINE_W, 1), name="line")
    x = inputs
    for k, (filters, pool) in enumerate(((24, (2, 2)), (48, (2, 2)), (64, None), (96, (2, 1)), (width, None))):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{k}")(x)
        x = layers.BatchNormalization(name=f"norm{k}")(x)
        x = layers.Activation("relu", name=f"relu{k}")(x)
        if pool:
            x = layers.MaxPooling2D(pool, name=f"pool{k}")(x)
    x = layers.Conv2D(width, (x.shape[1], 1), activation="relu", name="columns")(x)  # (1, FRAMES, width)
    x = layers.Reshape((x.shape[2], width), name="frames")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Bidirectional(layers.LSTM(lstm, return_sequences=True), name="lstm")(x)
    outputs = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def tuning_split(items: list, share: float, seed: int = TUNING_SEED) -> tuple[list, list]:
    """The training writers' items -> (items to train on, items of the tuning writers): ``share`` of each site's
    writers (``unipen.writers_apart``), chosen by ``seed``."""
    tuning = unipen.writers_apart(items, share, seed)
    return ([i for i in items if (i.source, i.writer) not in tuning], [i for i in items if (i.source, i.writer) in tuning])


def tuning_numbers(tuning_items: list, x_val: np.ndarray, y_val: np.ndarray, per_cell: int, seed: int = TUNING_SEED) -> list[tuple[str, str, bytes]]:
    """The numbers the rule is fitted on: (part, number, picture file bytes).  The tuning writers' runs on a line,
    drawn on the Numbers canvas where they wrote each stroke with a brush from the slider's range
    (``unipen.render_number``), and numbers of 2-8 MNIST validation digits composed as the numbers dev benchmark
    composes its test digits (``number_cases.cases``), all from ``seed``."""
    from digitlab.evaluation.numbers import as_file
    from digitlab.files import png_bytes

    rng = np.random.default_rng([seed, 1])
    out = [("tuning writers", "".join(str(i.label) for i in run), png_bytes(unipen.render_number(run, rng)))
           for run in unipen.runs_on_a_line(tuning_items)]
    for _, case in number_cases.cases(x_val, y_val, range(2, 9), per_cell=per_cell, seed=seed):
        out.append(("MNIST validation digits", case.number, as_file(case)))
    return out


MARGINS = np.round(np.arange(0, 20.01, 0.1), 1)  # the margins tried (nats); at 20 the reader's reading is ~500 million times the cuts'


def fit_margin(rows: list[dict], grid: np.ndarray = MARGINS) -> tuple[float, dict]:
    """rows {"number", "segmenter", "reader", "ratio"} -> (margin, whole-number accuracy per margin).  ``ratio``:
    log P(reader's | line) - log P(segmenter's | line).  The rule: where the two readings differ, the reader's when
    its ratio >= margin.  The margin is the middle of the grid points with the best accuracy."""
    accuracy = {float(m): float(np.mean([_combined(r, m) == r["number"] for r in rows])) if rows else 0.0 for m in grid}
    best = max(accuracy.values())
    top = [m for m, a in accuracy.items() if a == best]
    return top[len(top) // 2], accuracy


def _combined(row: dict, margin: float) -> str:
    """The number the rule reads from one row."""
    return row["reader"] if row["reader"] and row["reader"] != row["segmenter"] and row["ratio"] >= margin else row["segmenter"]


def read_both(numbers_: list[tuple[str, str, bytes]], classifier, model, batch: int = 64) -> list[dict]:
    """Each number read by the segmenter alone and by the reader alone (its Keras model, the lines in batches: one
    eager call of a recurrent network costs about as much for 64 lines as for one)."""
    from digitlab.serving import numbers

    if not numbers_:
        return []
    segmented = [numbers.read_number(picture, classifier, invert="auto", reader=None).number for _, _, picture in numbers_]
    lines = np.stack([number_lines.to_line(numbers.ink_picture(picture, "auto")[0]) for _, _, picture in numbers_])[..., None]
    read = decode(np.concatenate([np.asarray(model(lines[i:i + batch], training=False)) for i in range(0, len(lines), batch)]))
    return [{"part": part, "number": number, "segmenter": seg, "reader": r.text, "ratio": r.log_likelihood(r.text) - r.log_likelihood(seg)}
            for (part, number, _), seg, r in zip(numbers_, segmented, read)]


def summary(rows: list[dict], margin: float) -> dict:
    """Whole-number accuracy of the segmenter, the reader and the rule, over all rows and per part."""
    out = {}
    for part in ["all", *sorted({r["part"] for r in rows})]:
        sel = [r for r in rows if part in ("all", r["part"])]
        rule = [_combined(r, margin) for r in sel]
        out[part] = {"n": len(sel), "segmenter": float(np.mean([r["segmenter"] == r["number"] for r in sel])),
                     "reader": float(np.mean([r["reader"] == r["number"] for r in sel])),
                     "combined": float(np.mean([a == r["number"] for a, r in zip(rule, sel)]))}
    return out


def fit(model, config: ReaderConfig, mnist, tuning_items: list, say=print) -> dict:
    """The card's margin fields for ``model`` (a Keras reader): the tuning numbers read by ``config.classifier``'s
    cuts and by the reader, the margin with the best whole-number accuracy."""
    from digitlab.serving import classifiers

    classifier = classifiers.load_classifier(config.classifier)
    tuning = tuning_numbers(tuning_items, mnist.x_val, mnist.y_val, config.n_tuning_per_cell)
    if config.dry_run:
        tuning = tuning[:6] + tuning[-6:]
    rows = read_both(tuning, classifier, model)
    margin, accuracy = fit_margin(rows)
    table = summary(rows, margin)
    parts = ", ".join(f"{v['n']} {k}" for k, v in table.items() if k != "all")
    m = table["all"]
    say(f"margin {margin:g} | tuning numbers ({m['n']}): {config.classifier}'s cuts {m['segmenter']:.1%}, reader {m['reader']:.1%}, "
        f"combined {m['combined']:.1%}")
    return {MARGIN_KEY: margin,
            "margin_fitted_on": f"{len(rows)} tuning numbers ({parts}) read by {config.classifier}'s cuts and by the reader: "
                                "the middle of the margins with the best whole-number accuracy",
            "measured": {"tuning": table, "accuracy_by_margin": accuracy, "classifier": config.classifier,
                         FITTED_AGAINST_KEY: classifiers.files_measured([classifier])[classifier.name]["sha256"]}}


def _card_config(card: dict, real_strokes: str | None = None, mnist_path: str | None = None, **changes) -> ReaderConfig:
    """A trained reader's card -> its ``ReaderConfig`` (the keys it knows), with ``changes`` and, where given, other
    files; DataError when the real-strokes file it names is not there (its tuning writers come from it)."""
    from digitlab import data

    known = {f.name for f in dataclasses.fields(ReaderConfig)}
    config = dataclasses.replace(ReaderConfig(**{k: v for k, v in card["config"].items() if k in known}), **changes,
                                 **({"real_strokes": str(real_strokes)} if real_strokes else {}),
                                 **({"mnist_path": mnist_path} if mnist_path else {}))
    if not config.real_strokes or not unipen.resolve(config.real_strokes).is_file():
        raise data.DataError(f"real_strokes={config.real_strokes!r}: the real-strokes file is not there; give it with real_strokes")
    return config


def _tuning_data(config: ReaderConfig) -> tuple:
    """(MNIST, the tuning writers' items): what ``fit`` reads the tuning numbers from."""
    from digitlab import data

    _, tuning_items = tuning_split(unipen.split(unipen.load(config.real_strokes)).train, config.tuning_writers)
    return data.load(config.mnist_path), tuning_items


def refit(path: Path, classifier: str, real_strokes: str | None = None, mnist_path: str | None = None, say=print) -> dict:
    """Fit the margin of the trained reader at ``path`` again, against ``classifier``'s cuts (its card's config
    otherwise: the same tuning writers and numbers), and rewrite its card's margin fields, recording this command
    under "refit".  For a reader made before the tuning drawing changed, a default classifier that changed, or a
    card fitted with the confidence threshold the margin replaced (its "threshold" fields are removed)."""
    from datetime import UTC, datetime

    card = artifacts.read_card(path)
    if not card or (card.get(MARGIN_KEY) is None and card.get("threshold") is None) or "config" not in card:
        raise artifacts.ModelError(f"{path}: not a number reader's card (no margin or config)")
    config = _card_config(card, real_strokes, mnist_path, classifier=classifier)
    model = keras_model(path)  # safe mode and the reader's shape checks, whatever rule its card holds
    fields = fit(model, config, *_tuning_data(config), say)
    fields["config"] = dict(card["config"], classifier=classifier)
    fields["refit"] = {"command": cards.command_line(), "classifier": classifier, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                       "before": {**{k: card[k] for k in (MARGIN_KEY, "threshold") if k in card},
                                  "classifier": card.get("config", {}).get("classifier")},
                       **({"earlier": card["refit"]} if card.get("refit") else {})}
    return artifacts.update_card(path, fields, remove=("threshold", "threshold_fitted_on"))


def run(config: ReaderConfig, out: Path = READER_DIR, say=print, overwrite: bool = False) -> Path:
    """Make the lines, train, fit the combination rule's margin on the tuning numbers, save model + card (a model of
    the same name in ``out`` is replaced only when ``overwrite``: else the run takes a free name)."""
    import keras

    from digitlab import data
    from digitlab.training.gate import _free

    config = _free(config, out, overwrite, say)

    if not config.real_strokes:
        raise data.DataError("the number reader needs the real-strokes file: give real_strokes (or set $DIGITLAB_UNIPEN)")
    keras.utils.set_random_seed(config.seed)
    if config.dry_run:
        config = recipe.dry_sized(config, DRY_RUN)
    command = cards.command_line()
    t0 = time.time()
    mnist = data.load(config.mnist_path)
    split = unipen.split(unipen.load(config.real_strokes))
    train_items, tuning_items = tuning_split(split.train, config.tuning_writers)
    runs = unipen.runs_on_a_line(train_items)
    try:
        x, labels, source = number_lines.lines(config.n_lines, config.line_seed, (mnist.x_train, mnist.y_train), train_items, runs)
    except ValueError as e:
        raise data.DataError(f"{config.real_strokes}: {e}") from e
    say(f"{len(x)} training lines ({', '.join(f'{name} {np.mean(source == k):.0%}' for k, name in enumerate(number_lines.SOURCES))}) "
        f"from {len({(i.source, i.writer) for i in train_items})} training writers; "
        f"{len({(i.source, i.writer) for i in tuning_items})} writers kept for tuning ({time.time() - t0:.0f} s)")

    model = build(config.width, config.lstm, config.dropout, name=config.name)
    steps = max(1, len(x) // config.batch_size) * config.epochs
    epochs = 1 if config.dry_run else config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=config.clipnorm), loss=keras.losses.CTC())
    t_fit = time.time()
    inputs = x[..., None].astype(np.float32)
    inputs /= 255  # in place: one float copy of the 180,000 lines (4.5 GB), not two at once
    del x
    history = model.fit(inputs, labels, batch_size=config.batch_size, epochs=epochs,
                        steps_per_epoch=2 if config.dry_run else None, verbose=1 if sys.stdout.isatty() else 2)
    train_seconds = time.time() - t_fit
    del inputs

    card = cards.build({
        "name": config.name,
        "kind": "number reader: a line of ink (28x224, number_lines.to_line) -> CTC logits (56 frames x 11); "
                "where its reading and the segmenter's differ, its reading wins when log P(its) - log P(segmenter's) >= margin",
        **fit(model, config, mnist, tuning_items, say),
        "config": dataclasses.asdict(config),
        "data": {"mnist": mnist.fingerprint, "lines": int(len(labels)),
                 "lines_by_source": {name: int(np.sum(source == k)) for k, name in enumerate(number_lines.SOURCES)},
                 "training_writers": len({(i.source, i.writer) for i in train_items}),
                 "tuning_writers": len({(i.source, i.writer) for i in tuning_items}), "tuning_seed": TUNING_SEED,
                 "data_version": DATA_VERSION},
        "real_strokes": unipen.card(config.real_strokes),
        "params": int(model.count_params()),
        "train_seconds": round(train_seconds, 1),
        "history": {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()},
        "command": command,
        "dry_run": config.dry_run,
    })
    card["total_seconds"] = round(time.time() - t0, 1)
    path = artifacts.save_model(model, card, config.name, Path(out), overwrite=overwrite)
    say(f"saved {path} | {train_seconds:.0f} s training, {card['total_seconds']:.0f} s in all")
    return path


MEMBER_KEYS = ("name", "config", "params", "train_seconds", "history", "command", "date", "data", MARGIN_KEY)  # what a mean keeps of each reader's card
SHARED_DATA = ("mnist", "tuning_writers", "tuning_seed", "data_version")  # the "data" every member of a mean has in common


def _same_tuning_writers(cards_: list[dict], paths: list[Path]) -> None:
    """Raise ModelError unless every member kept the same writers out of training (the margin of their mean is
    fitted on them, so none may have trained on them) from the same real-strokes file."""
    def key(card):
        return ((card.get("config") or {}).get("tuning_writers"), (card.get("data") or {}).get("tuning_seed"),
                (card.get("real_strokes") or {}).get("sha256"))

    first = key(cards_[0])
    for path, card in zip(paths[1:], cards_[1:]):
        if key(card) != first:
            raise artifacts.ModelError(f"{path}: its tuning writers or real-strokes file differ from {paths[0]}'s "
                                       f"({key(card)} against {first}); the readers' margin is fitted on writers none of them trained on")


def combine(paths: list[Path], name: str = READER_NAME, out: Path = READER_DIR, classifier: str | None = None,
            mnist_path: str | None = None, real_strokes: str | None = None, dry_run: bool = False, say=print,
            overwrite: bool = False) -> Path:
    """Number readers trained apart, read as one: a flat Keras model (every member's layers, ``m<i>_``) whose logits
    are the mean of the members' logits per frame, its margin fitted on the tuning numbers as ``run`` fits one reader's
    (``fit``), saved with a card that keeps each member's.  The members must have kept the same tuning writers out of
    training.  Raises ModelError (a member missing, not a reader, or trained on other tuning writers) or DataError."""
    if (free := artifacts.free_name(out, name, overwrite)) != name:
        say(f"{Path(out) / name}.keras exists and is kept: this run saves {free}.keras (--overwrite replaces it)")
        name = free
    import keras
    from keras import layers

    from digitlab.models.ensemble import clone_onto

    t0 = time.time()
    command = cards.command_line()
    if len(paths) < 2:
        raise artifacts.ModelError(f"{len(paths)} reader given: a mean needs at least 2")
    members = [keras_model(p) for p in paths]  # safe mode and shapes
    member_cards = [artifacts.read_card(Path(p)) or {} for p in paths]
    missing = [str(p) for p, c in zip(paths, member_cards) if "config" not in c]
    if missing:
        raise artifacts.ModelError(f"{missing[0]}: no reader card beside it (its config names the tuning writers the margin needs)")
    _same_tuning_writers(member_cards, [Path(p) for p in paths])
    config = _card_config(member_cards[0], real_strokes, mnist_path, name=name, dry_run=dry_run,
                          **({"classifier": classifier} if classifier else {}))
    inputs = keras.Input((number_lines.LINE_H, number_lines.LINE_W, 1), name="line")
    model = keras.Model(inputs, layers.Average(name="logits")(clone_onto(members, inputs)), name=name)
    summaries = [{"file": Path(p).name, **{k: c[k] for k in MEMBER_KEYS if k in c}} for p, c in zip(paths, member_cards)]
    card = cards.build({
        "name": name,
        "kind": f"number reader: the mean of {len(paths)} readers' logits per frame (members); a line of ink (28x224, number_lines.to_line) "
                "-> CTC logits (56 frames x 11); where its reading and the segmenter's differ, its reading wins when "
                "log P(its) - log P(segmenter's) >= margin",
        **fit(model, config, *_tuning_data(config), say),
        "config": dataclasses.asdict(config),
        "members": summaries,
        "data": {k: v for k, v in (member_cards[0].get("data") or {}).items() if k in SHARED_DATA},  # each member's lines: its own card
        "real_strokes": unipen.card(config.real_strokes),
        "params": int(model.count_params()),
        "train_seconds": round(sum(float(s.get("train_seconds") or 0) for s in summaries), 1),
        "command": command,
        "dry_run": dry_run,
    })
    card["total_seconds"] = round(time.time() - t0, 1)
    path = artifacts.save_model(model, card, name, Path(out), overwrite=overwrite)
    say(f"saved {path} | {len(paths)} readers, {card['params']:,} params")
    return path
