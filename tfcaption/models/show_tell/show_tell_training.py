"""``model.type = "show_tell"``: the Show-and-Tell merge model, trained on cached image features.

Steps:

1. the word vocabulary of the training captions, cleaned the Show-and-Tell way
   (:func:`clean_show_tell`), in ``workdir/vocab.txt``;
2. the image encoder (``model.image_encoder``, see
   :mod:`tfcaption.backbones.image_encoder_dir`; one pooled vector per image) encodes the
   train/val/test images once into a feature cache (``data.features_dir``, default
   ``workdir/features``; resumable);
3. Keras ``fit`` of the shared :class:`CaptionLmTrainer` with teacher forcing (every
   caption of every image, the mean cross-entropy of each next word over the real
   tokens, padding masked out, so under ``train.distribute`` the update is the
   one-device update of the global batch), Adam, validated on the val split's captions
   every epoch, with early stopping on the validation loss (best weights kept) and
   ReduceLROnPlateau. Training is resumable at any kill point
   (:func:`resumable_fit`); the two callbacks rebuild their state from the epoch log on
   resume (:class:`ResumableEarlyStopping`, :class:`ResumableReduceLrOnPlateau`), and
   the best weights (the trainer's) live in ``workdir/checkpoints/best.weights.h5``;
4. the model dir in ``workdir/model`` and the shared evaluator on the test split's
   image files: ``metrics.json``, ``predictions.jsonl``, ``metrics.md``.
"""

import os

import keras

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.hparams import check_hparams
from tfcaption.models.show_tell.show_tell_captioner import ShowTellCaptioner
from tfcaption.models.show_tell.show_tell_dir import save_show_tell
from tfcaption.models.show_tell.show_tell_model import ShowTellModel
from tfcaption.models.show_tell.show_tell_settings import SETTINGS, validate
from tfcaption.models.show_tell.show_tell_settings import check_data  # noqa: F401  (contract)
from tfcaption.models.show_tell.show_tell_text import clean_show_tell
from tfcaption.training.caption_lm_trainer import build_trainer
from tfcaption.training.resumable_early_stopping import ResumableEarlyStopping
from tfcaption.training.resumable_fit import resumable_fit
from tfcaption.training.resumable_reduce_lr import ResumableReduceLrOnPlateau
from tfcaption.training.sample_captions import SampleCaptions
from tfcaption.training.split_features import encode_splits, eval_features
from tfcaption.training.test_split_report import finish_captioner_run
from tfcaption.training.training_vocabulary import training_vocabulary

BEST_WEIGHTS = os.path.join("checkpoints", "best.weights.h5")


def teacher_forcing_dataset(hparams, vocabulary, features_dir, split, train):
    """Batches of every caption of ``split`` for :class:`CaptionLmTrainer`:
    ``{"features", "token_ids": <start> w1 …, "target_ids": w1 … <end>, "padding_mask"}``
    (the mask True on the real target tokens). ``train``: shuffled, full batches only."""
    settings = hparams["train"]
    pipe = CaptionPipeline(hparams["data"]["dir"], split=split, mode="train",
                           features_dir=features_dir, tokenize=vocabulary.encode,
                           text_fn=clean_show_tell,
                           max_length=hparams["model"]["max_length"] + 1,
                           start_id=vocabulary.start_id, end_id=vocabulary.end_id,
                           pad_id=vocabulary.pad_id, pairing="all",
                           shuffle_buffer=20000 if train else 0, seed=settings["seed"],
                           deterministic=not train)

    def split_batch(batch):
        ids = batch["token_ids"]
        return {"features": batch["features"], "token_ids": ids[:, :-1],
                "target_ids": ids[:, 1:], "padding_mask": batch["padding_mask"][:, 1:]}

    return pipe.dataset(settings["batch_size"], drop_remainder=train).map(split_batch)


def build_model(hparams, vocabulary, feature_dim):
    model = hparams["model"]
    return ShowTellModel(len(vocabulary), feature_dim=feature_dim,
                         embedding_dim=model["embedding_dim"], hidden_dim=model["hidden_dim"],
                         dense_dim=model["dense_dim"], dropout=model["dropout"],
                         merge=model["merge"], name="show_tell")


def compile_model(model, train, max_length):
    """The :class:`CaptionLmTrainer` of ``model``, compiled (Adam) and built with its
    optimizer on a batch of ``max_length`` tokens, so that a backup can be restored."""
    optimizer = keras.optimizers.Adam(train["learning_rate"], global_clipnorm=train["clipnorm"])
    ids = keras.ops.zeros((2, max_length), "int32")
    example = {"features": keras.ops.zeros((2, model.feature_dim)), "token_ids": ids,
               "target_ids": ids, "padding_mask": keras.ops.ones((2, max_length), "bool")}
    return build_trainer(model, optimizer, example, train["jit_compile"])


def plateau_callbacks(train, workdir):
    """The early stopping and learning-rate callbacks the settings ask for (resumable)."""
    log = os.path.join(workdir, "epochs.json")
    callbacks = []
    if train["reduce_lr_patience"] is not None:
        callbacks.append(ResumableReduceLrOnPlateau(
            log, train["learning_rate"], factor=train["reduce_lr_factor"],
            patience=train["reduce_lr_patience"], min_lr=train["min_learning_rate"],
            verbose=1 if train["verbose"] else 0))
    if train["early_stopping_patience"] is not None:
        callbacks.append(ResumableEarlyStopping(
            log, os.path.join(workdir, BEST_WEIGHTS), patience=train["early_stopping_patience"],
            min_delta=train["early_stopping_min_delta"],
            restore_best_weights=train["restore_best_weights"]))
    return callbacks


def sample_callback(captioner, hparams, features_dir):
    data, train = hparams["data"], hparams["train"]
    shown = train["num_samples"]
    feats, ids, refs = eval_features(data, data["val_split"], features_dir, limit=shown)
    return SampleCaptions(lambda x: captioner.generate(x, "greedy"), feats, ids, refs,
                          every=train["sample_every"])


def run(hparams, workdir, extra_callbacks=()):
    """Trains, evaluates and saves; returns the metrics (also in ``metrics.json``).
    ``hparams`` are checked against :data:`SETTINGS` (defaults filled in) first."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train, settings = hparams["data"], hparams["train"], hparams["model"]
    keras.utils.set_random_seed(train["seed"])
    vocabulary = training_vocabulary(data, workdir, clean_show_tell,
                                     max_size=settings["vocabulary_size"],
                                     min_count=settings["vocabulary_min_count"])
    encoder, features_dir, feature_dim = encode_splits(settings["image_encoder"], data,
                                                       workdir, 1 if train["verbose"] else 0)
    model = build_model(hparams, vocabulary, feature_dim)
    trainer = compile_model(model, train, settings["max_length"])
    captioner = ShowTellCaptioner(model, vocabulary, image_encoder=encoder,
                                  max_length=settings["max_length"],
                                  jit_compile=train["jit_compile"])
    plateau = plateau_callbacks(train, workdir)
    epochs = train["epochs"]
    for callback in plateau:
        if isinstance(callback, ResumableEarlyStopping):
            epochs = callback.planned_epochs(trainer, epochs)
    callbacks = [sample_callback(captioner, hparams, features_dir)] + plateau
    history = resumable_fit(
        trainer, teacher_forcing_dataset(hparams, vocabulary, features_dir,
                                         data["train_split"], train=True),
        workdir, epochs, callbacks, extra_callbacks, verbose=train["verbose"],
        validation_data=teacher_forcing_dataset(hparams, vocabulary, features_dir,
                                                data["val_split"], train=False),
        shuffle=False)  # the pipeline shuffles
    return finish_captioner_run(captioner, save_show_tell, history, hparams, workdir,
                                epochs_trained=len(history.history.get("loss", [])))
