"""``model.type = "wgan"``: the WGAN-GP GRU captioner, trained on cached image features.

Steps:

1. the word vocabulary of the training captions (lower-cased, punctuation removed;
   ``model.vocabulary_size`` most frequent words, specials included) in
   ``workdir/vocab.txt``;
2. the image encoder (``model.image_encoder``, see
   :mod:`tfcaption.backbones.image_encoder_dir`) encodes the train/val/test images once
   into a feature cache (``data.features_dir``, default ``workdir/features``; resumable);
3. the generator and the critic, each with its own word embedding, optionally
   initialised from a GloVe file (``model.glove``);
4. optional MLE pre-training of the generator (``train.pretrain_epochs``, in
   ``workdir/pretrain``), then adversarial training (:class:`WganGruModel`, ``n_critic``
   critic updates per generator update, Adam with gradient-norm clipping), each phase
   with a backup every epoch (rerunning resumes), TensorBoard logs, sample captions and
   the validation split's greedy-caption diversity every epoch;
5. the model dir in ``workdir/model`` and the shared evaluator on the test split's
   image files: ``metrics.json``, ``predictions.jsonl``, ``metrics.md``.
"""

import os

import keras

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.text_ops import clean_captions
from tfcaption.hparams import check_hparams
from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator
from tfcaption.models.wgan.glove import glove_matrix
from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.models.wgan.gru_captioner_dir import save_gru_captioner
from tfcaption.models.wgan.gru_critic import GruCritic
from tfcaption.models.wgan.validation_diversity import ValidationDiversity
from tfcaption.models.wgan.wgan_gru_model import WganGruModel
from tfcaption.models.wgan.wgan_settings import SETTINGS, validate
from tfcaption.models.wgan.wgan_settings import check_data  # noqa: F401  (the trainer contract)
from tfcaption.training.atomic_checkpoint import save_weights_atomically
from tfcaption.training.resumable_fit import resumable_fit
from tfcaption.training.sample_captions import SampleCaptions
from tfcaption.training.split_features import encode_splits, eval_features
from tfcaption.training.test_split_report import finish_captioner_run
from tfcaption.training.training_vocabulary import training_vocabulary


def clean(text):
    """The reference's caption cleaning: lower-case, punctuation removed (words kept)."""
    return clean_captions(text, strip_digits=False, drop_single_chars=False)


def build_vocabulary(hparams, workdir):
    """``workdir/vocab.txt`` (built from the training captions, reused when rerun)."""
    return training_vocabulary(hparams["data"], workdir, clean,
                               max_size=hparams["model"]["vocabulary_size"])


def limit_captions(records, max_captions):
    """The first records, in file order, holding at most ``max_captions`` captions."""
    kept, total = [], 0
    for record in records:
        room = max_captions - total
        if room <= 0:
            break
        kept.append({**record, "captions": record["captions"][:room]})
        total += len(kept[-1]["captions"])
    return kept


def training_dataset(hparams, vocabulary, features_dir):
    data, train = hparams["data"], hparams["train"]
    pipe = CaptionPipeline(data["dir"], split=data["train_split"], mode="train",
                           features_dir=features_dir, tokenize=vocabulary.encode,
                           text_fn=clean, max_length=hparams["model"]["max_length"] + 1,
                           start_id=vocabulary.start_id, end_id=vocabulary.end_id,
                           pad_id=vocabulary.pad_id, pairing="all",
                           shuffle_buffer=20000, seed=train["seed"])
    if data["max_train_captions"]:
        pipe.records = limit_captions(pipe.records, int(data["max_train_captions"]))
    dataset = pipe.dataset(train["batch_size"]).map(
        lambda b: {"features": b["features"], "token_ids": b["token_ids"],
                   "padding_mask": b["padding_mask"]})
    return dataset


def build_networks(hparams, vocabulary, feature_dim):
    model = hparams["model"]
    sizes = dict(vocabulary_size=len(vocabulary), feature_dim=feature_dim,
                 embedding_dim=model["embedding_dim"], hidden_dim=model["hidden_dim"])
    generator = GatedGruGenerator(dropout=model["dropout"], name="generator", **sizes)
    critic = GruCritic(dropout=model["critic_dropout"],
                       score_activation=model["critic_score_activation"], name="critic",
                       **sizes)
    if model["glove"]:
        matrix, stats = glove_matrix(model["glove"], vocabulary, dim=model["embedding_dim"],
                                     seed=hparams["train"]["seed"])
        print(f"GloVe {stats['path']}: {stats['found']} words found, {stats['missing']} "
              f"missing (e.g. {stats['missing_examples'][:5]})")
        generator.embedding.embeddings.assign(matrix)
        critic.embedding.embeddings.assign(matrix)
    return generator, critic


def adam(train, prefix=""):
    return keras.optimizers.Adam(train[prefix + "learning_rate"], beta_1=train["beta_1"],
                                 beta_2=train["beta_2"], global_clipnorm=train["clipnorm"])


def wgan_model(hparams, generator, critic, mode):
    train = hparams["train"]
    return WganGruModel(generator, critic, mode=mode, n_critic=train["n_critic"],
                        gp_weight=train["gp_weight"], gp_epsilon=train["gp_epsilon"],
                        supervised_weight=train["supervised_weight"],
                        fake_input=train["fake_input"], gumbel_start=train["gumbel_start"],
                        gumbel_end=train["gumbel_end"], gumbel_steps=train["gumbel_steps"],
                        jit_compile=train["jit_compile"], seed=train["seed"])


def _callbacks(directory, captioner, hparams, features_dir):
    data, train = hparams["data"], hparams["train"]
    feats, ids, refs = eval_features(data, data["val_split"], features_dir)
    shown = train["num_samples"]
    samples = SampleCaptions(lambda x: captioner.generate(x, "greedy"), feats[:shown],
                             ids[:shown], refs[:shown], every=train["sample_every"])
    diversity = ValidationDiversity(lambda x: captioner.generate(x, "greedy", batch_size=256),
                                    feats, refs)
    return [diversity, samples]


def pretrain(hparams, workdir, generator, critic, dataset, captioner, features_dir):
    """MLE pre-training of the generator (resumable); its weights end in
    ``workdir/pretrain/generator.weights.h5``."""
    train = hparams["train"]
    directory = os.path.join(workdir, "pretrain")
    weights = os.path.join(directory, "generator.weights.h5")
    if os.path.isfile(weights):
        generator.load_weights(weights)
        return None
    model = wgan_model(hparams, generator, critic, "mle")
    model.compile(g_optimizer=adam(train, "pretrain_"))
    model.build_optimizers()
    history = resumable_fit(model, dataset, directory, train["pretrain_epochs"],
                            _callbacks(directory, captioner, hparams, features_dir),
                            verbose=train["verbose"], shuffle=False)  # the pipeline shuffles
    save_weights_atomically(generator, weights)
    return history


def run(hparams, workdir, extra_callbacks=()):
    """Trains, evaluates and saves; returns the metrics (also in ``metrics.json``).
    ``hparams`` are checked against :data:`SETTINGS` (defaults filled in) first."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train = hparams["data"], hparams["train"]
    keras.utils.set_random_seed(train["seed"])
    vocabulary = build_vocabulary(hparams, workdir)
    encoder, features_dir, feature_dim = encode_splits(hparams["model"]["image_encoder"], data,
                                                       workdir, 1 if train["verbose"] else 0)
    generator, critic = build_networks(hparams, vocabulary, feature_dim)
    captioner = GruCaptioner(generator, vocabulary, image_encoder=encoder,
                             max_length=hparams["model"]["max_length"],
                             jit_compile=train["jit_compile"])
    dataset = training_dataset(hparams, vocabulary, features_dir)
    if train["pretrain_epochs"]:
        pretrain(hparams, workdir, generator, critic, dataset, captioner, features_dir)
    model = wgan_model(hparams, generator, critic, "adversarial")
    model.compile(g_optimizer=adam(train), d_optimizer=adam(train))
    model.build_optimizers()
    history = resumable_fit(model, dataset, workdir, train["epochs"],
                            _callbacks(workdir, captioner, hparams, features_dir),
                            extra_callbacks, verbose=train["verbose"],
                            shuffle=False)  # the pipeline shuffles
    return finish_captioner_run(captioner, save_gru_captioner, history, hparams, workdir,
                                history=history.history)
