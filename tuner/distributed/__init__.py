"""Scaling a search out: keras-tuner's chief and workers, launched and checked."""
