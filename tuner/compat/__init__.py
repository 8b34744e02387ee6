"""The search's reaches into keras-tuner's private API, in one place (``keras_tuner``); the
distributed chief's protocol and locks are its own feature's (``tuner.distributed.chief``)."""
