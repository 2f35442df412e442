"""python training/finetune_on_custom.py [my_digits] [--base mnist_advanced] [--out models/] [--name mnist_finetuned] [--epochs 12] [--holdout 0.25] [--seed 0] [--dry-run]

Fine-tune a trained model on your own digits: a folder holding subfolders 0 … 9 of pictures
(any size, mode or format; the app's Collect page writes one).  Every picture goes through
the shared preprocessing; unreadable and blank ones are skipped and listed.  A stratified
share of each digit (--holdout) is kept aside and only measured.  The head learns first with
the body frozen, then every layer but BatchNorm with AdamW at a small learning rate, on
augmented pictures mixed with MNIST train digits (--replay) so that MNIST is not forgotten.
Prints before/after accuracy on the held-out pictures and on MNIST test, and writes
models/<name>.keras with its card (base model, counts, before/after figures, config).
"""

import sys

from digitlab.training.cli import finetune_main

if __name__ == "__main__":
    sys.exit(finetune_main(__doc__))
