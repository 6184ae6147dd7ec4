"""The ``model`` / ``data`` / ``train`` / ``eval`` settings of the WGAN-GP captioner, with defaults.

The defaults are the reference design (the COCO recipe's settings but its batch size);
:func:`check_settings` fills them in and names any unknown key or bad value.
"""

import copy

MODEL_DEFAULTS = {
    "type": "wgan",
    "image_encoder": {"type": "cnn", "name": "resnet50_pooled", "weights": "imagenet"},
    "vocabulary_size": 4000,
    "max_length": 20,
    "embedding_dim": 300,
    "hidden_dim": 256,
    "dropout": 0.5,
    "critic_dropout": 0.0,
    "critic_score_activation": None,
    "glove": None,
}
DATA_DEFAULTS = {
    "dir": None, "train_split": "train", "val_split": "val", "test_split": "test",
    "features_dir": None, "max_train_captions": None,
}
TRAIN_DEFAULTS = {
    "seed": 0, "batch_size": 512, "epochs": 30,
    "n_critic": 9, "gp_weight": 10.0, "gp_epsilon": 1e-5,
    "learning_rate": 1e-3, "beta_1": 0.5, "beta_2": 0.999, "clipnorm": 1.0,
    "fake_input": "softmax", "gumbel_start": 1.0, "gumbel_end": 0.1, "gumbel_steps": 1000,
    "supervised_weight": 0.0,
    "pretrain_epochs": 0, "pretrain_learning_rate": 1e-3,
    "jit_compile": True, "verbose": 2, "sample_every": 1, "num_samples": 3,
}
EVAL_DEFAULTS = {"decoding": "greedy", "batch_size": 64, "max_images": None,
                 "print_samples": 5, "clip": None}
SECTIONS = (("model", MODEL_DEFAULTS), ("data", DATA_DEFAULTS), ("train", TRAIN_DEFAULTS),
            ("eval", EVAL_DEFAULTS))


def check_settings(hparams):
    """Fills in the defaults (in place) and returns ``hparams``; unknown keys, a missing
    ``data.dir`` and out-of-range values raise ``ValueError`` naming the key."""
    for name, defaults in SECTIONS:
        section = hparams.setdefault(name, {})
        unknown = sorted(set(section) - set(defaults))
        if unknown:
            raise ValueError(f"unknown {name} setting(s) {unknown}; known: {sorted(defaults)}")
        for key, value in defaults.items():
            section.setdefault(key, copy.deepcopy(value))
    if not hparams["data"]["dir"]:
        raise ValueError("data.dir is required: a dataset in the common form (python -m "
                         "tfcaption.prepare ...)")
    train, model = hparams["train"], hparams["model"]
    for key in ("batch_size", "n_critic", "max_length", "vocabulary_size"):
        section = model if key in model else train
        if not isinstance(section[key], int) or section[key] < 1:
            raise ValueError(f"{'model' if section is model else 'train'}.{key} must be a "
                             f"positive int, got {section[key]!r}")
    if model["vocabulary_size"] < 5:
        raise ValueError(f"model.vocabulary_size must be >= 5 (4 specials and a word), got "
                         f"{model['vocabulary_size']}")
    for key in ("epochs", "pretrain_epochs"):
        if not isinstance(train[key], int) or train[key] < 0:
            raise ValueError(f"train.{key} must be an int >= 0, got {train[key]!r}")
    if train["epochs"] == 0 and train["pretrain_epochs"] == 0:
        raise ValueError("train.epochs and train.pretrain_epochs are both 0: nothing to train")
    return hparams
