"""``model.type = "pix2struct"``: fine-tunes Pix2Struct end to end with Keras ``fit``, or
trains one from scratch.

Steps:

1. the model: ``model.checkpoint`` (a Hugging Face Pix2Struct dir, an ``hf:ORG/NAME`` id
   or a ``pix2struct`` model dir) with its SentencePiece tokenizer, special tokens and
   patch settings; or, with ``model.checkpoint: null``, a random one of the ``model``
   sizes with a SentencePiece model trained on the captions (pad 0, eos 1, unk 2) and
   2048 patches of 16 px (``model.max_patches`` overrides either's patch count);
2. the shared pipeline on image files, each image to flattened patches (the
   :class:`PatchPreprocessor`, in ``tf.data``), each caption tokenised and always ended
   with eos (cut first when too long), padding marked by the mask; teacher forcing as
   Hugging Face's ``labels`` with no label smoothing;
3. Keras ``fit`` with the shared :class:`CaptionLmTrainer` and Adafactor (warmup then
   cosine decay; or AdamW), resumable at any kill point, validation loss and a few sample
   captions every ``train.sample_every`` epochs;
4. the model dir ``workdir/model`` and the shared evaluator on the test split
   (``metrics.json``, ``predictions.jsonl``, ``metrics.md``; the ``charts`` scores on a
   charts dataset).
"""

import os

import keras
import tensorflow as tf

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.patch_preprocessor import PatchPreprocessor, patch_mask
from tfcaption.hparams import check_hparams
from tfcaption.models.pix2struct.pix2struct_captioner import Pix2StructCaptioner
from tfcaption.models.pix2struct.pix2struct_checkpoint import SpecialTokens, build_model
from tfcaption.models.pix2struct.pix2struct_convert import check_fits
from tfcaption.models.pix2struct.pix2struct_dir import save_pix2struct
from tfcaption.models.pix2struct.pix2struct_settings import (  # noqa: F401  (the contract)
    SETTINGS, check_data, validate)
from tfcaption.tokenizers.sentencepiece_tokenizer import MODEL_FILE, SentencePieceTokenizer
from tfcaption.tokenizers.sentencepiece_trainer import train_sentencepiece
from tfcaption.training.adafactor import build_adafactor
from tfcaption.training.adamw import build_adamw
from tfcaption.training.caption_tokenizer import training_captions
from tfcaption.training.fit_captioner import fit_captioner
from tfcaption.training.shared_settings import optimizer_steps


def _tokenizer(hparams, workdir):
    """``tokenizer.dir``'s ``spiece.model``, else one trained on the training captions into
    ``workdir/tokenizer`` (reused when rerun)."""
    settings = hparams["tokenizer"]
    if settings["dir"]:
        return SentencePieceTokenizer.load(settings["dir"])
    out = os.path.join(workdir, "tokenizer")
    if not os.path.isfile(os.path.join(out, MODEL_FILE)):
        train_sentencepiece(training_captions(hparams), out, settings["vocab_size"])
    return SentencePieceTokenizer.load(out)


def _from_scratch(hparams, workdir, jit_compile):
    model = hparams["model"]
    tokenizer = _tokenizer(hparams, workdir)
    tokens = SpecialTokens(decoder_start=tokenizer.pad_id, eos=tokenizer.eos_id,
                           pad=tokenizer.pad_id)
    patch = model["patch_size"]
    shared = {key: model[key] for key in ("num_heads", "hidden_dim", "intermediate_dim",
                                          "key_value_dim")}
    encoder = {**shared, "patch_dim": patch * patch * 3, "num_layers": model["encoder_layers"],
               "max_positions": model["max_positions"]}
    decoder = {**shared, "vocabulary_size": tokenizer.vocabulary_size,
               "num_layers": model["decoder_layers"]}
    network = build_model(encoder, decoder, tokens, dropout=model["dropout"])
    preprocessor = PatchPreprocessor(model["max_patches"] or 2048, patch)
    return Pix2StructCaptioner(network, tokenizer, tokens, preprocessor,
                               max_length=model["max_length"], jit_compile=jit_compile)


def _from_checkpoint(hparams, jit_compile):
    from tfcaption.hf_hub import is_hf_id
    from tfcaption.models.families import checkpoint_type
    from tfcaption.models.load_captioner import load_captioner
    from tfcaption.models.pix2struct.pix2struct_convert import convert_pix2struct

    checkpoint = hparams["model"]["checkpoint"]
    if not is_hf_id(checkpoint) and checkpoint_type(checkpoint) == "pix2struct":
        captioner = convert_pix2struct(checkpoint, jit_compile=jit_compile)
    else:
        captioner = load_captioner(checkpoint, jit_compile=jit_compile)
    if not isinstance(captioner, Pix2StructCaptioner):
        raise ValueError(f"model.checkpoint {checkpoint!r} is a {captioner.model_type} model, "
                         f"not Pix2Struct")
    patches = hparams["model"]["max_patches"]
    if patches and patches != captioner.preprocessor.max_patches:
        old = captioner.preprocessor
        captioner = Pix2StructCaptioner(
            captioner.model, captioner.tokenizer, captioner.tokens,
            PatchPreprocessor(patches, old.patch_size, old.normalize),
            max_length=captioner.max_length, jit_compile=jit_compile)
        check_fits(captioner.model, captioner.tokenizer, captioner.preprocessor, checkpoint)
    return captioner


def _pipeline(hparams, split, captioner, shuffle, pairing):
    data, tokens, tokenizer = hparams["data"], captioner.tokens, captioner.tokenizer
    return CaptionPipeline(data["dir"], split=split, mode="train",
                           preprocessor=captioner.preprocessor,
                           tokenize=lambda text: tokenizer.tokenize(text, add_eos=False),
                           max_length=data["max_length"], end_id=tokens.eos,
                           pad_id=tokens.pad, pairing=pairing,
                           shuffle_buffer=20000 if shuffle else 0,
                           seed=hparams["train"]["seed"], cache=data["cache"])


def _inputs(batch):
    return {"patches": batch["images"], "patch_mask": patch_mask(batch["images"]),
            "token_ids": batch["token_ids"], "padding_mask": batch["padding_mask"]}


def _optimizer(hparams):
    train = hparams["train"]
    if train["optimizer"] == "adafactor":
        return build_adafactor(train, optimizer_steps(hparams))
    return build_adamw(train, optimizer_steps(hparams))


def run(hparams, workdir, extra_callbacks=()):
    """Trains, evaluates and saves; returns the metrics (also in ``metrics.json``)."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train = hparams["data"], hparams["train"]
    keras.utils.set_random_seed(train["seed"])
    captioner = (_from_checkpoint(hparams, train["jit_compile"])
                 if hparams["model"]["checkpoint"]
                 else _from_scratch(hparams, workdir, train["jit_compile"]))
    train_pipe = _pipeline(hparams, data["train_split"], captioner, True, data["pairing"])
    val_pipe = _pipeline(hparams, data["val_split"], captioner, False, "sample")
    train_ds = train_pipe.dataset(train["batch_size"]).map(_inputs)
    val_ds = val_pipe.dataset(train["batch_size"], drop_remainder=False).map(_inputs)
    length, shape = data["max_length"], captioner.feature_shape
    example = {"patches": tf.zeros([2, *shape]), "patch_mask": tf.ones([2, shape[0]]),
               "token_ids": tf.zeros([2, length], tf.int32),
               "padding_mask": tf.ones([2, length], tf.bool)}
    return fit_captioner(captioner, hparams, workdir, train_ds, val_ds, _optimizer(hparams),
                         example, save_pix2struct, extra_callbacks)
