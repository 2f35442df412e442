"""Serving: classifiers (Keras and exported), the Prediction a user sees, the abstain rule, export."""
