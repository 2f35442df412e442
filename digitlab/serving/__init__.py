"""Serving: one stack from a model file to the Prediction a user sees.

    classifiers   Classifier (backend "keras" or "onnx"), ExportedClassifier, predictions(): the one decision
    backends      the one batcher, the Keras and ONNX Runtime forward passes
    gate          the digit gate, on either backend
    abstain       the abstain rule and the calibration it applies
    store         ONNX serving files under each model file's hash; listing entries from cards and records
    convert       the subprocess that converts one .keras file to ONNX (the only serving step needing TensorFlow)
    runtime       the ONNX-backed front the app and the predict CLI call (list_models, load)
    export, numbers   exported formats; reading a number of several digits
    web_manifest  the in-browser page's model descriptions (web/model/*.json): their schema and their one builder
"""
