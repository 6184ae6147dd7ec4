"""The GPT-2-format tokenizer a GPT-2 captioner trains with: given, the checkpoint's, or trained."""

import os

from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl
from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer


def training_captions(hparams):
    """Every caption of the training split of ``hparams["data"]``."""
    data = hparams["data"]
    records = read_captions_jsonl(os.path.join(data["dir"], CAPTIONS_FILE),
                                  split=data["train_split"])
    return [c for r in records for c in r["captions"]]


def caption_tokenizer(hparams, workdir, gpt2_tokenizer, training_texts=None):
    """``tokenizer.dir``, else the GPT-2 checkpoint's tokenizer, else a GPT-2-format BPE
    trained on ``training_texts()`` (default: :func:`training_captions`) into
    ``workdir/tokenizer`` (reused when rerun)."""
    settings = hparams.get("tokenizer", {})
    if settings.get("dir"):
        return load_gpt2_tokenizer(settings["dir"])
    if gpt2_tokenizer is not None:
        return gpt2_tokenizer
    out = os.path.join(workdir, "tokenizer")
    if not os.path.isfile(os.path.join(out, "merges.txt")):
        texts = training_texts() if training_texts is not None else training_captions(hparams)
        train_bpe(texts, out, vocab_size=settings.get("vocab_size", 1000),
                  min_frequency=settings.get("min_frequency", 2))
    return load_gpt2_tokenizer(out)
