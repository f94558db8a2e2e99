"""Every config in configs/ builds its data, method, model and TrainState and traces its train step and
embedding on its first batch (`jax.eval_shape`: type- and shape-checked, never compiled), so a config that rots
fails CI in seconds; a subset covering every method, encoder and kind of data source also runs 2 real train
steps + an evaluation; and the flagship command runs as written (TFDS datasets under tfds.testing.mock_data)."""
import gzip
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import helpers
from jaxssl import augment, checkpoint, config as config_lib, cpu_tricks, data, methods, models, parallel, train
from jaxssl.data import sources
from test_train import ROOT, load_config

CONFIGS = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".py"))

# The configs that also run for real: the cheapest set covering every encoder and kind of data source
# (`source_kind`) in configs/, and every method that no learns test (test_train, test_teacher_methods) runs end to
# end at its digits config, with `helpers.check_results` on what it reports, as here. By the seconds a real run
# took alone (`-n 0`, one test a process, 2 cores with a concurrent load; mean of two runs). Forced: a resnet18
# config (vicreg_cifar10 at 32 px, in place of the 120 px rotnet_cats_vs_dogs, 94) and the only alexnet one
# (rotnet_stl10, 75), which cover TFDS. wrn28_2: sesemi_svhn (92; sesemi_cifar10 101, sesemi_cifar100 96,
# rotnet_cifar10 72 + the cheapest other sesemi 32). The IDX source: siamese_vae_fashion_mnist (53; its learns
# test runs train steps only); digits: vae_digits (53; likewise). vit_tiny: the only ViT config (DINO with
# local crops). paws_stl10 is left to test_flagship_paws_stl10_command_runs_as_written.
# A config with a new method, encoder or source fails test_real_runs_cover_every_method_encoder_and_source until
# one joins this list or a learns test.
REAL_RUNS = ("vicreg_cifar10", "dino_cifar10_vit_tiny", "rotnet_stl10", "sesemi_svhn", "siamese_vae_fashion_mnist",
             "vae_digits")


def methods_that_learn_on_digits():
  """The methods whose digits config a learns test runs end to end and checks with `helpers.check_results`."""
  import test_teacher_methods
  import test_train
  return {*test_train.LEARNS_IN, *test_teacher_methods.LEARNS_IN, "simclr", "supervised", "rotnet"}


def source_kind(config):
  """What reads config.data: "digits" (bundled), "fashion_mnist" (IDX files), "tfds" or the source's name."""
  name = config.data.name
  return "tfds" if name in sources.TFDS_SPLITS and name != "fashion_mnist" else name


def write_fake_fashion_mnist(directory):
  """The four Fashion-MNIST IDX files with 20 train / 10 test random images (two per class in train)."""
  rng = np.random.default_rng(0)
  for prefix, n in (("train", 20), ("t10k", 10)):
    for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), np.uint8)),
                        ("labels-idx1", (np.arange(n) % 10).astype(np.uint8))):
      header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
      with gzip.open(os.path.join(directory, f"{prefix}-{kind}-ubyte.gz"), "wb") as f:
        f.write(header + array.tobytes())


def shrink(config, tmp_path, max_image_size=80):
  """Two steps on tiny batches (multiples of the 4 test devices; stratified batches hold every class) and
  images of at most `max_image_size` px (None: the config's)."""
  config.num_train_steps = config.log_every_steps = config.eval_every_steps = config.checkpoint_every_steps = 2
  config.batch_size = 8
  if config.labelled_batch_size:
    config.labelled_batch_size = 20 if config.method in ("paws", "suncet") else 8
  config.eval.probe_steps, config.eval.batch_size = 5, 64
  if config.model.name.startswith("vit"):
    config.model.depth = 2  # The 12 blocks compile for minutes on CPU; the trace test keeps the config's depth.
  if config.data.name == "fashion_mnist":
    write_fake_fashion_mnist(tmp_path)
    config.data.manual_dir, config.data.labels_per_class = str(tmp_path), 2
  elif config.data.name != "digits":
    config.data.labels_per_class = -1  # Mock data draws random labels: keep them all.
    # 80: still the ImageNet stem ("auto"), above AlexNet's minimum and a multiple of the VAE decoder's 16.
    config.data.image_size = min(config.data.image_size, max_image_size or config.data.image_size)
  return config


def shapes(tree):
  return jax.tree.map(lambda x: (x.shape, x.dtype), tree)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_traces_its_train_step_and_embedding(name, tmp_path, monkeypatch):
  """The config at its own image size: its data (mock TFDS), method, model and TrainState, and its train step
  and embedding traced on the first batch, which type- and shape-checks what a real run would compile. Traced
  as on a GPU or TPU host, the configs' target: without the CPU convolution (the 49 traces took 48 s alone
  with it, 37 s without; test_conv checks it against XLA's, and the real runs below use it)."""
  import tensorflow_datasets as tfds

  monkeypatch.setattr(cpu_tricks, "ENABLED", False)

  config = shrink(load_config(name), tmp_path, max_image_size=None)
  mesh = parallel.make_mesh()
  config_lib.validate(config, mesh.devices.size)
  method = methods.create(config)
  with tfds.testing.mock_data(num_examples=40):
    dataset = data.load(config.data)
  graphdef, state, tx = helpers.abstract_state(method, dataset, config)
  batch_fn = data.make_batch_fn(dataset, method.batch_sizes(), config.seed, stratified=method.stratified_labels)
  batch = parallel.shard_batch(mesh, batch_fn(0))
  step = parallel.make_train_step(graphdef, tx, method, mesh, jax.random.key(config.seed))
  new_state, metrics = jax.eval_shape(step, state, batch)
  assert "loss" in metrics and "grad_norm" in metrics, metrics
  for key, value in metrics.items():
    assert value.shape == () and jnp.issubdtype(value.dtype, jnp.floating), (key, value)
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert shapes(new_state) == shapes(state)

  embed = parallel.make_embed_fn(graphdef, mesh, augment.to_float)
  images = parallel.shard_batch(mesh, {"images": dataset.test_images[:8]})["images"]
  features = jax.eval_shape(embed, state.params, state.rest, images)
  # The Encoder contract: representation [B, D] float32 with D = encoder.features, unless the encoder
  # overrides `representation` (AlexNet reads its `feature_layer`): then D is its own, per example.
  encoder = nnx.merge(graphdef, state.params, state.rest).encoder
  width = encoder.features
  if type(encoder).representation is not models.Encoder.representation:
    one = jax.ShapeDtypeStruct((1, *dataset.image_shape), jnp.float32)
    width = jax.eval_shape(lambda p, r, x: nnx.merge(graphdef, p, r).encoder.representation(x), state.params,
                           state.rest, one).shape[-1]
  assert features.shape == (8, width) and features.dtype == jnp.float32, features


def test_real_runs_cover_every_method_encoder_and_source():
  configs = {name: load_config(name) for name in CONFIGS}
  assert set(REAL_RUNS) <= set(CONFIGS) and "paws_stl10" not in REAL_RUNS
  aspects = {"method": lambda c: c.method, "encoder": lambda c: c.model.name, "source": source_kind}
  learns_tests_cover = {"method": methods_that_learn_on_digits()}
  for kind, aspect in aspects.items():
    missing = ({aspect(c) for c in configs.values()} - {aspect(configs[name]) for name in REAL_RUNS}
               - learns_tests_cover.get(kind, set()))
    assert not missing, f"no config in REAL_RUNS (or learns test) covers the {kind}s {sorted(missing)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL_RUNS)
def test_config_runs_two_steps_and_evaluates(name, tmp_path, monkeypatch):
  """Also: the 2 steps moved the model's parameters and, where it has them, its BatchNorm statistics."""
  import tensorflow_datasets as tfds

  loaded, created, saved = [], [], []
  load, create_state, save = data.load, train.create_state, checkpoint.save
  monkeypatch.setattr(data, "load", lambda *args, **kwargs: loaded.append(load(*args, **kwargs)) or loaded[-1])

  def create_and_keep(*args, **kwargs):
    out = create_state(*args, **kwargs)
    created.append(jax.tree.map(np.array, out[1]))  # A copy: the train step donates the state's buffers.
    return out

  monkeypatch.setattr(train, "create_state", create_and_keep)
  monkeypatch.setattr(checkpoint, "save", lambda mgr, step, state: saved.append(jax.tree.map(np.array, state))
                      or save(mgr, step, state))
  config = shrink(load_config(name), tmp_path)
  with tfds.testing.mock_data(num_examples=40):
    results = train.train_and_evaluate(config, str(tmp_path / "run"))
  (dataset,), (before,), (after,) = loaded, created, saved
  helpers.check_results(results, config, dataset)
  for part in ("params", "rest"):  # "rest": BatchNorm's running statistics; none in a ConvNet or a ViT.
    moved = [float(np.abs(a - b).max()) for a, b in zip(jax.tree.leaves(getattr(after, part)),
                                                         jax.tree.leaves(getattr(before, part)))
             if np.issubdtype(a.dtype, np.floating)]
    if moved or part == "params":
      assert max(moved) > 0, f"{name}: no {part} moved in 2 steps"


@pytest.mark.slow
def test_flagship_paws_stl10_command_runs_as_written(tmp_path):
  """`python -m jaxssl.main --config=configs/paws_stl10.py --workdir=DIR`, with only the step count shortened,
  on mock STL-10 (250 unlabelled + 250 labelled 96×96 images a step)."""
  code = ("import sys, tensorflow_datasets as tfds\nfrom absl import app\nfrom jaxssl import main\n"
          "with tfds.testing.mock_data(num_examples=100):\n  app.run(main.main, argv=sys.argv)")
  out = subprocess.run([sys.executable, "-c", code, "--config=configs/paws_stl10.py", f"--workdir={tmp_path}",
                        "--config.num_train_steps=1"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                       env=helpers.subprocess_env())
  assert out.returncode == 0, out.stderr[-3000:]
  assert re.search(r"^paws on stl10, step 1: .*\bknn_k20=\d", out.stdout, re.M), out.stdout  # Keys sort: k100 first.
