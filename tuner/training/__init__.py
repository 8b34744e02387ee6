"""Training one trial: its folds, in a trial process or in this one."""
