"""Training: the recipe (config, augmentation, datasets, schedule), the run, multi-worker, search, gate, fine-tuning."""
