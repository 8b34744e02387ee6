"""The seed notebook's best model ("v5") as a KerasTuner hypermodel: ``build(hp)``.

    digit-tuner search --model examples/v5.py:build_small      # CPU-sized: 2 minutes a trial
    digit-tuner run --model examples/v5.py:build --data ...    # the seed's recipe: a GPU job

v5: BatchNormalization on the input; 4 x [Conv2D 256 3x3 same, ReLU, MaxPool, Dropout 0.3];
Flatten; 4 x [Dense 256 ReLU, Dropout 0.3]; softmax; Adam 1e-4; batch 64, 100 epochs. Each
``hp.*`` call below declares a hyperparameter whose default is v5's value, so the search's first
trial is v5 itself and the others are its neighbours.

The model takes (28, 28, 1) images scaled to 0..1 and returns 10 probabilities; digit-tuner puts
its augmentation (on the fly, training folds only) and the rescaling of raw pixels in front of it.
``epochs``, ``batch_size`` and ``augment_strength`` are the toolkit's: declare them to fix or
search them. Nothing here imports digit-tuner: the same function works with plain keras-tuner.
"""

import keras


def build(hp):
    """v5 and its neighbourhood: depth, width, dropout and learning rate around the seed's."""
    hp.Fixed("epochs", 100)
    hp.Fixed("batch_size", 64)
    hp.Fixed("augment_strength", 1.0)  # the seed's three pipelines: shift, rotation, zoom
    return _network(
        conv_blocks=hp.Int("conv_blocks", 2, 4, default=4),
        filters=hp.Choice("conv_filters", [64, 128, 256], default=256),
        dense_layers=hp.Int("dense_layers", 1, 4, default=4),
        units=hp.Choice("dense_units", [128, 256], default=256),
        dropout=hp.Float("dropout", 0.2, 0.4, step=0.1, default=0.3),
        learning_rate=hp.Float("learning_rate", 1e-4, 1e-3, sampling="log", default=1e-4),
    )


def build_small(hp):
    """The same family, sized for a 2-core CPU: fewer, narrower layers and 5 epochs."""
    hp.Fixed("epochs", 5)
    hp.Fixed("batch_size", 64)
    hp.Choice("augment_strength", [0.0, 0.5, 1.0], default=0.5)
    return _network(
        conv_blocks=hp.Int("conv_blocks", 2, 3, default=2),
        filters=hp.Choice("conv_filters", [16, 32], default=32),
        dense_layers=hp.Int("dense_layers", 1, 2, default=1),
        units=hp.Choice("dense_units", [64, 128], default=128),
        dropout=hp.Float("dropout", 0.2, 0.4, step=0.1, default=0.3),
        learning_rate=hp.Float("learning_rate", 3e-4, 3e-3, sampling="log", default=1e-3),
    )


def _network(conv_blocks, filters, dense_layers, units, dropout, learning_rate):
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.BatchNormalization()(inputs)
    for _ in range(conv_blocks):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Flatten()(x)
    for _ in range(dense_layers):
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="v5")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
