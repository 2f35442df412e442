"""What the models learn from: MNIST's digits per class in each split, samples of every class, the training augmentation
applied live to one digit (the recipe's own augmenter), the same digit re-drawn as canvas strokes with its writing
convention (the committed recipe's stroke re-drawing), and your own collected digits.
TensorFlow is loaded only when the live augmentation is asked for (the augmenter is Keras preprocessing layers)."""

import common
import streamlit as st

from digitlab import data, paths
from digitlab.data import overview, user_digits
from digitlab.evaluation import inspect_input
from digitlab.training import preview

SPLITS = {"train": "training", "val": "validation", "test": "test"}
PER_CLASS = 12  # samples of each digit
AUGMENTED = 16  # augmented copies shown
REDRAWN = 16  # re-drawings shown
NEWEST = 8  # the user's newest pictures shown per digit

COUNT_CHART = {
    "height": 220,
    "mark": {"type": "bar", "tooltip": True},
    "encoding": {
        "x": {"field": "digit", "type": "ordinal", "axis": {"labelAngle": 0}},
        "xOffset": {"field": "split", "sort": list(SPLITS.values())},
        "y": {"field": "share", "type": "quantitative", "axis": {"format": "%"}, "title": "share of the split"},
        "color": {"field": "split", "sort": list(SPLITS.values())},
    },
}


@st.cache_resource(show_spinner="Loading MNIST…", max_entries=1)
def mnist() -> data.Mnist:
    """The raw splits, memory-mapped: only the digits shown are read (55 MB held otherwise)."""
    return data.load()


@st.cache_data(max_entries=16, show_spinner=False)
def sheet(split: str, seed: int):
    x, _ = overview.class_samples(mnist(), split, PER_CLASS, seed)
    return overview.contact_sheet(x, PER_CLASS)


@st.cache_data(max_entries=32, show_spinner=False)
def augmented_sheet(recipe: str, split: str, index: int, image, seed: int):
    """``AUGMENTED`` draws of the recipe's augmenter on one digit, as one picture (imports TensorFlow)."""
    return overview.contact_sheet(preview.augmented(image, preview.RECIPES[recipe], AUGMENTED, seed), AUGMENTED // 2)


def next_draw(key: str) -> None:
    """Button callback: runs before the page, so the button's label already says what the next click does."""
    seed = st.session_state[key]
    st.session_state[key] = 0 if seed is None else seed + 1


common.routed()
st.title("The data")
for key, value in {"data_seed": 0, "augment_seed": None, "redraw_seed": None}.items():
    st.session_state.setdefault(key, value)
try:
    raw = mnist()
except data.DataError as e:
    st.error(f"MNIST cannot be loaded: {common.plain(e)}")
    st.stop()

counts = overview.class_counts(raw)
sizes = {s: sum(c) for s, c in counts.items()}
st.caption(
    f"MNIST from `{raw.source}` (fingerprint {raw.fingerprint}): {sizes['train']:,} training digits, {sizes['val']:,} for validation "
    f"(carved from MNIST's training set, stratified, the same for every model) and MNIST's {sizes['test']:,} test digits, "
    "never used to train or choose a model. Every digit is shown as a model sees it: through `digitlab.preprocess`."
)

st.subheader("Digits of each class")
rows = [{"digit": str(d), **{SPLITS[s]: counts[s][d] for s in SPLITS}} for d in range(10)]
left, right = st.columns([2, 3])
left.dataframe(rows + [{"digit": "all", **{SPLITS[s]: sizes[s] for s in SPLITS}}], hide_index=True, width="stretch")
bars = [{"digit": str(d), "split": SPLITS[s], "share": counts[s][d] / sizes[s]} for s in SPLITS for d in range(10)]
right.vega_lite_chart(bars, COUNT_CHART, width="stretch")
low = min(range(10), key=lambda d: counts["train"][d])
high = max(range(10), key=lambda d: counts["train"][d])
st.caption(f"Nearly balanced: the rarest training digit ({low}) has {counts['train'][low] / counts['train'][high]:.0%} as many examples "
           f"as the most common ({high}); each split has the same mix.")

st.subheader("Samples")
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
split = c1.segmented_control("Split", list(SPLITS), format_func=SPLITS.get, default="train", required=True, key="data_split")
if c2.button("New samples", key="data_reseed", width="stretch"):
    st.session_state.data_seed += 1
st.image(inspect_input.enlarge(sheet(split, st.session_state.data_seed), 60 * PER_CLASS),
         caption=f"{PER_CLASS} random {SPLITS[split]} digits of each class, 0 (top) to 9 (bottom)")

st.subheader("The training augmentation, live")
c1, c2, c3, c4 = st.columns(4)
recipe = c1.selectbox("Recipe", list(preview.RECIPES), key="augment_recipe", help="The committed models' recipes (digitlab.training.presets)")
asplit = c2.selectbox("Split", list(SPLITS), format_func=SPLITS.get, key="augment_split")
digit = c3.selectbox("Digit", list(range(10)), index=7, key="augment_digit")
nth = c4.number_input(f"Which {digit} (0 = the first)", 0, counts[asplit][digit] - 1, 0, key="augment_nth")
image, index = overview.nth_of_class(raw, asplit, digit, int(nth))
st.caption(f"`{recipe}` trains with {preview.knobs(preview.RECIPES[recipe])}: the function `digitlab.training.recipe.augmenter` "
           "that its training maps over every batch, here over copies of one digit.")
left, right = st.columns([1, 4])
left.image(inspect_input.enlarge(image, 150), caption=f"{SPLITS[asplit]} digit #{index} (a {digit})")
with right:
    st.button("Augment it (loads TensorFlow the first time: ~6 s and ~680 MB)" if st.session_state.augment_seed is None
              else "Augment again", key="augment_go", on_click=next_draw, args=("augment_seed",))
    if st.session_state.augment_seed is not None:
        with st.spinner("Augmenting…"):
            picture = augmented_sheet(recipe, asplit, index, image, st.session_state.augment_seed)
        st.image(inspect_input.enlarge(picture, 720), caption=f"{AUGMENTED} augmented copies (seed {st.session_state.augment_seed})")

st.subheader("Re-drawn as canvas strokes, live")
st.caption(preview.redraw_words(recipe) + " The same digit as above.")
if found := preview.redraw_recipe(recipe):
    _, step_config = found
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    seed = st.session_state.redraw_seed
    c1.button("Re-draw it" if seed is None else "Re-draw again", key="redraw_go", on_click=next_draw, args=("redraw_seed",))
    eights = "8" in step_config.conventions_classes or c2.checkbox(  # a recipe that draws 8s offers no box
        "Also the 8 as two circles", key="redraw_eights",
        help="conventions_classes = \"014789\": an option of every training script, on in the compact networks cnn_b "
        "(the last network of mnist_cnn) and cnn_e (the last of mnist_advanced)")
    if seed is not None:  # 16 drawings take ~20 ms: drawn on every run, nothing cached
        pictures, edited = preview.redrawn(image, digit, step_config, REDRAWN, seed, eights)
        st.image(inspect_input.enlarge(overview.contact_sheet(pictures, REDRAWN // 2), 720),
                 caption=f"{REDRAWN} re-drawings (seed {seed}), {edited.sum()} of them given a writing convention")

st.subheader("Your own digits")
mine = overview.user_overview(per_digit=NEWEST)
if mine.total == 0:
    st.info(f"No digits collected yet in `{paths.shown(mine.folder)}`: draw and save some on the **Collect** page, "
            "then fine-tune a model on them there.")
    st.page_link("pages/6_Collect.py", label="Go to Collect", icon=":material/inventory_2:")
    st.stop()
short = mine.short()
st.caption(f"{mine.total} picture(s) in `{paths.shown(mine.folder)}`, shown as the model sees them (newest first, up to {NEWEST} per digit).")
if short:
    st.warning(f"Fine-tuning needs {user_digits.needs()}; still short: "
               + ", ".join(f"{d} ({mine.counts[d]})" for d in short) + ".")
st.dataframe([{"digit": "pictures", **{str(d): mine.counts[d] for d in range(10)}, "all": mine.total}], hide_index=True)
grid = st.columns(2)
for i, d in enumerate(d for d in range(10) if mine.newest[d]):
    pictures = [img for img, _ in mine.newest[d]]
    more = f", the newest {len(pictures)} shown" if mine.counts[d] > len(pictures) else ""
    grid[i % 2].image(inspect_input.enlarge(overview.contact_sheet(pictures, len(pictures)), 56 * len(pictures)),
                      caption=f"your {d}s: {mine.counts[d]} picture(s){more}")
if mine.skipped:
    st.warning(f"{len(mine.skipped)} of the pictures shown cannot be used (fine-tuning skips them):")
    for name, reason in mine.skipped:
        st.caption(f"⚠️ {common.plain(name)}: {common.plain(reason)}")
