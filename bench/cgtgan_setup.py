"""The CgT-GAN benchmark's shared setup: the recipe's settings, real-size tokenizer files and
the random-weight models in their real formats, for both sides (see ``cgtgan_step.py``)."""

import itertools
import os
import random
import string
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipcap_pair  # noqa: E402

BATCH = 4
NUM_SAMPLES = 5
MAX_GEN_LENGTH = 20
STOP_TOKEN_ID = 13  # "." (the reference's eos_token)
END_OF_TEXT_ID = 50256
GPT2_VOCAB = 50257
ROBERTA_CONFIG = dict(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                      layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2)
TARGET = 0.7
HPARAMS = os.path.join(clipcap_pair.ROOT, "hparams", "cgtgan_coco_inuic.json")
REFERENCES = ("official", "teacher_forced")


# --- settings ------------------------------------------------------------------------------

def recipe():
    """``(model, train)`` sections of the CgT-GAN COCO recipe, warmup off on both sides (the
    generator's 150-step warmup would make the first update's learning rate 0)."""
    import json

    with open(HPARAMS) as f:
        hparams = json.load(f)
    train = dict(hparams["train"], g_warmup_steps=0, d_warmup_steps=0, warmup_steps=0)
    return hparams["model"], train


# --- tokenizer files -----------------------------------------------------------------------

def write_gpt2_vocab(directory, seed=0):
    """A GPT-2-format tokenizer of GPT-2's size: the 256 byte symbols in GPT-2's order (so
    ``"."`` is id 13), 50000 merges of ASCII letters (``Ġ`` + letter, ``Ġ`` + two
    letters, ``Ġ`` + three letters in a seeded order, then letter pairs) and
    ``<|endoftext|>`` = 50256. Decoded captions are words of 1-3 letters (with the odd
    byte symbol), and re-tokenizing a decoded caption gives as many tokens as it had."""
    from tfcaption.tokenizers.bpe_files import byte_symbols, write_bpe_files

    vocab = {s: i for i, s in enumerate(byte_symbols())}
    merges = []

    def add(left, right):
        vocab[left + right] = len(vocab)
        merges.append(f"{left} {right}")

    letters = list(string.ascii_letters)
    pairs = list(itertools.product(letters, letters))
    for x in letters:
        add("Ġ", x)
    for x, y in pairs:
        add("Ġ" + x, y)
    triples = list(itertools.product(letters, letters, letters))
    random.Random(seed).shuffle(triples)
    for x, y, z in triples[:GPT2_VOCAB - 1 - len(vocab) - len(pairs)]:
        add("Ġ" + x + y, z)
    for x, y in pairs:  # ranked last, so that BPE rebuilds every "Ġxyz" token whole
        add(x, y)
    vocab["<|endoftext|>"] = END_OF_TEXT_ID
    assert len(vocab) == GPT2_VOCAB and len(merges) == 50000
    write_bpe_files(directory, vocab, merges)
    return vocab


def corpus_sentences(vocab, count, seed=0):
    """``count`` corpus sentences in the reference's form (capitalised, final ``"."``), of
    6 to 16 of the vocabulary's ``Ġ``-words."""
    rng = random.Random(seed)
    words = [t[1:] for t in vocab if t.startswith("Ġ") and len(t) == 4]
    out = []
    for _ in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(6, 16)))
        out.append(text[:1].upper() + text[1:] + ".")
    return out


# --- models --------------------------------------------------------------------------------

def roberta_dir(ctx, tokenizer_dir, seed=0):
    """A random Hugging Face ``RobertaModel`` at ``ctx.sizes`` (roberta-base's, or a smoke
    run's tiny one; roberta-base's vocabulary and positions either way; with pooler, eval
    mode, SDPA attention) saved as a Hugging Face directory with ``tokenizer_dir``'s
    files."""
    import shutil

    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.RobertaModel(transformers.RobertaConfig(**ROBERTA_CONFIG,
                                                                 **ctx.sizes.roberta))
    model.set_attn_implementation("sdpa")
    model.eval()
    path = os.path.dirname(ctx.path("roberta_hf", "config.json"))
    model.save_pretrained(path)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(path, name))
    return model, path


class Parts:
    """Everything both sides need, built once at ``ctx.sizes``: weights, tokenizer files,
    inputs."""

    def __init__(self, ctx, batch):
        import clip_encode
        import keras

        from tfcaption.backbones.clip_loader import load_clip
        from tfcaption.backbones.roberta_loader import load_roberta
        from tfcaption.models.clipcap.cgtgan.caption_discriminator import CaptionDiscriminator
        from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer
        from tfcaption.tokenizers.roberta_tokenizer import write_roberta_from_gpt2

        self.batch = batch
        self.gpt2_dir = os.path.dirname(ctx.path("gpt2_tok", "vocab.json"))
        vocab = write_gpt2_vocab(self.gpt2_dir)
        self.roberta_tok_dir = write_roberta_from_gpt2(
            self.gpt2_dir, os.path.dirname(ctx.path("roberta_tok", "vocab.json")))
        self.clip_tok_dir = os.path.dirname(ctx.path("clip_tok", "vocab.json"))

        sizes = ctx.sizes
        # generator: the same GPT-2 + MLP mapper weights on both sides
        self.torch_generator, self.keras_generator = clipcap_pair.clipcap_pair(sizes, seed=0)
        self.gpt2_tokenizer = load_gpt2_tokenizer(self.gpt2_dir)
        # reward CLIP (writes the CLIP tokenizer into ctx's clip_tok/)
        self.torch_clip, clip_path = clip_encode.hf_clip_dir(ctx)
        self.clip = load_clip(clip_path)
        # discriminator: RoBERTa, CgT-GAN's head (fresh), copied to PyTorch
        self.torch_roberta, path = roberta_dir(ctx, self.roberta_tok_dir)
        loaded = load_roberta(path)
        self.roberta_tokenizer = loaded.tokenizer
        keras.utils.set_random_seed(0)  # the head's initialiser (as cgtgan_training.run)
        self.keras_discriminator = CaptionDiscriminator(
            loaded.model, mlp_dim=sizes.discriminator_mlp_dim, name="discriminator")
        self.torch_head = torch_mlp_head(self.keras_discriminator)

        rng = np.random.default_rng(0)
        self.prefix = rng.normal(size=(batch, sizes.prefix_dim)).astype(np.float32)
        self.target = rng.normal(size=(batch, sizes.prefix_dim)).astype(np.float32)
        self.sentences = corpus_sentences(vocab, batch * NUM_SAMPLES)

    def drop_torch(self):
        """Lets the PyTorch modules go (once the references are timed)."""
        self.torch_generator = self.torch_clip = self.torch_roberta = self.torch_head = None


def torch_mlp_head(discriminator):
    """The reference's ``MLP((hidden, mlp_dim, 1))`` (Linear, Tanh, Linear; ``(768, 384, 1)``
    at the real size) holding the Keras head's weights."""
    import torch
    from torch import nn

    head = nn.Sequential(nn.Linear(discriminator.encoder.hidden_dim, discriminator.mlp_dim),
                         nn.Tanh(), nn.Linear(discriminator.mlp_dim, 1))
    with torch.no_grad():
        for linear, dense in ((head[0], discriminator.hidden), (head[2], discriminator.out)):
            kernel, bias = (np.asarray(w) for w in dense.get_weights())
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias))
    return head
