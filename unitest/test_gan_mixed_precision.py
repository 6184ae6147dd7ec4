"""The GAN trainers' steps under mixed precision: ``mixed_bfloat16`` (float32 weights,
bfloat16 compute) and ``mixed_float16`` (both optimizers wrapped in a
``LossScaleOptimizer``, the gradients of scaled losses)."""

import keras
import numpy as np
import pytest
from test_attend_gan_model import batch as attend_gan_batch
from test_attend_gan_model import gan as attend_gan
from test_wgan_model import _batch as wgan_batch
from test_wgan_model import _model as wgan

MODELS = {"wgan": (lambda: wgan(dropout=0.0), wgan_batch),
          "attend_gan": (lambda: attend_gan("adversarial", image_conditioned=True),
                         attend_gan_batch)}


@pytest.fixture(params=["mixed_bfloat16", "mixed_float16"])
def policy(request):
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("family", sorted(MODELS))
def test_one_adversarial_step(family, policy):
    build, batch = MODELS[family]
    model = build()
    assert model.generator.compute_dtype == policy.split("_")[1]
    before = [v.numpy().copy() for v in model.generator.trainable_variables]
    logs = model.train_on_batch(batch(), return_dict=True)
    assert logs and all(np.isfinite(float(v)) for v in logs.values()), logs
    assert all(v.dtype == "float32" for v in model.generator.trainable_variables)
    moved = [not np.array_equal(a, v.numpy())
             for a, v in zip(before, model.generator.trainable_variables)]
    assert any(moved)
    scaled = isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer) == scaled
