"""Training one trial: one model (``fit``), every fold of a trial's ``TrialWork`` (``folds``:
``train_trial``, ``train_trial_in_process``), the trial process they run in (``process``), and
the callbacks.

The package itself imports nothing: ``process`` loads no Keras, so that a trial process starts
light and loads Keras with the first trial it is sent; ``fit`` and ``folds`` load it."""
