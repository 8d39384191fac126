import keras
import numpy as np
import pytest

from kwm.attacks import AttackSettings, add_weight_noise, available_attacks, run_attacks


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dense(3)])


def test_noise_is_relative_to_each_tensor_and_leaves_the_model_untouched():
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    noisy = add_weight_noise(model, 0.1, seed=1)
    for original, kept, perturbed in zip(before, model.get_weights(), noisy.get_weights()):
        np.testing.assert_array_equal(original, kept)
        if original.std() > 0:  # kernels; the zero-initialised biases get no noise
            ratio = (perturbed - original).std() / original.std()
            assert 0.05 < ratio < 0.2
    again = add_weight_noise(model, 0.1, seed=1)
    for a, b in zip(noisy.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # seeded
    with pytest.raises(ValueError, match="relative_std=-1"):
        add_weight_noise(model, -1)


def test_the_attack_is_registered_and_reads_its_levels_from_the_options():
    assert "weight_noise" in available_attacks()
    model = _model()
    x = np.random.default_rng(0).normal(size=(40, 6)).astype("float32")
    y = model.predict(x, verbose=0).argmax(-1)

    def evaluate(attacked):
        return {"accuracy": float((attacked.predict(x, verbose=0).argmax(-1) == y).mean()),
                "watermark_accuracy": 0.0}

    cells = run_attacks(model, None, x, x, y, evaluate, attacks="weight_noise",
                        settings=AttackSettings(options={"weight_noise_stds": [0.0, 2.0]}))
    settings = [c["setting"] for c in cells["weight_noise"]]
    accuracies = [c["accuracy"] for c in cells["weight_noise"]]
    assert settings == [0.0, 2.0]
    assert accuracies[0] == 1.0 and accuracies[1] < 1.0  # no noise: the model itself
