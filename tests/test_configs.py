"""Every config in configs/ builds and runs 2 train steps + one evaluation on tiny data, so a config that rots
fails CI; and the flagship command runs as written (TFDS datasets under tfds.testing.mock_data)."""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxssl import train
from test_train import ROOT, load_config

CONFIGS = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".py"))


def write_fake_fashion_mnist(directory):
  """The four Fashion-MNIST IDX files with 20 train / 10 test random images (two per class in train)."""
  rng = np.random.default_rng(0)
  for prefix, n in (("train", 20), ("t10k", 10)):
    for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), np.uint8)),
                        ("labels-idx1", (np.arange(n) % 10).astype(np.uint8))):
      header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
      with gzip.open(os.path.join(directory, f"{prefix}-{kind}-ubyte.gz"), "wb") as f:
        f.write(header + array.tobytes())


def shrink(config, tmp_path):
  """Two steps on tiny batches (multiples of the 4 test devices; stratified batches hold every class) and
  images of at most 80 px."""
  config.num_train_steps = config.log_every_steps = config.eval_every_steps = config.checkpoint_every_steps = 2
  config.batch_size = 8
  if config.labelled_batch_size:
    config.labelled_batch_size = 20 if config.method in ("paws", "suncet") else 8
  config.eval.probe_steps, config.eval.batch_size = 5, 64
  if config.data.name == "fashion_mnist":
    write_fake_fashion_mnist(tmp_path)
    config.data.manual_dir, config.data.labels_per_class = str(tmp_path), 2
  elif config.data.name != "digits":
    config.data.labels_per_class = -1  # Mock data draws random labels: keep them all.
    # 80: still the ImageNet stem ("auto"), above AlexNet's minimum and a multiple of the VAE decoder's 16.
    config.data.image_size = min(config.data.image_size, 80)
  return config


@pytest.fixture(autouse=True)
def no_view_grid(monkeypatch):
  """The augmentation grid costs a compile per config; test_folder checks it is written."""
  monkeypatch.setattr(train, "write_view_grid", lambda *args, **kwargs: None)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_runs_two_steps_and_evaluates(name, tmp_path):
  import tensorflow_datasets as tfds

  config = shrink(load_config(name), tmp_path)
  with tfds.testing.mock_data(num_examples=40):
    results = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert results["final"]["step"] == 2
  assert all(np.isfinite(v) for v in results["train"].values()), results["train"]
  assert 0.0 <= results["final"]["knn_k20"] <= 1.0 and 0.0 <= results["final"]["probe"] <= 1.0


def test_flagship_paws_stl10_command_runs_as_written(tmp_path):
  """`python -m jaxssl.main --config=configs/paws_stl10.py --workdir=DIR`, with only the step count shortened,
  on mock STL-10 (250 unlabelled + 250 labelled 96×96 images a step)."""
  code = ("import sys, tensorflow_datasets as tfds\nfrom absl import app\nfrom jaxssl import main\n"
          "with tfds.testing.mock_data(num_examples=100):\n  app.run(main.main, argv=sys.argv)")
  out = subprocess.run([sys.executable, "-c", code, "--config=configs/paws_stl10.py", f"--workdir={tmp_path}",
                        "--config.num_train_steps=1"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                       env={**os.environ, "XLA_FLAGS": ""})
  assert out.returncode == 0, out.stderr[-3000:]
  assert "paws on stl10, step 1: knn_k20=" in out.stdout
