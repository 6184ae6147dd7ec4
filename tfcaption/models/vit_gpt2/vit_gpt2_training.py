"""``model.type = "vit_gpt2"``: fine-tunes ViT-GPT2 end to end (the ViT included) with Keras
``fit``, or trains one from scratch.

Steps:

1. the model: ``model.checkpoint`` (a Hugging Face VisionEncoderDecoder dir, an
   ``hf:ORG/NAME`` id or a ``vit_gpt2`` model dir) with its tokenizer, special tokens and
   image preprocessing; or, with ``model.checkpoint: null``, a random one of the
   ``model`` sizes with a GPT-2-format BPE trained on the captions (``<|endoftext|>`` as
   start, end and padding) and the ViT ``tf`` preprocessing (x / 127.5 - 1);
2. the shared pipeline on image files (the ViT is trained, so no feature cache): each
   caption tokenised and ended with eos, padding marked by the mask; teacher forcing as
   Hugging Face's ``labels`` (:class:`VitGpt2Model` shifts after ``decoder_start``);
3. Keras ``fit`` with the shared :class:`CaptionLmTrainer` (AdamW, warmup then linear decay
   or constant, optional clipping), resumable at any kill point, validation loss and a few
   sample captions every ``train.sample_every`` epochs;
4. the model dir ``workdir/model`` and the shared evaluator on the test split
   (``metrics.json``, ``predictions.jsonl``, ``metrics.md``).
"""

import keras
import tensorflow as tf
from keras_hub.models import ViTBackbone

from tfcaption.backbones.gpt2_cross_backbone import GPT2CrossBackbone
from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.image_preprocessor import ImagePreprocessor
from tfcaption.hparams import check_hparams
from tfcaption.models.vit_gpt2.vit_gpt2_captioner import VitGpt2Captioner
from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import SpecialTokens
from tfcaption.models.vit_gpt2.vit_gpt2_dir import save_vit_gpt2
from tfcaption.models.vit_gpt2.vit_gpt2_model import VitGpt2Model
from tfcaption.models.vit_gpt2.vit_gpt2_settings import (  # noqa: F401  (the trainer contract)
    SETTINGS, check_data, validate)
from tfcaption.training.adamw import build_adamw
from tfcaption.training.caption_tokenizer import caption_tokenizer
from tfcaption.training.fit_captioner import fit_captioner
from tfcaption.training.shared_settings import optimizer_steps


def _from_scratch(hparams, workdir, jit_compile):
    """A random ViT-GPT2 of the ``model`` sizes with a BPE trained on the captions."""
    model = hparams["model"]
    tokenizer = caption_tokenizer(hparams, workdir, None)
    end = int(tokenizer.end_token_id)
    size, patch = model["image_size"], model["patch_size"]
    encoder = ViTBackbone(image_shape=(size, size, 3), patch_size=patch,
                          num_layers=model["encoder_layers"], num_heads=model["encoder_heads"],
                          hidden_dim=model["encoder_width"], mlp_dim=model["encoder_mlp"],
                          dropout_rate=model["dropout"], layer_norm_epsilon=1e-12)
    decoder = GPT2CrossBackbone(tokenizer.vocabulary_size(), model["decoder_layers"],
                                model["decoder_heads"], model["decoder_width"],
                                4 * model["decoder_width"], dropout=model["dropout"],
                                max_sequence_length=model["max_positions"])
    return VitGpt2Captioner(VitGpt2Model(encoder, decoder, end), tokenizer,
                            SpecialTokens(decoder_start=end, eos=end, pad=end),
                            ImagePreprocessor("imagenet", size, imagenet_mode="tf"),
                            max_length=model["max_length"], jit_compile=jit_compile)


def _from_checkpoint(checkpoint, jit_compile):
    from tfcaption.hf_hub import is_hf_id
    from tfcaption.models.load_captioner import load_captioner
    from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import (convert_vision_encoder_decoder,
                                                                is_vision_encoder_decoder_dir)

    if not is_hf_id(checkpoint) and is_vision_encoder_decoder_dir(checkpoint):
        return convert_vision_encoder_decoder(checkpoint, jit_compile=jit_compile)
    captioner = load_captioner(checkpoint, jit_compile=jit_compile)
    if not isinstance(captioner, VitGpt2Captioner):
        raise ValueError(f"model.checkpoint {checkpoint!r} is a {captioner.model_type} model, "
                         f"not ViT-GPT2")
    return captioner


def _pipeline(hparams, split, captioner, shuffle, pairing):
    data, tokens = hparams["data"], captioner.tokens
    return CaptionPipeline(data["dir"], split=split, mode="train",
                           preprocessor=captioner.preprocessor,
                           tokenize=captioner.tokenizer.tokenize, max_length=data["max_length"],
                           end_id=tokens.eos, pad_id=tokens.pad, pairing=pairing,
                           shuffle_buffer=20000 if shuffle else 0,
                           seed=hparams["train"]["seed"], cache=data["cache"])


def _inputs(batch):
    return {"images": batch["images"], "token_ids": batch["token_ids"],
            "padding_mask": batch["padding_mask"]}


def run(hparams, workdir, extra_callbacks=()):
    """Trains, evaluates and saves; returns the metrics (also in ``metrics.json``)."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train = hparams["data"], hparams["train"]
    keras.utils.set_random_seed(train["seed"])
    checkpoint = hparams["model"]["checkpoint"]
    captioner = (_from_checkpoint(checkpoint, train["jit_compile"]) if checkpoint
                 else _from_scratch(hparams, workdir, train["jit_compile"]))
    train_pipe = _pipeline(hparams, data["train_split"], captioner, True, data["pairing"])
    val_pipe = _pipeline(hparams, data["val_split"], captioner, False, "sample")
    train_ds = train_pipe.dataset(train["batch_size"]).map(_inputs)
    val_ds = val_pipe.dataset(train["batch_size"], drop_remainder=False).map(_inputs)
    length = data["max_length"]
    example = {"images": tf.zeros([2, *captioner.preprocessor.output_shape]),
               "token_ids": tf.zeros([2, length], tf.int32),
               "padding_mask": tf.ones([2, length], tf.bool)}
    return fit_captioner(captioner, hparams, workdir, train_ds, val_ds,
                         build_adamw(train, optimizer_steps(hparams)), example, save_vit_gpt2,
                         extra_callbacks)
