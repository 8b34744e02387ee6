"""The tunable builder: v5's point is the seed's v5 model; other points change what they say."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tests.helpers import ROOT, TINY
from tuner.models.cnn import build_model
from tuner.space.spaces import V5, load_space
from tuner.space.values import resolve_values

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def seed_v5_model() -> keras.Model:
    """The seed notebook's v5 model, written as the notebook describes it."""
    layers = [keras.Input((28, 28, 1)), keras.layers.BatchNormalization()]
    for _ in range(4):
        layers += [
            keras.layers.Conv2D(256, (3, 3), padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Dropout(0.3),
        ]
    layers.append(keras.layers.Flatten())
    for _ in range(4):
        layers += [keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.3)]
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def structure(model: keras.Model) -> list[tuple]:
    """Layer types and settings, ignoring parameter-free preprocessing (rescale, augmentation)."""
    out = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Rescaling", "DigitAugmentation"):
            continue
        config = layer.get_config()
        out.append(
            (
                kind,
                config.get("filters"),
                tuple(config.get("kernel_size", ()) or ()),
                config.get("units"),
                config.get("rate"),
                config.get("activation"),
                config.get("padding"),
                layer.count_params(),
            )
        )
    return out


def test_v5_point_of_v5_space_is_the_seed_model():
    ours = build_model(load_space("v5").default_values())
    seed = seed_v5_model()
    assert structure(ours) == structure(seed)
    assert ours.count_params() == seed.count_params() == 2_038_542
    assert ours.optimizer.learning_rate.numpy() == pytest.approx(1e-4)
    assert ours.output_shape == (None, 10)


def test_hyperparameters_shape_the_model():
    small = build_model(
        {
            "conv_blocks": 2,
            "conv_filters": 8,
            "dense_layers": 1,
            "dense_units": 16,
            "input_batch_norm": False,
            "conv_batch_norm": True,
            "convs_per_block": 2,
            "augment_strength": 0.0,
        }
    )
    kinds = [type(layer).__name__ for layer in small.layers]
    assert kinds.count("Conv2D") == 4 and kinds.count("Dense") == 2
    assert kinds.count("BatchNormalization") == 4  # after each conv, none on the input
    assert "DigitAugmentation" not in kinds
    # conv 1->8, 8->8, BN x2; conv 8->8 x2, BN x2; 7x7x8 -> 16 -> 10
    expected = (9 * 8 + 8) + (9 * 64 + 8) * 3 + 4 * 8 * 4 + (7 * 7 * 8 * 16 + 16) + (16 * 10 + 10)
    assert small.count_params() == expected


def test_model_accepts_uint8_pixels_and_outputs_probabilities():
    model = build_model({"conv_blocks": 1, "conv_filters": 4, "dense_layers": 0})
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    p = model.predict(x, verbose=0)
    assert p.shape == (5, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_hyperparameter_is_refused():
    with pytest.raises(ValueError, match="unknown hyperparameter 'width'"):
        resolve_values({"width": 3})
    assert resolve_values({}) == V5


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_label_smoothing_loss_matches_the_formula_and_round_trips(tmp_path):
    import keras

    from tuner.models.cnn import SparseSmoothedCrossentropy, build_model

    probabilities = np.array([[0.7, 0.1] + [0.025] * 8, [0.1] * 10], dtype="float32")
    labels = np.array([0, 3])
    eps = 0.1
    target = np.eye(10)[labels] * (1 - eps) + eps / 10
    expected = np.mean(-np.sum(target * np.log(probabilities), axis=1))
    loss = SparseSmoothedCrossentropy(eps)(labels, probabilities)
    assert float(loss) == pytest.approx(expected, rel=1e-5)

    model = build_model({**TINY, "label_smoothing": eps})
    assert isinstance(model.loss, SparseSmoothedCrossentropy)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert again.loss.label_smoothing == pytest.approx(eps)


def test_lr_decay_spans_every_step_of_training():
    import keras

    from tuner.models.cnn import build_model

    model = build_model({**TINY, "lr_decay": True, "epochs": 3, "batch_size": 64}, train_size=200)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == 3 * math.ceil(200 / 64)
    assert float(schedule(0)) == pytest.approx(3e-3)
    assert float(schedule(schedule.decay_steps)) == pytest.approx(0.0, abs=1e-9)
    constant = build_model(TINY, train_size=200)
    assert float(constant.optimizer.learning_rate) == pytest.approx(3e-3)


def test_hyperband_entries_are_dropped_and_its_budget_sets_the_epochs():
    from tuner.space.values import resolve_values

    values = resolve_values({**TINY, "tuner/epochs": 3, "tuner/initial_epoch": 1, "tuner/round": 1})
    assert values["epochs"] == 3
    assert not any(k.startswith("tuner/") for k in values)


def test_the_hand_written_baseline_is_a_point_of_the_builder():
    """bench/handwritten.py's plain Keras CNN (issue 13's baseline: 32-32-s2 / 64-64-s2, batch
    norm, dropout 0.4, dense 128) is what the builder makes of its values (filter_growth
    doubles the filters per block), so a space can hold it."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import handwritten

    ours = build_model({**handwritten.model_values, "augment_strength": 0.0})
    theirs = handwritten.model(augment=False)
    assert structure(ours) == structure(theirs)
    assert ours.count_params() == theirs.count_params()
    kinds = [type(layer).__name__ for layer in ours.layers]
    assert kinds.count("Conv2D") == 6 and kinds.count("BatchNormalization") == 6
    filters = [layer.filters for layer in ours.layers if type(layer).__name__ == "Conv2D"]
    assert filters == [32, 32, 32, 64, 64, 64]
    assert ours.get_layer("flatten").output.shape[1:] == (4 * 4 * 64,)  # valid: 28-24-12-8-4


def test_the_hand_written_v5_baseline_is_the_seeds_v5():
    """bench/handwritten.py --recipe v5: examples/v5.py's v5 (2,038,542 parameters, Adam 1e-4)
    behind plain Keras augmentation and rescaling; no class of ours in it."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import handwritten

    net = handwritten.v5_model(seed=0)
    assert net.count_params() == 2_038_542
    assert float(net.optimizer.learning_rate) == pytest.approx(1e-4)
    modules = {type(layer).__module__.split(".")[0] for layer in net._flatten_layers()}
    assert modules == {"keras"}
    assert handwritten.RECIPES["v5"][2] is None  # a constant rate: epoch k is the k-epoch run


def test_bn_momentum_reaches_every_batch_norm_layer_and_v5_keeps_keras_default():
    """bn_momentum: Keras' 0.99 needs a few hundred steps; the CPU profile's folds train 44 an
    epoch, so its batch-norm trials scored chance on validation for epochs (quick.toml's header)."""
    values = {"input_batch_norm": True, "conv_blocks": 2, "conv_filters": 4, "dense_layers": 1,
              "dense_units": 8, "conv_batch_norm": True, "strided_downsampling": True,
              "augment_strength": 0.0}  # fmt: skip
    momenta = {
        m: [
            layer.momentum
            for layer in build_model({**values, "bn_momentum": m}).layers
            if type(layer).__name__ == "BatchNormalization"
        ]
        for m in (0.9, 0.99)
    }
    assert momenta[0.9] == [0.9] * 5 and momenta[0.99] == [0.99] * 5  # input, 2 convs, 2 downs
    assert V5["bn_momentum"] == 0.99  # v5 as the seed wrote it
    quick = load_space("quick").default_values()
    assert quick["conv_batch_norm"] and quick["bn_momentum"] == 0.9


def test_blocks_that_shrink_the_image_to_nothing_are_refused_by_name():
    with pytest.raises(ValueError, match="conv_blocks=4 .* valid_padding=True shrink the 28 px"):
        build_model({"conv_blocks": 4, "convs_per_block": 2, "valid_padding": True})
