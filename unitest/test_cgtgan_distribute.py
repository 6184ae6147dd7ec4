"""The CgT-GAN train step under tf.distribute (MirroredStrategy over 2 CPU devices)."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {unitest!r})
    from tiny_cgtgan import TinyParts
    from conftest import shapes
    from tfcaption.data.dataset_writer import DatasetWriter

    DatasetWriter({data!r}, "shapes").write(shapes.generate(8, 0, 0, image_size=48, seed=3),
                                           verbose=False)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():  # every variable mirrored, the reward CLIP's too
        parts = TinyParts({root!r}, {data!r})
        gan = parts.compile(parts.gan())
    def read(variable):  # a MirroredVariable behind a Keras variable
        return tf.convert_to_tensor(variable.value).numpy()

    batch = parts.batch(gan, batch_size=4)
    before = [read(v) for v in gan.discriminator.trainable_variables]
    history = gan.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1, verbose=0)
    print("replicas", strategy.num_replicas_in_sync)
    print("iterations", read(gan.g_optimizer.iterations), read(gan.d_optimizer.iterations))
    print("finite", all(np.isfinite(v[-1]) for v in history.history.values()))
    print("d_changed", any(not np.array_equal(a, read(v))
                           for a, v in zip(before, gan.discriminator.trainable_variables)))
""")


def test_train_step_runs_under_a_mirrored_strategy(tmp_path):
    script = SCRIPT.format(unitest=os.path.join(ROOT, "unitest"), data=str(tmp_path / "data"),
                           root=str(tmp_path / "parts"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert lines["replicas"] == "2"
    assert lines["iterations"] == "2 2"
    assert lines["finite"] == "True" and lines["d_changed"] == "True"
