"""Model builders, the adapter to any model's layout and outputs, artifacts (save, load, list), cards, ensembles."""
