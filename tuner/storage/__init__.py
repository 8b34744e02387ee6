"""The search directory's one owner: layout, lock, manifest, trial records, atomic writes."""
