"""One TensorBoard event file per log folder, however often a run was resumed.

Each ``fit`` opens new event files (``events.out.tfevents.<time>.<host>...``), so a resumed
run would leave one set per attempt, and an epoch logged just before a kill would be
logged twice. :func:`merge_event_files` rewrites each folder's files as one: every event
once, a later file's event replacing an earlier one with the same step and tags (the
resumed attempt's value), in step order within each tag. Event files are TFRecord files
of ``Event`` protos, read and written here with ``tf.data`` / ``tf.io``. The merged file
is written under a temporary name and renamed over the oldest file before the others are
removed, so a kill at any moment leaves every event in some file, and merging again gives
the same result.
"""

import os

import tensorflow as tf

PREFIX = "events.out.tfevents."


def _events(path):
    for record in tf.data.TFRecordDataset(path):
        event = tf.compat.v1.Event()
        event.ParseFromString(record.numpy())
        yield event


def _key(event):
    if event.HasField("summary"):
        return ("summary", event.step, tuple(v.tag for v in event.summary.value))
    return (event.WhichOneof("what"), event.step)


def _folder_files(folder):
    names = [n for n in os.listdir(folder) if n.startswith(PREFIX)]
    # <time> is whole seconds: ties (two attempts in one second) fall back to the mtime
    return sorted((os.path.join(folder, n) for n in names),
                  key=lambda p: (int(os.path.basename(p)[len(PREFIX):].split(".")[0] or 0),
                                 os.path.getmtime(p), p))


def merge_folder(folder):
    """Merges the event files of one folder into its oldest one; returns how many files
    were merged (0 or 1: nothing to do)."""
    files = _folder_files(folder)
    if len(files) < 2:
        return len(files)
    merged = {}
    for path in files:
        for event in _events(path):
            key = _key(event)
            merged.pop(key, None)  # the later attempt's event, at its place in time
            merged[key] = event
    events = sorted(merged.values(), key=lambda e: (e.HasField("summary"), e.step))
    tmp = os.path.join(folder, ".tmp-" + os.path.basename(files[0]))
    with tf.io.TFRecordWriter(tmp) as writer:
        for event in events:
            writer.write(event.SerializeToString())
    os.replace(tmp, files[0])
    for path in files[1:]:
        os.remove(path)
    return len(files)


def merge_event_files(log_dir):
    """:func:`merge_folder` on ``log_dir`` and every folder below it."""
    for folder, _, _ in os.walk(log_dir):
        merge_folder(folder)
