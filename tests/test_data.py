"""Data: stratified labelled split, step-indexed batches, the IDX reader, TFDS sources under mock_data."""
import dataclasses
import gzip
import os
import sys

import numpy as np
import pytest

from jaxssl import config as config_lib, data
from jaxssl.data import sources


def test_labelled_indices_stratified_and_reproducible():
  labels = np.repeat(np.arange(5), 30)
  a = data.labelled_indices(labels, 5, labels_per_class=4, seed=0)
  np.testing.assert_array_equal(np.bincount(labels[a]), [4] * 5)
  np.testing.assert_array_equal(a, data.labelled_indices(labels, 5, labels_per_class=4, seed=0))
  assert not np.array_equal(a, data.labelled_indices(labels, 5, labels_per_class=4, seed=1))
  f = data.labelled_indices(labels, 5, label_fraction=0.1, seed=0)
  np.testing.assert_array_equal(np.bincount(labels[f]), [3] * 5)
  assert len(data.labelled_indices(labels, 5)) == 150
  with pytest.raises(ValueError, match="class 0 has only 30 training images"):
    data.labelled_indices(labels, 5, labels_per_class=31)


def test_sample_indices_walk_through_epochs():
  seen = np.concatenate([data.sample_indices(10, 4, step, seed=0, stream=0) for step in range(5)])
  np.testing.assert_array_equal(np.sort(seen[:10]), np.arange(10))  # Epoch 0 is a permutation.
  np.testing.assert_array_equal(np.sort(seen[10:20]), np.arange(10))
  np.testing.assert_array_equal(data.sample_indices(10, 4, 3, 0, 0), seen[12:16])  # Function of the step.
  big = data.sample_indices(3, 7, 0, 0, 0)  # A batch larger than the dataset spans epochs.
  assert sorted(big[:3]) == [0, 1, 2] and sorted(big[3:6]) == [0, 1, 2]


def test_batch_fn_labelled_rows_are_global_and_unlabelled_rows_come_from_the_own_shard():
  rng = np.random.default_rng(0)
  ds = data.Dataset(labelled_images=rng.integers(0, 255, (20, 4, 4, 1), np.uint8), labelled_labels=np.arange(20) % 4,
                    unlabelled_images=rng.integers(0, 255, (50, 4, 4, 1), np.uint8),
                    test_images=np.zeros((3, 4, 4, 1), np.uint8), test_labels=np.zeros(3, np.int32), num_classes=4)
  sizes = {"unlabelled": 8, "labelled": 4}
  whole = data.make_batch_fn(ds, sizes, seed=0)(7)
  shards = np.array_split(ds.unlabelled_images, 2)  # What data.load gives each of 2 processes.
  fns = [data.make_batch_fn(dataclasses.replace(ds, unlabelled_images=shards[p]), sizes, 0, p, 2) for p in range(2)]
  parts = [fn(7) for fn in fns]
  for key in ("labelled", "label"):  # The labelled set is on every process: its rows make the global batch.
    np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])
  for p, fn in enumerate(fns):  # Each process walks through its own 25 unlabelled images: 6 steps, 24 distinct.
    seen = np.concatenate([fn(step)["unlabelled"] for step in range(6)])
    assert seen.shape == (24, 4, 4, 1)
    rows = [np.flatnonzero((shards[p] == im).all(axis=(1, 2, 3)))[0] for im in seen]
    assert len(set(rows)) == 24
  assert whole["unlabelled"].shape == (8, 4, 4, 1) and whole["unlabelled"].dtype == np.uint8
  # The label belongs to its image.
  idx = [np.flatnonzero((ds.labelled_images == im).all(axis=(1, 2, 3)))[0] for im in whole["labelled"]]
  np.testing.assert_array_equal(ds.labelled_labels[idx], whole["label"])
  steps = list(data.prefetch(data.make_batch_fn(ds, sizes, 0), 3, 6))
  assert len(steps) == 3
  np.testing.assert_array_equal(steps[0]["unlabelled"], data.make_batch_fn(ds, sizes, 0)(3)["unlabelled"])


def _write_idx(path, array):
  codes = {np.uint8: 0x08, np.int32: 0x0C}
  header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + b"".join(
      int(d).to_bytes(4, "big") for d in array.shape)
  body = array.astype(array.dtype.newbyteorder(">")).tobytes()
  with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
    f.write(header + body)


def test_read_idx_roundtrip_and_errors(tmp_path):
  images = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)
  _write_idx(str(tmp_path / "a.gz"), images)
  np.testing.assert_array_equal(data.read_idx(str(tmp_path / "a.gz")), images)
  ints = np.array([1, -2, 300], np.int32)
  _write_idx(str(tmp_path / "b"), ints)
  np.testing.assert_array_equal(data.read_idx(str(tmp_path / "b")), ints)
  (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
  with pytest.raises(ValueError, match="not an IDX file"):
    data.read_idx(str(tmp_path / "bad"))
  with open(tmp_path / "short", "wb") as f:
    f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
  with pytest.raises(ValueError, match="truncated"):
    data.read_idx(str(tmp_path / "short"))


def test_fashion_mnist_from_idx_files(tmp_path):
  rng = np.random.default_rng(0)
  for prefix, n in (("train", 40), ("t10k", 20)):
    _write_idx(str(tmp_path / f"{prefix}-images-idx3-ubyte.gz"), rng.integers(0, 256, (n, 28, 28), np.uint8))
    _write_idx(str(tmp_path / f"{prefix}-labels-idx1-ubyte.gz"), (np.arange(n) % 10).astype(np.uint8))
  config = config_lib.base_config("simclr")
  config.data.name, config.data.manual_dir, config.data.labels_per_class = "fashion_mnist", str(tmp_path), 2
  ds = data.load(config.data)
  assert ds.labelled_images.shape == (20, 32, 32, 1) and ds.test_images.shape == (20, 32, 32, 1)
  assert len(ds.unlabelled_images) == 40 and ds.num_classes == 10
  assert ds.class_names[0] == "T-shirt/top" and ds.class_names[6] == "Shirt" and len(ds.class_names) == 10
  np.testing.assert_array_equal(np.bincount(ds.labelled_labels), [2] * 10)
  os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
  with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*apt-get install dataset-fashion-mnist"):
    data.load(config.data)


def test_real_fashion_mnist_if_installed():
  """The Debian package's files (gzip-recompressed) read as the real 60k/10k dataset."""
  root = "/usr/share/datasets/fashion-mnist"
  if not os.path.exists(os.path.join(root, "t10k-labels-idx1-ubyte.gz")):
    pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
  labels = data.read_idx(os.path.join(root, "t10k-labels-idx1-ubyte.gz"))
  assert labels.shape == (10000,) and np.array_equal(np.bincount(labels), [1000] * 10)


def test_digits_source():
  config = config_lib.base_config("simclr")
  config.data.labels_per_class = 10
  ds = data.load(config.data)
  assert ds.image_shape == (32, 32, 1) and len(ds.labelled_images) == 100
  assert len(ds.unlabelled_images) + len(ds.test_images) == 1797 and ds.labelled_images.dtype == np.uint8
  config.data.unlabelled_includes_labelled = False
  assert len(data.load(config.data).unlabelled_images) == len(ds.unlabelled_images) - 100


@pytest.mark.parametrize("name, shape, extra", [("stl10", (96, 96, 3), True), ("cifar10", (32, 32, 3), False)])
def test_tfds_sources_under_mock_data(name, shape, extra):
  import tensorflow_datasets as tfds

  config = config_lib.base_config("simclr")
  config.data.name, config.data.image_size = name, shape[0]  # Mock labels are random: keep every label.
  with tfds.testing.mock_data(num_examples=40):
    arrays = data.get_source(name)(image_size=shape[0])
    ds = data.load(config.data)
  assert arrays.train_images.shape == (40, *shape) and arrays.train_images.dtype == np.uint8
  assert arrays.num_classes == 10 and arrays.test_labels.dtype == np.int32
  assert (arrays.extra_unlabelled is not None) == extra
  assert len(ds.unlabelled_images) == 40 + (40 if extra else 0)
  with tfds.testing.mock_data(num_examples=8):  # Resizing on the way in.
    assert data.get_source(name)(image_size=24).train_images.shape == (8, 24, 24, 3)


@pytest.mark.parametrize("name", ["cifar10", "cats_vs_dogs"])  # cats_vs_dogs: shards of a sliced split.
def test_tfds_sources_read_a_process_shard_under_mock_data(name):
  """Process 1 of 2 reads through tfds.split_for_jax_process (mock data ignores the slice: the read must work)."""
  import tensorflow_datasets as tfds

  with tfds.testing.mock_data(num_examples=12):
    arrays = data.get_source(name)(image_size=16, shard=(1, 2))
  assert arrays.train_images.shape == (12, 16, 16, 3) and arrays.test_labels.shape == (12,)


def test_embedded_sources_read_process_shards():
  """The embedded datasets cut like tfds.even_splits: contiguous, sizes differ by at most one, first larger."""
  whole = data.get_source("digits")(image_size=8)
  parts = [data.get_source("digits")(image_size=8, shard=(p, 4)) for p in range(4)]
  assert [len(p.train_labels) for p in parts] == [360, 359, 359, 359] and [len(p.test_labels) for p in parts] == [90] * 4
  np.testing.assert_array_equal(np.concatenate([p.train_images for p in parts]), whole.train_images)
  np.testing.assert_array_equal(np.concatenate([p.test_labels for p in parts]), whole.test_labels)


def test_unknown_dataset_lists_valid_names():
  with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'.*'cifar10'.*'digits'"):
    data.get_source("imagenet")


def test_tfds_without_tensorflow_says_what_to_install(monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow", None)  # As if it were not installed.
  with pytest.raises(ImportError, match=r"the TFDS dataset 'cifar10' needs TensorFlow .*pip install 'jaxssl\[tfds\]'"):
    sources.tfds_source("cifar10", image_size=32)


def test_validation_split_replaces_the_test_split_and_leaves_training():
  config = config_lib.base_config("simclr")
  config.data.labels_per_class, config.data.validation_size = 5, 100
  ds = data.load(config.data)
  digits = sources.digits(image_size=32)
  train_rows = {x.tobytes() for x in digits.train_images}
  assert len(ds.test_images) == 100 and np.bincount(ds.test_labels).tolist() == [10] * 10
  assert {x.tobytes() for x in ds.test_images} <= train_rows  # Held out of training, never the test images.
  assert len(ds.unlabelled_images) == len(digits.train_images) - 100 and len(ds.labelled_images) == 50
  held = {x.tobytes() for x in ds.test_images}
  assert not held & {x.tobytes() for x in ds.unlabelled_images} and not held & {x.tobytes() for x in ds.labelled_images}
  config.data.split_seed = 3  # Another labelled subset, the same validation images.
  np.testing.assert_array_equal(data.load(config.data).test_images, ds.test_images)


def test_prefetch_to_device_starts_copies_ahead_and_keeps_order():
  log = []

  def put(batch):
    log.append(("put", batch["i"]))
    return {"i": batch["i"] * 10}

  def batches():
    for i in range(5):
      log.append(("host", i))
      yield {"i": i}

  for depth in (1, 2, 3):
    log.clear()
    consumed = []
    for host, device in data.prefetch_to_device(batches(), put, depth):
      consumed.append((host["i"], device["i"]))
      log.append(("step", host["i"]))
    assert consumed == [(i, 10 * i) for i in range(5)]
    # When step k runs, the copies of batches k+1 .. k+depth-1 have already been started.
    for k in range(5):
      puts_before = [i for kind, i in log[:log.index(("step", k))] if kind == "put"]
      assert puts_before == list(range(min(k + depth, 5))), (depth, k, log)
  with pytest.raises(ValueError, match="device prefetch off"):
    list(data.prefetch_to_device(batches(), put, 0))
