"""Trains a T5-style SentencePiece model (``spiece.model``) on caption texts."""

import io
import os

SPECIAL_IDS = {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}  # T5's and Pix2Struct's


def train_sentencepiece(texts, out_dir, vocab_size=1000, model_type="unigram"):
    """Trains on ``texts`` (an iterable of str) and writes ``out_dir/spiece.model`` (pad 0,
    eos 1, unk 2, no bos, as T5 and Pix2Struct number them; at most ``vocab_size``
    pieces, fewer for a small corpus); returns its path."""
    import sentencepiece as spm

    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("no text to train a SentencePiece model on")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=int(vocab_size),
        model_type=model_type, character_coverage=1.0, hard_vocab_limit=False,
        byte_fallback=False, minloglevel=2, **SPECIAL_IDS)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "spiece.model")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model.getvalue())
    os.replace(tmp, path)
    return path
