"""Importing Keras: quietly, and without touching TensorFlow outside the TensorFlow backend."""

from __future__ import annotations

import logging
import os

__all__ = ["import_keras_quietly"]


def import_keras_quietly():
    """Imports Keras with TensorFlow's start-up chatter (absl and oneDNN notices, written to file
    descriptor 2 before logging is set up) kept off stderr; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    # tf.function retracing notices: every fold builds a fresh model, so retracing is expected.
    # (A logger is looked up by name; this imports nothing.)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras
