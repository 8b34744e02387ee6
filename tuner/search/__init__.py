"""The search: its plan and budget rule, the cross-validating tuner, oracles and pruners."""
