"""A tiny random-weight CgT-GAN (test helper): the tiny ClipCap generator, the shipped
shapes CLIP as the reward model and a one-block RoBERTa discriminator on the generator's BPE."""

import os

import keras
import tensorflow as tf

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.models.clipcap.cgtgan.caption_discriminator import build_discriminator
from tfcaption.models.clipcap.cgtgan.cgtgan_model import CgtGanModel
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap
from tfcaption.tokenizers.roberta_tokenizer import load_roberta_tokenizer, write_roberta_from_gpt2
from tiny_captioner import CLIP_SHAPES, make_tiny_clipcap_dir

REAL = ["a red circle", "two blue squares and a green star", "a small yellow cross",
        "an orange triangle above a purple circle", "three objects"]


class TinyParts:
    def __init__(self, root, shapes_dir):
        generator_dir = os.path.join(root, "generator")
        if not os.path.isdir(generator_dir):
            make_tiny_clipcap_dir(generator_dir, shapes_dir)
        self.generator_dir = generator_dir
        self.roberta_dir = write_roberta_from_gpt2(generator_dir, os.path.join(root, "roberta"))
        self.clip = load_clip(CLIP_SHAPES)

    def gan(self, seed=0, discriminator_seed=5, **kwargs):
        captioner = load_clipcap(self.generator_dir)
        roberta = load_roberta_tokenizer(self.roberta_dir)
        keras.utils.set_random_seed(discriminator_seed)
        disc = build_discriminator(roberta.vocabulary_size(), 1, 2, 32, 64, 24, dropout=0.0)
        settings = dict(num_samples=3, max_gen_length=8, gan_training_steps=1,
                        gan_warm_steps=2, seed=seed)
        settings.update(kwargs)
        gan = CgtGanModel(captioner.model, disc, self.clip.model, captioner.tokenizer,
                          self.clip.tokenizer, roberta,
                          stop_token_ids=captioner.stop_token_ids,
                          strip_token_ids=captioner.strip_token_ids, **settings)
        return gan

    @staticmethod
    def compile(gan, g_rate=1e-3, d_rate=1e-3):
        def adamw(rate):
            return keras.optimizers.AdamW(rate, weight_decay=0.0 if rate == 0 else 0.05,
                                          epsilon=1e-8, global_clipnorm=1.0)
        gan.compile(g_optimizer=adamw(g_rate), d_optimizer=adamw(d_rate))
        gan.build_optimizers()
        return gan

    @staticmethod
    def batch(gan, batch_size=2, seed=0):
        rng = tf.random.Generator.from_seed(seed)
        dim = gan.generator.prefix_dim
        texts = [REAL[i % len(REAL)] for i in range(batch_size * gan.num_samples)]
        real = gan.retokenizer.roberta_inputs(tf.constant(texts))
        return {"prefix": rng.normal([batch_size, dim]), "target": rng.normal([batch_size, dim]),
                "real_token_ids": real["token_ids"], "real_padding_mask": real["padding_mask"]}
