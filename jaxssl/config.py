"""Shared config defaults and the checks a config must pass before anything compiles.

Every file in `configs/` starts from `base_config(method)` and updates it. The returned ConfigDict holds
every key a run reads, so a locked config (as `jaxssl.main` loads it) rejects a mistyped override. Its
sections come from the components' registries: `config.<method>` is the method's `default_config()`, and
`config.model` holds the options every registered encoder declares (`models.register_encoder(defaults=...)`);
so a method or encoder added from user code (docs/extending.md) brings its own defaults.
"""
import importlib
import json
import os
import re

import ml_collections


def from_file(path: str) -> ml_collections.ConfigDict:
  """The ConfigDict that `get_config()` of the config file at `path` (e.g. configs/paws_stl10.py) returns."""
  import importlib.util  # pylint: disable=g-import-not-at-top

  spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


NOT_FOUND_HINT = ("A method, encoder or source of your own is registered when its module is imported: pass "
                  "--import=your.module to jaxssl.main (or list it in config.imports), or import it first.")


def check_new_name(registry: dict, kind: str, name: str, obj, replace: bool) -> None:
  """Raises ValueError if `name` is taken in `registry` (of `kind`s) by something else than `obj`, unless
  `replace`. The same module-level definition registering again (its module re-run: `importlib.reload`, or
  imported again after leaving sys.modules) is not a clash."""
  if name not in registry or replace or registry[name] is obj:
    return
  old, new = ((getattr(x, "__module__", None), getattr(x, "__qualname__", None)) for x in (registry[name], obj))
  if old == new and None not in new and "<locals>" not in new[1]:
    return
  article = "an" if kind[0] in "aeiou" else "a"
  raise ValueError(f"{article} {kind} called {name!r} is already registered ({'.'.join(map(str, old))}); "
                   "choose another name, or pass replace=True to replace it.")


def import_modules(names) -> None:
  """Imports the modules `names` (dotted module paths), so that the methods, encoders and sources they
  register exist: what `--import` and `config.imports` ask for. A module not found raises ImportError saying
  where Python looks."""
  for name in names:
    try:
      importlib.import_module(name)
    except ModuleNotFoundError as e:
      if e.name is None or not (name == e.name or name.startswith(e.name + ".")):
        raise  # The module was found; something it imports was not.
      raise ImportError(f"could not import {name!r} (named by --import or config.imports): put the folder that "
                        "holds it on PYTHONPATH, or run from that folder.") from e


def shared_keys() -> set[str]:
  """The keys of every config besides the method's own section (so no method may be called one of them)."""
  return set(base_config("supervised")) - {"supervised"}


def with_defaults(saved: dict) -> dict:
  """A run's saved config (its config.json, as a dict) with every key added to jaxssl after it was written
  taken from `base_config` of its method: the default, which is what that run ran with."""
  def merge(saved, defaults):
    if not isinstance(saved, dict) or not isinstance(defaults, dict):
      return saved
    return {**defaults, **{k: merge(v, defaults.get(k)) for k, v in saved.items()}}
  return merge(saved, json.loads(base_config(saved["method"]).to_json()))


def base_config(method: str) -> ml_collections.ConfigDict:
  """Returns the complete default config for `method`, with the method's own section `config.<method>`."""
  from jaxssl import methods, models  # Deferred: methods import models and jax.

  c = ml_collections.ConfigDict()
  c.method = method
  c.seed = 0
  c.batch_size = 256            # Global images per step of the method's main stream (see methods/).
  c.labelled_batch_size = 0     # Global labelled images per step for semi-supervised methods.
  c.num_train_steps = 1000
  c.log_every_steps = 50
  c.eval_every_steps = 500      # Also evaluated once at the end.
  c.checkpoint_every_steps = 500
  c.max_checkpoints_to_keep = 3
  c.device_prefetch = 2         # Batches on their way to the devices while a step runs (1: none, no overlap).
  c.init_from = ""              # A run's workdir: the encoder starts from that run's newest encoder (same
                                # config.model and image size), e.g. FixMatch from a PAWS or SimCLR encoder.
  c.reset = False               # True: move a previous run in the workdir to <workdir>/replaced/ and start over.
  c.dtype = "float32"           # "bfloat16": the encoder computes in bf16; parameters, BatchNorm statistics
                                # and losses stay float32 (mixed precision).
  c.imports = ()                # Modules that register this run's own components (docs/extending.md):
                                # jaxssl.main imports them and adds its --import modules here; load_encoder
                                # imports them before it rebuilds the model.

  c.data = ml_collections.ConfigDict()
  c.data.name = "digits"
  c.data.image_size = 32
  c.data.labels_per_class = -1  # >0: stratified labelled subset of this many per class; -1: see label_fraction.
  c.data.label_fraction = 1.0   # Used when labels_per_class == -1; 1.0 keeps every label.
  c.data.split_seed = 0         # Seed of the labelled subset (kept apart from `seed`, which drives training).
  c.data.validation_size = 0    # >0: this many training images (stratified, fixed) replace the test split and
                                # leave training: tune recipes on them, never on the test images.
  c.data.unlabelled_includes_labelled = True
  c.data.manual_dir = ""        # Directory with raw files (e.g. Fashion-MNIST IDX .gz files).
  c.data.tfds_data_dir = ""     # TFDS data_dir; empty: TFDS's default.
  # name="folder" (your own images; see jaxssl/data/folder.py):
  c.data.train_dir = ""         # <train_dir>/<class name>/<images>: the labelled training images.
  c.data.test_dir = ""          # The same layout for the test split; empty: hold out `test_fraction` of train.
  c.data.unlabelled_dir = ""    # Optional extra images without labels, any nesting.
  c.data.test_fraction = 0.2
  c.data.channels = 3           # 3: RGB (grey and RGBA files are converted); 1: grayscale.

  c.augment = ml_collections.ConfigDict()
  c.augment.crop_scale = (0.25, 1.0)
  c.augment.crop_ratio = (3 / 4, 4 / 3)
  c.augment.flip = True
  c.augment.jitter_prob = 0.8
  c.augment.brightness = 0.6
  c.augment.contrast = 0.2
  c.augment.saturation = 0.2
  c.augment.hue = 0.2
  c.augment.grayscale_prob = 0.2
  c.augment.blur_prob = 0.0

  # `name` and the options of every registered encoder, each owned by its encoder (jaxssl/models/__init__.py):
  # convnet, resnet18, resnet50, wrn28_2, alexnet, vit_tiny, vit_small, and any registered from user code.
  c.model = models.default_config()

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "constant"  # "constant", "cosine" or "polynomial" (after `warmup_steps` of warm-up).
  c.optimizer.decay_power = 1.0      # Power of the "polynomial" decay to 0 (SESEMI: 0.5).
  c.optimizer.warmup_steps = 0
  c.optimizer.weight_decay = 0.0
  c.optimizer.momentum = 0.9
  c.optimizer.lars_trust_coefficient = 0.001  # LARS η (optax's default; solo-learn's CIFAR recipes: 0.02).

  c.eval = ml_collections.ConfigDict()
  c.eval.knn_k = (20, 200)
  c.eval.knn_temperature = 0.07
  c.eval.knn_vote = "weighted"  # "weighted": exp(cos / T) votes (InstDisc/DINO); "majority": one vote each (Keras).
  c.eval.batch_size = 512
  c.eval.probe_steps = 500
  c.eval.probe_learning_rate = 0.1  # Adam on standardised features; converges in ~500 full-batch steps.
  c.eval.probe_weight_decay = 1e-4
  c.eval.probe_learning_rates = (0.01, 0.1, 1.0)  # Picked on held-out labelled features; () uses probe_learning_rate.
  c.eval.probe_holdout_fraction = 0.2
  c.eval.snn_tau = 0.1              # PAWS's soft-nearest-neighbour classifier.
  # The protocol a results table reports for this method, declared up front: "head" (the classifier the method
  # trains: supervised, SESEMI, FixMatch) where it has one, else "finetune" (LP-FT, early-stopped on held-out
  # labels); or "snn" (PAWS's configs), "probe", "knn_k20".
  c.eval.headline = "head" if methods.get(method).classifies else "finetune"

  c.finetune = ml_collections.ConfigDict()  # jaxssl.finetune: a new linear head on the labelled images.
  c.finetune.last_layers = 0        # Fine-tune the encoder's last N layers (0: all of it); the head always.
  c.finetune.head_init = "probe"    # The head starts as the frozen encoder's linear probe (LP-FT); or "random".
  # Steps, rate and patience chosen on Fashion-MNIST's validation split (experiments/results/
  # fashion_mnist_validation/notes.md): 500 steps, 1e-4 and patience 4 stopped at step 0 on most encoders.
  c.finetune.steps = 2000
  c.finetune.batch_size = 64
  c.finetune.learning_rate = 3e-4   # Adam.
  c.finetune.holdout_fraction = 0.2  # Of the labelled images, for early stopping (never the test split).
  c.finetune.eval_every = 50
  c.finetune.patience = 10          # Evaluations without a better held-out accuracy before stopping.
  c.finetune.refit = True           # Then train again on all labelled images for the steps early stopping chose.

  if method in c:
    raise ValueError(f"a method called {method!r} would hide config.{method}.")
  c[method] = methods.get(method).default_config()
  return c


# Per-dataset defaults every config of that dataset starts from (steps are the short CPU budgets; the
# seed-style configs set their own).
DATASETS = {
    "digits": dict(image_size=32, labels_per_class=10, flip=False, steps=300, log=50, every=100),
    "fashion_mnist": dict(image_size=32, labels_per_class=100, flip=True, steps=2000, log=100, every=500,
                          manual_dir="/usr/share/datasets/fashion-mnist"),
    "stl10": dict(image_size=96, labels_per_class=-1, flip=True, steps=4000, log=50, every=200),
    "cifar10": dict(image_size=32, labels_per_class=100, flip=True, steps=20000, log=100, every=1000),
    "cifar100": dict(image_size=32, labels_per_class=100, flip=True, steps=20000, log=100, every=1000),
    "svhn_cropped": dict(image_size=32, labels_per_class=50, flip=False, steps=20000, log=100, every=1000),
    "cats_vs_dogs": dict(image_size=120, labels_per_class=-1, flip=True, steps=10000, log=100, every=1000),
}


def use_dataset(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """Sets `config.data` and the step budget to the defaults of dataset `name` (see DATASETS)."""
  d = DATASETS[name]
  config.data.name, config.data.image_size = name, d["image_size"]
  config.data.labels_per_class = d["labels_per_class"]
  config.data.manual_dir = d.get("manual_dir", "")
  config.augment.flip = d["flip"]
  config.num_train_steps, config.log_every_steps = d["steps"], d["log"]
  config.eval_every_steps = config.checkpoint_every_steps = d["every"]
  return config


def use_weak_augment(config: ml_collections.ConfigDict, min_area: float = 0.75) -> ml_collections.ConfigDict:
  """The Keras SimCLR example's classification augmentation: crop area >= min_area, brightness 0.3,
  contrast/saturation/hue 0.1, no grayscale or blur (flip left as the dataset sets it)."""
  config.augment.crop_scale = (min_area, 1.0)
  config.augment.brightness = 0.3
  config.augment.contrast = config.augment.saturation = config.augment.hue = 0.1
  config.augment.grayscale_prob = config.augment.blur_prob = 0.0
  return config


def validate(config: ml_collections.ConfigDict, num_devices: int, num_processes: int = 1) -> None:
  """Raises ValueError naming the key and the allowed values for the first problem found. First imports
  `config.imports`, so that the components they register are known."""
  from jaxssl import data, methods, models, optim

  import_modules(config.get("imports", ()))
  methods.get(config.method)  # Unknown names raise with the list of valid ones.
  if config.data.name not in (*data.SOURCES, "arrays"):
    data.get_source(config.data.name)  # Raises with the valid names.
  if config.data.channels not in (1, 3):
    raise ValueError(f"config.data.channels must be 1 or 3, got {config.data.channels}.")
  models.get(config.model.name)
  models.compute_dtype(config.dtype)
  if config.model.stem not in ("auto", *models.resnet.STEMS):
    raise ValueError(f"unknown config.model.stem {config.model.stem!r}; use 'auto', 'imagenet' or 'cifar'.")
  if config.method not in config:
    raise ValueError(f"config has no '{config.method}' section for config.method={config.method!r}; start from a "
                     f"configs/{config.method}_<dataset>.py file instead of overriding config.method.")
  optim.check(config.optimizer)
  if config.get("device_prefetch", 2) < 1:
    raise ValueError(f"config.device_prefetch must be >= 1 (1: no prefetch), got {config.device_prefetch}.")
  for stream, size in methods.create(config).batch_sizes().items():
    if size <= 0 or size % num_devices:
      raise ValueError(f"the global {stream} batch ({size}) must be a positive multiple of the {num_devices} "
                       f"devices; change config.batch_size / config.labelled_batch_size.")
    if size % num_processes:
      raise ValueError(f"the global {stream} batch ({size}) must divide over {num_processes} processes.")
  for key in ("num_train_steps", "log_every_steps", "eval_every_steps", "checkpoint_every_steps"):
    if config[key] <= 0:
      raise ValueError(f"config.{key} must be positive, got {config[key]}.")
  if config.data.labels_per_class == 0 or config.data.labels_per_class < -1:
    raise ValueError("config.data.labels_per_class must be -1 (use label_fraction) or positive, "
                     f"got {config.data.labels_per_class}.")
  if not 0.0 < config.data.label_fraction <= 1.0:
    raise ValueError(f"config.data.label_fraction must be in (0, 1], got {config.data.label_fraction}.")
  if config.data.labels_per_class > 0 and config.data.label_fraction != 1.0:
    raise ValueError("set config.data.labels_per_class or config.data.label_fraction, not both.")
  if not 0.0 < config.augment.crop_scale[0] <= config.augment.crop_scale[1] <= 1.0:
    raise ValueError(f"config.augment.crop_scale must satisfy 0 < low <= high <= 1, got {config.augment.crop_scale}.")
  headline = config.eval.get("headline", "finetune")
  if headline not in ("finetune", "snn", "probe", "head") and not re.fullmatch(r"knn_k\d+", headline):
    raise ValueError(f"config.eval.headline must be 'finetune', 'snn', 'probe', 'head' or 'knn_k<k>', "
                     f"got {headline!r}.")
  if headline == "head" and not methods.get(config.method).classifies:
    raise ValueError(f"config.eval.headline='head' needs a method that trains a classifier (supervised, sesemi, "
                     f"fixmatch); {config.method!r} has none: use 'finetune', 'probe', 'snn' or 'knn_k20'.")
  if config.eval.knn_vote not in ("weighted", "majority"):
    raise ValueError(f"config.eval.knn_vote must be 'weighted' or 'majority', got {config.eval.knn_vote!r}.")
  if not config.eval.knn_k or min(config.eval.knn_k) <= 0:
    raise ValueError(f"config.eval.knn_k must hold positive integers, got {config.eval.knn_k}.")


def seed_a_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The Keras semi-supervised STL-10 baselines (docs/seeds.md, A): 250 unlabelled + 250 labelled images a step,
  25 epochs of the 105k unlabelled+train images (420 steps each), evaluated every epoch; their augmentation
  on every view: flip, crop area U(0.2, 1) with log-uniform ratio in [3/4, 4/3], brightness/contrast/
  saturation 0.5 and hue 0.2, always; kNN with one vote per neighbour, as their evaluation."""
  config.batch_size = config.labelled_batch_size = 250
  config.eval.knn_vote = "majority"
  config.num_train_steps = 25 * 420
  config.eval_every_steps = config.checkpoint_every_steps = 420
  config.augment.flip, config.augment.crop_scale, config.augment.crop_ratio = True, (0.2, 1.0), (3 / 4, 4 / 3)
  config.augment.jitter_prob = 1.0
  config.augment.brightness = config.augment.contrast = config.augment.saturation = 0.5
  config.augment.hue = 0.2
  config.augment.grayscale_prob = config.augment.blur_prob = 0.0
  return config


def seed_d_vae_recipe(config: ml_collections.ConfigDict, min_area: float) -> ml_collections.ConfigDict:
  """The RotNet-vs-VAE seed's VAE on 96 px images (docs/seeds.md, D): batch 128, z=64, Gaussian likelihood with
  the seed's MSE (mean over pixels) + 0.01·KL, which equals, up to a constant factor, ½·SSE + β·KL with
  β = 0.005 × H·W·C; a decoder from 256 channels."""
  options = config[config.method]
  config.batch_size = 128
  options.likelihood = "gaussian"
  options.beta = 0.005 * config.data.image_size ** 2 * 3
  options.decoder_channels = (256, 128, 64, 32, 32)
  return use_weak_augment(config, min_area=min_area)


def sesemi_recipe(config: ml_collections.ConfigDict, epochs: int) -> ml_collections.ConfigDict:
  """SESEMI's training recipe (docs/seeds.md, C): 16 unlabelled × 6 proxy + 96 labelled images a step, SGD
  Nesterov 0.9, lr 0.05 with polynomial (power 0.5) decay, L2 5e-4, `epochs` × 520 steps, ±2 px shifts
  (crops of area >= (28/32)² ≈ 0.77 resized back), on the seed's WRN-28-2."""
  config.batch_size, config.labelled_batch_size = 16, 96
  config.model.name = "wrn28_2"
  opt = config.optimizer
  opt.name, opt.learning_rate, opt.momentum, opt.weight_decay = "sgd", 0.05, 0.9, 5e-4
  opt.schedule, opt.decay_power = "polynomial", 0.5
  config.num_train_steps = epochs * 520
  config.eval_every_steps = config.checkpoint_every_steps = 5 * 520
  return use_weak_augment(config, min_area=0.77)


def use_solo_learn_cifar(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """solo-learn's CIFAR pre-training recipe shared by its BYOL, MoCo v3, DINO, VICReg and Barlow Twins
  configs: ResNet-18 (CIFAR stem), batch 256, 1000 epochs of CIFAR's 50k images (195,313 steps), LARS
  (η = 0.02, no decay or trust ratio on biases and norms) with 10 warm-up epochs and cosine decay; two
  32 px crops of area 0.08–1, colour jitter (prob 0.8; brightness, contrast 0.4, saturation 0.2, hue 0.1),
  grayscale 0.2, flip. Learning rate and weight decay are set per method."""
  config.model.name = "resnet18"
  config.batch_size = 256
  config.num_train_steps = 195_313
  config.eval_every_steps = config.checkpoint_every_steps = 5_000
  config.optimizer.name, config.optimizer.schedule = "lars", "cosine"
  config.optimizer.warmup_steps, config.optimizer.lars_trust_coefficient = 1_953, 0.02
  a = config.augment
  a.crop_scale, a.flip, a.jitter_prob, a.grayscale_prob = (0.08, 1.0), True, 0.8, 0.2
  a.brightness, a.contrast, a.saturation, a.hue = 0.4, 0.4, 0.2, 0.1
  return config
