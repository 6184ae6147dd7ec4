"""The end of a teacher-forced captioner training shared by the families that train their
whole model with Keras ``fit`` (ViT-GPT2, Pix2Struct): fit, then save and evaluate."""

from tfcaption.training.caption_lm_trainer import build_trainer
from tfcaption.training.resumable_fit import resumable_fit
from tfcaption.training.sample_captions import SampleCaptions, sample_images
from tfcaption.training.test_split_report import finish_captioner_run


def fit_captioner(captioner, hparams, workdir, train_ds, val_ds, optimizer, example_inputs,
                  save, extra_callbacks=()):
    """Trains ``captioner.model`` with :class:`CaptionLmTrainer` on ``train_ds`` (validation
    loss on ``val_ds``; a few greedy sample captions of the validation images every
    ``train.sample_every`` epochs), resumable at any kill point (:func:`resumable_fit`),
    then writes ``workdir/model`` with ``save`` and evaluates the test split. The trainer
    is built on ``example_inputs`` first, so that a backup can be restored into it.
    Returns the metrics."""
    train = hparams["train"]
    model = captioner.model
    trainer = build_trainer(model, optimizer, example_inputs, train["jit_compile"])
    paths, ids, refs = sample_images(hparams, train["num_samples"])
    samples = SampleCaptions(lambda x: captioner.generate(x, "greedy"), paths, ids, refs,
                             every=train["sample_every"])
    history = resumable_fit(trainer, train_ds, workdir, train["epochs"], [samples],
                            extra_callbacks, validation_data=val_ds,
                            verbose=train["verbose"], shuffle=False)  # the pipeline shuffles
    return finish_captioner_run(captioner, save, history, hparams, workdir)
