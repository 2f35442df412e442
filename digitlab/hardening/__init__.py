"""Hardening: hostile inputs made from seeds and the harness that runs them through the code users hit.

    hostile_pictures  hostile pictures (every format a user may drop, and every file that must be refused)
    hostile_models    hostile ``.keras`` files, run through listing and validation (``artifacts.inspect``)
    hostile_files     damaged serving files, records, cards and side files beside a model
    pool              worker processes that run the predict command's per-file code and the app's upload path
    tally             what each answer counts as (crash, hang, wrong refusal or acceptance) and whether a run passed
    fuzz              a whole run: the inputs made, sent through the pool, counted

Nothing here is imported by serving, training or the app: it only calls them.
"""
