"""Pix2Struct at the size of ``google/pix2struct-base`` (2048 patches of 16 px): tfcaption's
patch preprocessing in ``tf.data`` vs Hugging Face's image processor, and image patches ->
caption ids (the encoder and the cached decoding, each XLA-compiled) vs Hugging Face
``Pix2StructForConditionalGeneration.generate``.

    python bench/pix2struct.py [--runs=5] [--smoke] [--only=pix2struct_greedy_b1,...]

The images are synthetic scientific figures (axes, grid, curves, bars and labels on white,
300-1200 px wide and high, every aspect ratio), PNG-encoded. The preprocessing row turns the
same encoded files into flattened patches on both sides: ``PatchPreprocessor.from_bytes``
mapped over a ``tf.data`` dataset with ``AUTOTUNE`` parallel calls (:func:`ours_dataset`)
against PIL decoding and ``Pix2StructImageProcessor`` (the class ``transformers`` resolves
that name to here, ``Pix2StructImageProcessorPil`` without torchvision); it compares the
patches, and those of a few JPEGs. The decoding rows feed both models the processor's
patches of the first figures. Both models hold the same random weights: a transformers
model of the released structure is saved with ``save_pretrained`` and converted by
``load_pix2struct_checkpoint``, as a downloaded checkpoint would be. Every caption runs the
full length (32 generated tokens; eos is an ordinary token that does not stop a caption) on
both sides, so both do the same work; the tokens are compared. The reference generates with
``use_cache=True``: Pix2Struct's configs default to ``use_cache=False``, which is about 3x
slower. ``--smoke`` builds a tiny Pix2Struct on 64 patches and preprocesses fewer figures
(``sizes.py``).
"""

import io
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MAX_NEW_TOKENS = 32  # generated tokens per caption
DECODE_BATCHES = (1, 8)
PREPROCESS_BATCH = 8
PREPROCESS_TARGET = 0.5
DECODE_TARGET = 0.6
JPEG_CHECK_IMAGES = 4  # figures also compared as JPEG (the decoders may differ)


def figure(width, height, seed):
    """A synthetic scientific figure: a PIL RGB image of ``width x height``."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, right = int(0.12 * width), int(0.95 * width)
    top, bottom = int(0.08 * height), int(0.85 * height)
    for i in range(1, 6):  # grid
        x = left + (right - left) * i // 6
        y = top + (bottom - top) * i // 6
        draw.line([(x, top), (x, bottom)], fill=(225, 225, 225))
        draw.line([(left, y), (right, y)], fill=(225, 225, 225))
        draw.text((x - 6, bottom + 6), f"{i * 0.2:.1f}", fill="black", font=font)
        draw.text((4, y - 5), f"{10 * (6 - i)}", fill="black", font=font)
    draw.line([(left, bottom), (right, bottom)], fill="black", width=2)
    draw.line([(left, top), (left, bottom)], fill="black", width=2)
    xs = np.linspace(left, right, 60)
    for c in range(int(rng.integers(1, 4))):  # curves
        colour = tuple(int(v) for v in rng.integers(0, 200, 3))
        phase, freq = rng.uniform(0, 6), rng.uniform(1, 4)
        ys = (top + bottom) / 2 + (bottom - top) * 0.35 * np.sin(
            freq * (xs - left) / (right - left) * np.pi + phase)
        ys = ys + rng.normal(0, 0.01 * (bottom - top), ys.shape)
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=colour, width=2)
        draw.text((right - 90, top + 4 + 14 * c), f"method {c + 1}", fill=colour, font=font)
    for b in range(int(rng.integers(0, 6))):  # bars
        x = left + 10 + b * (right - left) // 7
        y = int(rng.uniform(top + 20, bottom - 5))
        draw.rectangle([x, y, x + (right - left) // 14, bottom - 1], fill=(120, 160, 210),
                       outline="black")
    draw.text(((left + right) // 2 - 30, height - 14), "x axis (units)", fill="black",
              font=font)
    return image


def figure_sizes(n, seed=0):
    """``n`` (width, height) pairs between 300 and 1200 px, every aspect ratio."""
    rng = np.random.default_rng(seed)
    return [tuple(int(v) for v in rng.integers(300, 1201, 2)) for _ in range(n)]


def encoded_figures(n, image_format="PNG", seed=0):
    """``n`` figures of :func:`figure_sizes`, encoded: a list of bytes."""
    files = []
    for i, (width, height) in enumerate(figure_sizes(n, seed)):
        buffer = io.BytesIO()
        figure(width, height, seed + i).save(buffer, format=image_format,
                                             **({"quality": 90} if image_format == "JPEG"
                                                else {}))
        files.append(buffer.getvalue())
    return files


def hf_processor():
    """The processor a user gets for ``Pix2StructImageProcessor`` (without torchvision:
    ``Pix2StructImageProcessorPil``)."""
    from transformers import Pix2StructImageProcessor

    return Pix2StructImageProcessor()


def hf_preprocess(processor, files, max_patches):
    """Encoded files -> ``(flattened_patches, attention_mask)`` torch tensors, as a user of
    transformers makes them: PIL decoding, then the processor."""
    from PIL import Image

    images = [Image.open(io.BytesIO(data)).convert("RGB") for data in files]
    out = processor(images=images, max_patches=max_patches, return_tensors="pt")
    return out["flattened_patches"], out["attention_mask"]


def ours_dataset(files, max_patches, batch_size):
    """Encoded files -> batches of patches: ``PatchPreprocessor.from_bytes`` in tf.data.

    ``AUTOTUNE`` parallelism without tf.data's autotuning thread (one parallel call per
    core): destroying an iterator waits for that thread's next wake-up, which adds 0 or
    ~0.3 s at random to a pass over a few dozen images (measured here: the same passes take
    0.36-0.40 s or 0.66-0.69 s with it, 0.34-0.40 s without; the preprocessing itself runs
    equally fast either way)."""
    import tensorflow as tf

    from tfcaption.data.patch_preprocessor import PatchPreprocessor

    preprocessor = PatchPreprocessor(max_patches)
    options = tf.data.Options()
    options.autotune.enabled = False
    return (tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.string))
            .map(preprocessor.from_bytes, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options))


def max_abs_diff(ours_batches, theirs_batches):
    ours = np.concatenate([np.asarray(b) for b in ours_batches])
    theirs = np.concatenate([b.numpy() for b in theirs_batches])
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float(np.abs(ours - theirs).max())


def preprocess_row(ctx):
    """Encoded PNG figures -> flattened patches, ours in tf.data vs the processor."""
    max_patches, n = ctx.sizes.pix2struct_max_patches, ctx.sizes.pix2struct_images
    files = encoded_figures(n)
    processor = hf_processor()
    dataset = ours_dataset(files, max_patches, PREPROCESS_BATCH)
    starts = range(0, n, PREPROCESS_BATCH)

    def ours_fn():
        return list(dataset)

    def reference_fn():
        return [hf_preprocess(processor, files[i:i + PREPROCESS_BATCH], max_patches)[0]
                for i in starts]

    ours, ours_out = ctx.time(ours_fn)
    ref, ref_out = ctx.time(reference_fn)
    jpegs = encoded_figures(JPEG_CHECK_IMAGES, "JPEG")
    jpeg_diff = max_abs_diff(list(ours_dataset(jpegs, max_patches, JPEG_CHECK_IMAGES)),
                             [hf_preprocess(processor, jpegs, max_patches)[0]])
    return harness.row(
        "pix2struct_preprocess", f"Pix2Struct patch preprocessing ({max_patches} patches of "
        f"16 px), {n} PNG figures 300-1200 px, batch {PREPROCESS_BATCH} (tf.data, "
        f"PatchPreprocessor.from_bytes, vs PIL decode + HF {type(processor).__name__})",
        ours, ref, target=PREPROCESS_TARGET, items=n, unit="images",
        checks={"max abs diff (PNG)": f"{max_abs_diff(ours_out, ref_out):.1e}",
                f"max abs diff (JPEG, {JPEG_CHECK_IMAGES} figures)": f"{jpeg_diff:.1e}"})


def reference_model(ctx, seed=0):
    """A random ``Pix2StructForConditionalGeneration`` at ``ctx.sizes`` (eval mode, SDPA
    attention) and the directory it was saved to."""
    import torch
    from transformers import Pix2StructConfig, Pix2StructForConditionalGeneration

    torch.manual_seed(seed)
    config = Pix2StructConfig(text_config=ctx.sizes.pix2struct_text,
                              vision_config=ctx.sizes.pix2struct_vision)
    model = Pix2StructForConditionalGeneration(config)
    model.set_attn_implementation("sdpa")
    path = os.path.dirname(ctx.path("pix2struct_hf", "config.json"))
    model.save_pretrained(path)
    return model.eval(), path


def flops(config, patches, batch, tokens=MAX_NEW_TOKENS):
    """Forward FLOPs (2 x multiply-adds) of captioning ``batch`` images of ``patches``
    patches each (padding included: both sides run it): the patch projection and per
    encoder block the attention projections (``4 N h inner``), scores and weighted sum
    (``2 N^2 inner``) and the gated MLP (``3 N h ff``); each decoder block's cross-attention
    keys and values once per image (``2 N h inner``); then per generated token the decoder
    blocks (self-attention and cross-attention projections ``6 h inner``, the gated MLP
    ``3 h ff``, attention over the mean self-attention context and the ``N`` patches) and
    the LM head."""
    vision, text = config.vision_config, config.text_config
    n, h = patches, vision.hidden_size
    inner = vision.num_attention_heads * vision.d_kv
    block = n * (4 * h * inner + 3 * h * vision.d_ff) + 2 * n * n * inner
    encoder = n * vision.patch_embed_hidden_size * h + vision.num_hidden_layers * block
    th, tinner = text.hidden_size, text.num_heads * text.d_kv
    cross = text.num_layers * 2 * n * th * tinner
    context = 1 + tokens // 2
    token = (text.num_layers * (6 * th * tinner + 3 * th * text.d_ff
                                + 2 * (context + n) * tinner) + th * text.vocab_size)
    return 2 * (batch * (encoder + cross) + batch * tokens * token)


def agreement(ours, reference):
    ours, reference = np.asarray(ours), np.asarray(reference)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    return round(float(np.mean(ours == reference)), 3)


def greedy_rows(ctx, only=None):
    """Patches -> 32 token ids at batch 1 and 8, ours (encoder and decoding each one
    XLA-compiled function) vs HF generate."""
    import tensorflow as tf
    import torch

    from tfcaption.models.pix2struct.pix2struct_checkpoint import load_pix2struct_checkpoint

    names = [f"pix2struct_greedy_b{b}" for b in DECODE_BATCHES]
    if only is not None and not set(names) & set(only):
        return []
    max_patches = ctx.sizes.pix2struct_max_patches
    reference, path = reference_model(ctx)
    reference.to(ctx.torch_device)
    model, tokens = load_pix2struct_checkpoint(path)
    shutil.rmtree(path, ignore_errors=True)  # real size: ~1.1 GB, now loaded
    files = encoded_figures(max(DECODE_BATCHES))
    processor = hf_processor()
    encode = tf.function(lambda patches, mask: model.encode(patches, mask), jit_compile=True)
    config = {"method": "greedy", "max_length": MAX_NEW_TOKENS, "stop_token_ids": []}
    decode = tf.function(lambda states, mask, seed: model.generate_ids(
        states, mask, tokens.decoder_start, config, seed=seed), jit_compile=True)
    rows = []
    for batch, name in zip(DECODE_BATCHES, names):
        if only is not None and name not in only:
            continue
        patches, mask = hf_preprocess(processor, files[:batch], max_patches)
        ours_patches, ours_mask = tf.constant(patches.numpy()), tf.constant(mask.numpy())
        seed = tf.constant([0, 0], tf.int32)
        patches, mask = patches.to(ctx.torch_device), mask.to(ctx.torch_device)

        def ours_fn():
            states = encode(ours_patches, ours_mask)
            return decode(states, ours_mask, seed).token_ids.numpy()[:, 0]

        def reference_fn():
            with torch.inference_mode(), ctx.autocast():
                out = reference.generate(  # eos None: an ordinary token, no stop
                    flattened_patches=patches, attention_mask=mask,
                    max_new_tokens=MAX_NEW_TOKENS, eos_token_id=None, do_sample=False,
                    num_beams=1, use_cache=True)
            return out[:, 1:].cpu().numpy()

        ours, ours_ids = ctx.time(ours_fn)
        ref, ref_ids = ctx.time(reference_fn)
        assert ref_ids.shape == (batch, MAX_NEW_TOKENS), ref_ids.shape
        rows.append(harness.row(
            name, f"Pix2Struct ({ctx.sizes.pix2struct_label}) patches -> {MAX_NEW_TOKENS} "
            f"tokens, greedy, batch {batch}, vs HF Pix2StructForConditionalGeneration "
            f"generate (cache)", ours, ref, target=DECODE_TARGET, items=batch,
            checks={"token agreement": agreement(ours_ids, ref_ids)},
            flops=flops(reference.config, max_patches, batch)))
    return rows


def run(ctx, only=None):
    rows = []
    if only is None or "pix2struct_preprocess" in only:
        rows.append(preprocess_row(ctx))
    return rows + greedy_rows(ctx, only)


def only_option(parser):
    parser.add_argument("--only", default=None, help="comma-separated row names")
    return lambda args: {"only": None if args.only is None else args.only.split(",")}


if __name__ == "__main__":
    harness.standalone(run, only_option)
