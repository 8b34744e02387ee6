"""Bundled search spaces (TOML data files); installed as ``tuner.search_spaces``."""
