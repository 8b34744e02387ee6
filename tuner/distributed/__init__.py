"""Scaling a search out with keras-tuner's chief and workers, all of it here: this process's part
(``roles``), the search's secret and the workers' keys (``secret``), the chief's TLS certificate
(``certificate``), where a worker finds either (``credentials``), one GPU per worker (``gpus``),
the chief's server and its rules, and a worker's credentials and heartbeat (``chief``), and the
launcher that starts a chief and local workers together and stops them together (``launcher``).

Its modules sit at the layers their imports put them (``pyproject.toml``'s contracts): ``roles``,
``secret``, ``certificate`` and ``gpus`` under the search directory's owner, ``chief`` beside the
keras-tuner shims, the launcher above the search. So the launcher's names load on first use, not
with the package.
"""

from importlib import import_module

__all__ = [
    "launch",
    "run_distributed",
]


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module("tuner.distributed.launcher"), name)
    raise AttributeError(f"module 'tuner.distributed' has no attribute {name!r}")
