"""The winner retrained on all the data, exported as a plain-Keras model and a submission."""
