import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.captions_file import read_captions_jsonl
from tfcaption.data.image_preprocessor import ImagePreprocessor

END, PAD = 1000, 1001


def chars(text):
    return tf.strings.unicode_decode(text, "UTF-8")


def _pipe(data_dir, **kw):
    args = dict(preprocessor=ImagePreprocessor("raw", 32), tokenize=chars, max_length=24,
                end_id=END, pad_id=PAD, seed=7, deterministic=True)
    args.update(kw)
    return CaptionPipeline(data_dir, **args)


def _refs(data_dir, split):
    return {r["image_id"]: r["captions"]
            for r in read_captions_jsonl(os.path.join(data_dir, "captions.jsonl"), split)}


def test_train_batches_have_the_standard_keys_and_explicit_padding(shapes_dir):
    refs = _refs(shapes_dir, "train")
    batch = next(iter(_pipe(shapes_dir).dataset(8)))
    assert set(batch) == {"images", "token_ids", "padding_mask", "image_id", "captions"}
    assert batch["images"].shape == (8, 32, 32, 3) and batch["token_ids"].shape == (8, 24)
    for i in range(8):
        cap = batch["captions"][i].numpy().decode()
        assert cap in refs[batch["image_id"][i].numpy().decode()]
        want = [ord(c) for c in cap][:23] + [END]
        n = len(want)
        assert batch["token_ids"][i, :n].numpy().tolist() == want
        assert batch["padding_mask"][i].numpy().tolist() == [True] * n + [False] * (24 - n)
        assert (batch["token_ids"][i, n:].numpy() == PAD).all()


def test_start_token_and_truncation(shapes_dir):
    batch = next(iter(_pipe(shapes_dir, start_id=999, max_length=5).dataset(4)))
    assert batch["padding_mask"].numpy().all()
    for cap, ids in zip(batch["captions"].numpy(), batch["token_ids"].numpy()):
        assert ids.tolist() == [999] + [ord(c) for c in cap.decode()[:3]] + [END]


def test_deterministic_order_and_per_epoch_resampling(shapes_dir):
    def epoch_ids(ds):
        return [(i.decode(), c.decode()) for b in ds for i, c in
                zip(b["image_id"].numpy(), b["captions"].numpy())]

    ds = _pipe(shapes_dir).dataset(8, drop_remainder=False)
    e1, e2 = epoch_ids(ds), epoch_ids(ds)
    again = epoch_ids(_pipe(shapes_dir).dataset(8, drop_remainder=False))
    other = epoch_ids(_pipe(shapes_dir, seed=8).dataset(8, drop_remainder=False))
    assert e1 == again
    assert e1 != e2 and e1 != other
    assert sorted(i for i, _ in e1) == sorted(_refs(shapes_dir, "train"))


def test_all_pairs_mode_yields_every_caption_once(shapes_dir):
    ds = _pipe(shapes_dir, pairing="all").dataset(16, drop_remainder=False)
    pairs = sorted((i.decode(), c.decode()) for b in ds
                   for i, c in zip(b["image_id"].numpy(), b["captions"].numpy()))
    want = sorted((i, c) for i, caps in _refs(shapes_dir, "train").items() for c in caps)
    assert pairs == want


def test_eval_mode_keeps_all_references_in_order(shapes_dir):
    pipe = _pipe(shapes_dir, split="test", mode="eval", tokenize=None)
    batches = list(pipe.dataset(3))
    refs = _refs(shapes_dir, "test")
    assert [b["images"].shape[0] for b in batches] == [3, 3, 2]
    ids = [i.decode() for b in batches for i in b["image_id"].numpy()]
    assert ids == list(refs)
    for b in batches:
        for i, row in zip(b["image_id"].numpy(), b["captions"].numpy()):
            assert [c.decode() for c in row if c] == refs[i.decode()]


def test_cache_gives_the_same_images(shapes_dir, tmp_path):
    plain = _pipe(shapes_dir, split="val", mode="eval").dataset(8)
    cached = _pipe(shapes_dir, split="val", mode="eval", cache=str(tmp_path / "c")).dataset(8)
    a = next(iter(plain))["images"].numpy()
    for _ in range(2):
        np.testing.assert_array_equal(next(iter(cached))["images"].numpy(), a)


@pytest.fixture
def broken_dir(shapes_dir, tmp_path):
    out = str(tmp_path / "broken")
    shutil.copytree(shapes_dir, out)
    recs = read_captions_jsonl(os.path.join(out, "captions.jsonl"), "train")
    paths = [os.path.join(out, r["image"]) for r in recs]
    with open(paths[0], "rb") as f:
        data = f.read()
    with open(paths[0], "wb") as f:
        f.write(data[: len(data) // 3])          # truncated
    with open(paths[1], "wb") as f:
        f.write(b"garbage bytes")                # corrupt
    open(paths[2], "wb").close()                 # zero bytes
    os.remove(paths[3])                          # missing
    lines = open(os.path.join(out, "captions.jsonl")).read().splitlines()
    rec = json.loads(lines[4])
    rec["captions"] = ["", "  "]                 # no usable caption
    lines[4] = json.dumps(rec)
    open(os.path.join(out, "captions.jsonl"), "w").write("\n".join(lines) + "\n")
    return out, recs, paths


def test_bad_files_at_read_time_are_skipped_and_counted(broken_dir):
    out, recs, paths = broken_dir
    pipe = _pipe(out)
    assert dict(pipe.skipped) == {"empty_image": 1, "missing_image": 1, "no_captions": 1}
    assert len(pipe) == len(recs) - 3
    for _ in range(2):
        seen = [i.decode() for b in pipe.dataset(4, drop_remainder=False)
                for i in b["image_id"].numpy()]
        assert sorted(seen) == sorted(r["image_id"] for r in recs[5:])
    assert sorted(pipe.unreadable_images()) == sorted(paths[:2])


def test_no_usable_record_is_a_clear_error(tmp_path):
    (tmp_path / "captions.jsonl").write_text(json.dumps(
        {"image": "images/none.jpg", "captions": ["x"], "split": "train", "image_id": "1"}) + "\n")
    with pytest.raises(ValueError, match="no usable record in split 'train'"):
        CaptionPipeline(str(tmp_path), "train")
    with pytest.raises(FileNotFoundError, match="tfcaption.prepare"):
        CaptionPipeline(str(tmp_path / "nowhere"), "train")


def test_tf_distribute_per_replica_batches(shapes_dir):
    """Two logical CPU devices under MirroredStrategy (needs a fresh process)."""
    code = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tfcaption.data.caption_pipeline import CaptionPipeline
        from tfcaption.data.image_preprocessor import ImagePreprocessor
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():  # built where a Keras user builds everything
            pipe = CaptionPipeline({shapes_dir!r}, "train",
                                   preprocessor=ImagePreprocessor("raw", 16),
                                   tokenize=lambda s: tf.strings.unicode_decode(s, "UTF-8"),
                                   max_length=12, end_id=5, seed=1)
        ids = []
        for batch in pipe.distribute(strategy, global_batch_size=8):
            parts = strategy.experimental_local_results(batch["token_ids"])
            assert [p.shape[0] for p in parts] == [4, 4], [p.shape for p in parts]
            for p in strategy.experimental_local_results(batch["image_id"]):
                ids += [i.decode() for i in p.numpy()]
        assert len(ids) == 40 and len(set(ids)) == 40, ids
        assert pipe.unreadable_images() == []
        print("OK", strategy.num_replicas_in_sync)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OK 2" in res.stdout


def test_word_level_tokens_with_cleaning_and_start_end(shapes_dir):
    from tfcaption.data.text_ops import clean_captions
    from tfcaption.tokenizers.word_vocabulary import WordVocabulary

    refs = _refs(shapes_dir, "train")
    # the vocabulary is built from the captions as the pipeline cleans them
    cleaned = clean_captions(tf.constant([c for caps in refs.values() for c in caps]))
    vocab = WordVocabulary.build(cleaned.numpy())
    pipe = _pipe(shapes_dir, tokenize=vocab.encode, text_fn=clean_captions, max_length=30,
                 start_id=vocab.start_id, end_id=vocab.end_id, pad_id=vocab.pad_id)
    batch = next(iter(pipe.dataset(8)))
    decoded = vocab.decode(batch["token_ids"]).numpy()
    for cap, ids, mask, text in zip(batch["captions"].numpy(), batch["token_ids"].numpy(),
                                    batch["padding_mask"].numpy(), decoded):
        words = clean_captions(tf.constant(cap)).numpy().decode().split()
        assert text.decode().split() == words
        assert ids[0] == vocab.start_id and ids[mask.sum() - 1] == vocab.end_id
        assert mask.sum() == len(words) + 2 and vocab.unk_id not in ids


def test_all_pairs_with_a_cache_stores_each_image_once(shapes_dir, tmp_path):
    prefix = str(tmp_path / "c")
    ds = _pipe(shapes_dir, pairing="all", cache=prefix).dataset(16, drop_remainder=False)
    pairs = sorted((i.decode(), c.decode()) for b in ds
                   for i, c in zip(b["image_id"].numpy(), b["captions"].numpy()))
    want = sorted((i, c) for i, caps in _refs(shapes_dir, "train").items() for c in caps)
    assert pairs == want
    cached = sum(os.path.getsize(os.path.join(tmp_path, f)) for f in os.listdir(tmp_path))
    assert 40 * 32 * 32 * 3 * 4 <= cached < 2 * 40 * 32 * 32 * 3 * 4
