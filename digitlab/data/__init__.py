"""Where pictures come from: MNIST (``digitlab.data`` itself: the one owner of "MNIST as inputs"),
synthetic drawings and photos, a stand-in user's handwriting, the user's own digits, non-digits."""

from digitlab.data.mnist import DRY_RUN_SIZES, ENV_VAR, EXPECTED, VAL_SIZE, DataError, Mnist, load  # noqa: F401

CANVAS = 280  # px: the side of the app's drawing canvas (10x MNIST's 28); drawn pictures of every generator are this size
