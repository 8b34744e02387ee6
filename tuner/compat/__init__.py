"""Every reach into keras-tuner's private API, in one place."""
