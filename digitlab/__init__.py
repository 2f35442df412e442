"""digitlab: shared logic of the digit recognition lab.

Data loading, the one preprocessing path, model builders, training, artifacts
(save / load / list) and inference.  Never imports streamlit: the app composes
these functions, it does not re-implement them.
"""

__version__ = "0.1.0"
