"""Every step from the raw drawing or upload to the 28x28 model input, and how MNIST-like it is."""

import common
import streamlit as st

common.routed()
st.title("Preprocessing inspector")
digit = common.require_digit()

st.caption(
    f"Input from the {digit.origin}. The same `digitlab.preprocess.prepare` runs for training, evaluation and this app: "
    "ink made light on black, background removed, cropped, fitted into 20×20 and centred by its centre of mass in 28×28, like MNIST."
)
common.show_steps(digit.prepared, size=180)
st.subheader("How MNIST-like is the model input?")
common.show_likeness(digit.prepared.image)
