"""Converts a released checkpoint into a tfcaption model dir: a ClipCap ``.pt``, or a
Hugging Face VisionEncoderDecoder dir (ViT-GPT2).

    python -m tfcaption.convert --checkpoint=coco_weights.pt --gpt2=GPT2_DIR \
        --clip=CLIP_VIT_B32_DIR --out=models/clipcap_coco
    python -m tfcaption.convert --checkpoint=transformer_weights.pt --gpt2=GPT2_DIR \
        --clip=RN50x4.pt --out=models/clipcap_transformer

``--gpt2`` is a directory holding GPT-2's ``vocab.json`` + ``merges.txt`` (e.g. a Hugging
Face ``gpt2`` download); ``--clip`` (optional) the CLIP image tower the checkpoint was
trained on, so that the model dir captions image files (without it, the model dir takes
CLIP embeddings). ``--normalize_prefix=auto`` L2-normalises CLIP embeddings for the
Transformer mapper and not for the MLP one, as the released checkpoints were trained.

    python -m tfcaption.convert --checkpoint=VIT_GPT2_DIR --out=models/vit_gpt2

A VisionEncoderDecoder dir (e.g. a download of ``nlpconnect/vit-gpt2-image-captioning``)
holds ``config.json`` with ``encoder`` / ``decoder`` sub-configs, ``model.safetensors`` or
``pytorch_model.bin``, ``preprocessor_config.json`` and GPT-2's ``vocab.json`` +
``merges.txt``; it needs no other flag. Prints a one-line summary of what was converted.
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import os

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Official ClipCap .pt (coco_weights.pt, "
                    "conceptual_weights.pt, transformer_weights.pt), or a Hugging Face "
                    "VisionEncoderDecoder (ViT-GPT2) dir.")
flags.DEFINE_string("gpt2", None, "ClipCap: directory with GPT-2's vocab.json and "
                    "merges.txt (required for a ClipCap checkpoint).")
flags.DEFINE_string("clip", None, "Optional CLIP image tower: Hugging Face CLIP dir, OpenAI "
                    "CLIP ResNet .pt or a tfcaption model dir.")
flags.DEFINE_string("out", None, "Output model dir (replaced atomically if it exists).")
flags.DEFINE_enum("normalize_prefix", "auto", ("auto", "true", "false"),
                  "L2-normalise CLIP embeddings before the mapper; auto: true for the "
                  "Transformer mapper, false for the MLP one.")
flags.DEFINE_integer("num_heads", None, "GPT-2 attention heads (default hidden / 64, as "
                     "in every released GPT-2 size).")

NORMALIZE = {"auto": None, "true": True, "false": False}


def summary(description, checkpoint, out, clip=None) -> str:
    """One line: what was converted from where to where."""
    d, gpt = description, description["gpt2"]
    mapper = f"{d['mapping_type']} mapper"
    if d["mapping_type"] == "transformer":
        mapper += f" ({d['num_layers']} layers, clip_length {d['clip_length']})"
    return (f"converted {os.path.basename(checkpoint)}: {mapper}, prefix_length "
            f"{d['prefix_length']} from {d['prefix_dim']}-d CLIP embeddings "
            f"(normalize_prefix={d['normalize_prefix']}), GPT-2 {gpt['num_layers']} layers x "
            f"{gpt['hidden_dim']} ({gpt['num_heads']} heads, vocabulary "
            f"{gpt['vocabulary_size']}), stop token ids {d['stop_token_ids']}, image encoder "
            f"{clip or 'none (takes CLIP embeddings)'} -> {out}")


def convert_released(checkpoint, out) -> str:
    """A Hugging Face captioner dir (a registered family's ``checkpoints``) -> its model
    dir; returns the summary line."""
    from tfcaption.models.families import checkpoint_type, family_of_checkpoint

    kind = checkpoint_type(checkpoint)
    try:
        family = family_of_checkpoint(kind, f"{checkpoint}/config.json")
        captioner = family.convert(kind, checkpoint)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    saved = family.save(captioner, out, {"converted_from": os.path.basename(
        os.path.normpath(checkpoint))})
    return f"converted {checkpoint}: {captioner.describe()} -> {saved}"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from tfcaption.models.families import checkpoint_type

    if os.path.isdir(FLAGS.checkpoint) and checkpoint_type(FLAGS.checkpoint) is not None:
        print(convert_released(FLAGS.checkpoint, FLAGS.out))
        return
    if not FLAGS.gpt2:
        raise app.UsageError("--gpt2 (GPT-2's vocab.json and merges.txt) is required to "
                             "convert a ClipCap checkpoint")
    from tfcaption.models.clipcap.clipcap_model_dir import save_clipcap
    from tfcaption.models.clipcap.official_checkpoint import (convert_official_checkpoint,
                                                              describe)

    try:
        captioner = convert_official_checkpoint(
            FLAGS.checkpoint, tokenizer_dir=FLAGS.gpt2, clip=FLAGS.clip,
            num_heads=FLAGS.num_heads, normalize_prefix=NORMALIZE[FLAGS.normalize_prefix])
    except (ValueError, FileNotFoundError) as error:  # bad inputs: the message says which
        raise SystemExit(f"error: {error}") from None
    description = describe(captioner)
    extra = {"converted_from": os.path.basename(FLAGS.checkpoint),
             "mapping_type": description["mapping_type"]}
    out = save_clipcap(captioner, FLAGS.out, extra_config=extra)
    print(summary(description, FLAGS.checkpoint, out, FLAGS.clip))


def run():
    flags.mark_flags_as_required(["checkpoint", "out"])
    command.run(main)


if __name__ == "__main__":
    run()
