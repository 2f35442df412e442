"""Evaluation: metrics, corruptions and sweeps, attacks, calibration, leaderboard, latency, explanations."""
