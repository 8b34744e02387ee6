"""What is trained: the tunable CNN (``cnn``), the augmentation layer, and users' hypermodels,
all built by ``build``. Importing it loads Keras."""

from tuner.models.cnn import build_model
from tuner.models.hypermodels import ModelSource, build, load_hypermodel

__all__ = [
    "ModelSource",
    "build",
    "build_model",
    "load_hypermodel",
]
