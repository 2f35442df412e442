"""Where pictures come from: MNIST (``digitlab.data`` itself: the one owner of "MNIST as inputs"),
synthetic drawings and photos, a stand-in user's handwriting, the user's own digits, non-digits."""

from digitlab.data.mnist import (  # noqa: F401
    DRY_RUN_SIZES,
    ENV_VAR,
    EXPECTED,
    VAL_SIZE,
    DataError,
    Mnist,
    find_mnist,
    fingerprint,
    load_keras_layout,
    load_mnist,
    load_mnist_mapped,
    mnist_file,
    prepared,
    prepared_mnist,
    sample,
    split_validation,
    validate_arrays,
)
