"""What a step does differently under several replicas (a MirroredStrategy over 2 logical
CPU devices, in a fresh process): gradient clipping applies to the global batch's
gradients, and the GAN noise seeds differ between replicas."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tfcaption.training.gan_model import GanModel
    from tfcaption.training.trainer_model import TrainerModel

    class Regression(TrainerModel):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)
            self.embedding = keras.layers.Embedding(5, 2)  # a sparse (IndexedSlices) gradient

        def call(self, x):
            rows = tf.cast(tf.abs(x[:, 0]) * 10.0, tf.int32) % 5
            return self.dense(x) + self.embedding(rows)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(x) - y))
                scaled = self.optimizer.scale_loss(loss * self.replica_scale())
            grads = tape.gradient(scaled, self.trainable_variables)
            self.optimizer.apply(grads, self.trainable_variables)
            return {"loss": loss}

    x = np.linspace(-1.0, 2.0, 48, dtype="float32").reshape(8, 6)
    y = np.stack([np.arange(8), -np.arange(8)], 1).astype("float32")
    kernel = np.linspace(-0.5, 0.5, 12, dtype="float32").reshape(6, 2)

    def updated(strategy, clip):
        with strategy.scope():
            model = Regression()
            model(x[:1])
            model.dense.set_weights([kernel, np.zeros(2, "float32")])
            model.embedding.set_weights([np.linspace(-1, 1, 10, dtype="float32").reshape(5, 2)])
            model.compile(optimizer=keras.optimizers.SGD(1.0, **clip), jit_compile=False)
            model.optimizer.build(model.trainable_variables)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return [np.asarray(v.numpy()).tolist() for v in model.trainable_variables]

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": mirrored.num_replicas_in_sync, "clip": {}}
    for clip in ({}, {"global_clipnorm": 0.05}, {"clipnorm": 0.05}, {"clipvalue": 0.01}):
        out["clip"][json.dumps(clip)] = [updated(tf.distribute.get_strategy(), clip),
                                         updated(mirrored, clip)]

    with mirrored.scope():
        gan = GanModel(keras.layers.Dense(1), keras.layers.Dense(1), seed=7)
    seeds = mirrored.run(tf.function(lambda: gan.noise_seed(tf.constant(3), 1, 2)))
    out["replica_seeds"] = [s.numpy().tolist() for s in mirrored.experimental_local_results(seeds)]
    out["one_device_seed"] = gan.noise_seed(tf.constant(3), 1, 2).numpy().tolist()
    print("RESULT", json.dumps(out))
""")


def _run():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert res.returncode == 0, res.stderr[-3000:]
    line = [line for line in res.stdout.splitlines() if line.startswith("RESULT ")]
    import json
    return json.loads(line[0][len("RESULT "):])


def test_clipping_and_noise_under_two_replicas():
    import numpy as np
    out = _run()
    assert out["replicas"] == 2
    unclipped = out["clip"]["{}"][0]
    for clip, (one, two) in out["clip"].items():
        for a, b in zip(one, two):  # the one-device update of the global batch
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7, err_msg=clip)
        if clip != "{}":  # the clip is active in this example
            assert not np.allclose(one[0], unclipped[0]), clip
    first, second = out["replica_seeds"]
    assert first != second  # each replica draws its own noise
    assert out["one_device_seed"] == [7, 2 * 3 + 1]
