"""Home's "Keep it in my digits": the input just read, saved under the digit it really is into the Collect page's
folder (``my_digits/<label>/``), where the fine-tune on your own handwriting finds it.

A component of app/Home.py (layout only): the saving is ``digitlab.data.user_digits.save``, the same call the Collect
page makes; a canvas drawing is saved with its canvas's tone, so it is read again as Home read it.
"""

import common
import streamlit as st

from digitlab.data import user_digits

DIGITS = list(range(10))


def keep(digit: common.Digit, predicted: int | None) -> None:
    """A popover under the prediction: which digit it is (the prediction picked, so a misread needs one click) and
    Save.  Once saved, this input says where it went instead (saving it again takes a new drawing or picture)."""
    if digit.picture is None or digit.prepared.no_ink:
        return
    kept = st.session_state.setdefault("kept", {})  # Digit.key -> the file it was saved as
    with st.popover("Keep it in my digits", icon=":material/bookmark_add:"):
        if digit.key in kept:
            st.success(f"Saved as `{kept[digit.key]}`. The **Collect** page lists it and fine-tunes on it.")
            return
        st.caption("A misread digit is worth keeping most: the fine-tune on the **Collect** page learns your handwriting from them.")
        label = st.segmented_control("Which digit is it?", DIGITS, default=predicted, key=f"keep_label_{digit.key}")
        if st.button("Save", key="keep_save", type="primary", disabled=label is None):
            try:
                path = user_digits.save(digit.picture, label, user_digits.default_dir(), invert=digit.invert, drawn_on=digit.drawn_on)
            except user_digits.CollectError as e:
                st.error(common.plain(common.sentence(str(e))))
                return
            kept.clear()  # only the input on show is remembered
            kept[digit.key] = f"{path.parent.name}/{path.name}"
            st.success(f"Saved a **{label}** as `{kept[digit.key]}`. The **Collect** page lists it and fine-tunes on it.")
