"""Hardening: hostile inputs made from seeds and the harness that runs them through the code users hit.

    fuzz            hostile pictures, run through the predict command's per-file code and the app's upload path
    hostile_models  hostile ``.keras`` files, run through listing and validation (``artifacts.inspect``)

Nothing here is imported by serving, training or the app: it only calls them.
"""
