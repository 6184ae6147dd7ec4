"""Every trainer's step under mixed precision: ``mixed_bfloat16`` (float32 weights, bfloat16
compute) and ``mixed_float16`` (float16 compute, every optimizer of the step wrapped in a
``LossScaleOptimizer``, the gradients of scaled losses).

Each trainer is built under the policy the way its trainer module builds it (its model
builder, optimizer and compile; a CgT-GAN generator loaded from a model dir written by a
float32 run), at tiny sizes, with the per-family tests' tiny builders. Every layer of the
trained networks must compute in the policy's dtype; ``train_on_batch`` on a tiny batch
must give finite logs and move every trained network's weights, which stay float32. Under
``mixed_float16`` a step whose scaled gradients overflow is skipped and the loss scale
halved (Keras's dynamic loss scaling, from 2 ** 15), so the weights must move within
:data:`MAX_SKIPPED_STEPS` more steps.

The steps run eagerly (``run_eagerly``): the same ``train_step`` code and dtypes as under
``fit``, without tracing every trainer's step twice (minutes on 2 CPU cores).
"""

import dataclasses
import os

import keras
import numpy as np
import pytest
from test_attend_gan_model import batch as attend_gan_batch
from test_attend_gan_model import gan as attend_gan
from test_cgtgan_training import _init_hparams as clipcap_text_hparams
from test_clip_training import TINY_RESNET, TINY_VIT
from test_clip_training import _tiny as clip_hparams
from test_clipcap_model import _batch as clipcap_batch
from test_clipcap_model import _model as clipcap_model
from test_show_tell_training import _hparams as show_tell_hparams
from test_vit_gpt2_training import _hparams as vit_gpt2_hparams
from test_wgan_model import _batch as wgan_batch
from test_wgan_model import _model as wgan
from tiny_captioner import CLIP_SHAPES, ROOT
from tiny_cgtgan import TinyParts

from tfcaption.hparams import apply_overrides, check_hparams, load_hparams
from tfcaption.models.families import trainer_types
from tfcaption.training.caption_lm_trainer import CaptionLmTrainer

POLICIES = ("mixed_bfloat16", "mixed_float16")
MAX_SKIPPED_STEPS = 10  # the loss scale is down to 32 after 10 skipped steps
BATCH = 4


@dataclasses.dataclass
class Step:
    """A built, compiled trainer; a batch for its ``train_on_batch``; the networks it
    trains; the optimizers its step applies."""
    trainer: keras.Model
    batch: dict
    networks: list
    optimizers: list


class TinyDirs:
    """The data and working dirs the builders share (tokenizers are trained once)."""

    def __init__(self, root, shapes_dir):
        self.root, self.shapes_dir = root, shapes_dir

    def workdir(self, name):
        path = os.path.join(self.root, name)
        os.makedirs(path, exist_ok=True)
        return path

    def cgtgan_parts(self):
        """The tiny CgT-GAN parts, loaded under the current policy; the generator dir is
        written once under float32, as by a float32 text-only run."""
        root = self.workdir("cgtgan")
        if not os.path.isdir(os.path.join(root, "generator")):
            policy = keras.config.dtype_policy()
            keras.config.set_dtype_policy("float32")
            try:
                TinyParts(root, self.shapes_dir)
            finally:
                keras.config.set_dtype_policy(policy)
        return TinyParts(root, self.shapes_dir)


def _checked(hparams, module):
    """``hparams`` checked against a trainer module's settings, its defaults filled in."""
    hparams = check_hparams(hparams, module.SETTINGS)
    module.validate(hparams)
    return hparams


def _captions(vocabulary_size, length, end_id=None, padding=True):
    """``(token_ids [BATCH, length], padding_mask)``: random ids, the last row padded
    after 3 tokens when ``padding``; ``end_id`` ends every row's real tokens."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, vocabulary_size, (BATCH, length)).astype("int32")
    mask = np.ones((BATCH, length), bool)
    if padding:
        mask[-1, 3:] = False
    if end_id is not None:
        ids[np.arange(BATCH), mask.sum(1) - 1] = end_id
    return ids, mask


def _images(size):
    return np.random.default_rng(2).normal(size=(BATCH, size, size, 3)).astype("float32")


# --- one builder per trainer ---------------------------------------------------------------
def _clip(dirs, model):
    from tfcaption.backbones.clip_model import ClipModel
    from tfcaption.models.clip import clip_training
    from tfcaption.models.clip.contrastive_clip import ContrastiveClip

    hparams = _checked(apply_overrides(clip_hparams(dirs.shapes_dir, epochs=1, model=model),
                                       [f"tokenizer.dir={CLIP_SHAPES}", "train.warmup_steps=0"]),
                       clip_training)
    tokenizer = clip_training._tokenizer(hparams, dirs.workdir("clip"))
    clip = ClipModel(**clip_training.clip_model_arguments(hparams["model"], tokenizer))
    trainer = ContrastiveClip(clip)
    trainer.compile(optimizer=clip_training._optimizer(hparams["train"], 10),
                    jit_compile=False)
    m = hparams["model"]
    ids, _ = _captions(tokenizer.vocabulary_size(), m["max_sequence_length"],
                       tokenizer.end_token_id, padding=False)
    batch = {"images": _images(m["image_size"]), "token_ids": ids}
    return Step(trainer, batch, [clip], [trainer.optimizer])


def _clipcap(dirs):
    model = clipcap_model("transformer")
    trainer = CaptionLmTrainer(model)
    trainer.compile(optimizer=keras.optimizers.AdamW(1e-2, global_clipnorm=1.0))
    return Step(trainer, clipcap_batch(BATCH), [model], [trainer.optimizer])


def _clipcap_text(dirs):
    from tfcaption.models.clipcap.cgtgan import text_init_training
    from tfcaption.models.clipcap.clipcap_builder import build_clipcap, load_or_build_gpt2
    from tfcaption.models.clipcap.clipcap_settings import gpt2_settings
    from tfcaption.training.adamw import build_adamw

    hparams = _checked(apply_overrides(clipcap_text_hparams(dirs.shapes_dir, "unused"),
                                       ["train.warmup_steps=0"]), text_init_training)
    vocabulary_size, prefix_dim = 300, 16
    gpt2 = load_or_build_gpt2(gpt2_settings(hparams["model"]["gpt2"]), vocabulary_size)
    model = build_clipcap({k: v for k, v in hparams["model"].items() if k != "type"},
                          prefix_dim, gpt2.model)
    trainer = CaptionLmTrainer(model)
    trainer.compile(optimizer=build_adamw(hparams["train"], 10), jit_compile=False)
    ids, mask = _captions(vocabulary_size, hparams["data"]["max_length"])
    prefix = np.random.default_rng(3).normal(size=(BATCH, prefix_dim)).astype("float32")
    batch = {"prefix": prefix, "token_ids": ids, "padding_mask": mask}
    return Step(trainer, batch, [model], [trainer.optimizer])


def _cgtgan(dirs):
    parts = dirs.cgtgan_parts()
    gan = parts.compile(parts.gan(jit_compile=False, num_samples=2, max_gen_length=4))
    return Step(gan, parts.batch(gan), [gan.generator, gan.discriminator],
                [gan.g_optimizer, gan.d_optimizer])


def _wgan(dirs):
    model = wgan(dropout=0.0)
    return Step(model, wgan_batch(), [model.generator, model.discriminator],
                [model.g_optimizer, model.d_optimizer])


def _attend_gan(dirs):
    model = attend_gan("adversarial", image_conditioned=True, mc_num=1)
    return Step(model, attend_gan_batch(), [model.generator, model.discriminator],
                [model.g_optimizer, model.d_optimizer])


def _show_tell(dirs):
    from tfcaption.models.show_tell import show_tell_training
    from tfcaption.tokenizers.word_vocabulary import WordVocabulary

    hparams = _checked(show_tell_hparams(dirs.shapes_dir, epochs=1), show_tell_training)
    vocabulary = WordVocabulary.build(["a red circle", "two blue squares and a star"])
    feature_dim, length = 12, hparams["model"]["max_length"]
    model = show_tell_training.build_model(hparams, vocabulary, feature_dim)
    trainer = show_tell_training.compile_model(model, hparams["train"], length)
    ids, mask = _captions(len(vocabulary), length + 1, vocabulary.end_id)
    features = np.random.default_rng(3).normal(size=(BATCH, feature_dim)).astype("float32")
    batch = {"features": features, "token_ids": ids[:, :-1], "target_ids": ids[:, 1:],
             "padding_mask": mask[:, 1:]}
    return Step(trainer, batch, [model], [trainer.optimizer])


def _vit_gpt2(dirs):
    from tfcaption.models.vit_gpt2 import vit_gpt2_training
    from tfcaption.training.adamw import build_adamw

    hparams = vit_gpt2_hparams(dirs.shapes_dir)
    hparams["train"]["warmup_steps"] = 0
    hparams = _checked(hparams, vit_gpt2_training)
    captioner = vit_gpt2_training._from_scratch(hparams, dirs.workdir("vit_gpt2"), False)
    trainer = CaptionLmTrainer(captioner.model)
    trainer.compile(optimizer=build_adamw(hparams["train"], 10), jit_compile=False)
    ids, mask = _captions(captioner.tokenizer.vocabulary_size(), 8, captioner.tokens.eos)
    batch = {"images": _images(hparams["model"]["image_size"]), "token_ids": ids,
             "padding_mask": mask}
    return Step(trainer, batch, [captioner.model], [trainer.optimizer])


def _pix2struct(dirs):
    from tfcaption.data.patch_preprocessor import patch_mask
    from tfcaption.models.pix2struct import pix2struct_training

    charts = load_hparams(os.path.join(ROOT, "hparams", "pix2struct_charts.json"))
    hparams = _checked(apply_overrides(charts, [
        f"data.dir={dirs.shapes_dir}", "train.warmup_steps=0", "train.jit_compile=false",
        "model.max_patches=8", "model.encoder_layers=1", "model.decoder_layers=1",
        "model.num_heads=2", "model.hidden_dim=16", "model.intermediate_dim=32",
        "model.key_value_dim=8", "model.max_length=8", "tokenizer.vocab_size=60"]),
        pix2struct_training)
    captioner = pix2struct_training._from_scratch(hparams, dirs.workdir("pix2struct"), False)
    trainer = CaptionLmTrainer(captioner.model)
    trainer.compile(optimizer=pix2struct_training._optimizer(hparams), jit_compile=False)
    patches = np.random.default_rng(3).normal(size=(BATCH, *captioner.feature_shape))
    patches[:, :, :2] = np.arange(1, patches.shape[1] + 1)[None, :, None]  # row, column
    patches[-1, -3:] = 0.0  # padding patches, masked out
    patches = patches.astype("float32")
    ids, mask = _captions(captioner.tokenizer.vocabulary_size, 8, captioner.tokens.eos)
    batch = {"patches": patches, "patch_mask": patch_mask(patches).numpy(), "token_ids": ids,
             "padding_mask": mask}
    return Step(trainer, batch, [captioner.model], [trainer.optimizer])


# trainer type -> {case: builder}; a new trainer type fails test_every_trainer_is_covered
# until it adds its own
TRAINERS = {
    "clip": {"clip_vit": lambda dirs: _clip(dirs, TINY_VIT),
             "clip_resnet": lambda dirs: _clip(dirs, TINY_RESNET)},
    "clipcap": {"clipcap": _clipcap},
    "clipcap_text": {"clipcap_text": _clipcap_text},
    "cgtgan": {"cgtgan": _cgtgan},
    "wgan": {"wgan": _wgan},
    "attend_gan": {"attend_gan": _attend_gan},
    "show_tell": {"show_tell": _show_tell},
    "vit_gpt2": {"vit_gpt2": _vit_gpt2},
    "pix2struct": {"pix2struct": _pix2struct},
}
CASES = {case: build for cases in TRAINERS.values() for case, build in cases.items()}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory, shapes_dir):
    return TinyDirs(str(tmp_path_factory.mktemp("mixed_precision")), shapes_dir)


@pytest.fixture(params=POLICIES)
def policy(request):
    """The global dtype policy for the test; float32 again after it."""
    keras.config.set_dtype_policy(request.param)
    keras.utils.set_random_seed(0)
    yield request.param
    keras.config.set_dtype_policy("float32")


def test_every_trainer_is_covered():
    assert sorted(TRAINERS) == trainer_types()


def _layer_policies(network):
    return {layer.dtype_policy.name for layer in network._flatten_layers()}


def _values(network):
    return [v.numpy().copy() for v in network.trainable_variables]


def _moved(before, network):
    return any(not np.array_equal(a, v.numpy())
               for a, v in zip(before, network.trainable_variables))


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_training_step(case, policy, dirs):
    step = CASES[case](dirs)
    for network in step.networks:
        assert network.compute_dtype == policy.split("_")[1], network.name
        assert _layer_policies(network) == {policy}, (network.name, _layer_policies(network))
    scaled = policy == "mixed_float16"
    assert step.optimizers and all(
        isinstance(o, keras.optimizers.LossScaleOptimizer) == scaled for o in step.optimizers)
    step.trainer.run_eagerly = True
    before = [_values(network) for network in step.networks]
    for steps in range(1, 2 + (MAX_SKIPPED_STEPS if scaled else 0)):
        logs = step.trainer.train_on_batch(step.batch, return_dict=True)
        assert logs and all(np.isfinite(float(v)) for v in logs.values()), logs
        if all(_moved(b, network) for b, network in zip(before, step.networks)):
            break
    moved = [network.name for b, network in zip(before, step.networks) if _moved(b, network)]
    assert len(moved) == len(step.networks), f"only {moved} moved in {steps} steps"
    assert all(v.dtype == "float32" for n in step.networks for v in n.trainable_variables)
    print(f"{case} {policy}: every network moved at step {steps}")


def test_a_model_dir_loads_under_the_session_policy(policy):
    from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap

    captioner = load_clipcap(os.path.join(ROOT, "pretrained_models", "clipcap_shapes"),
                             jit_compile=False)
    assert _layer_policies(captioner.model) == {policy}
    assert _layer_policies(captioner.image_encoder.model) == {policy}
    assert all(v.dtype == "float32" for v in captioner.model.weights)
