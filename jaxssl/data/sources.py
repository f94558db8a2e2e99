"""Dataset sources: each returns a dataset's images (uint8, NHWC, resized to `image_size`) and labels.

Sources are picked by name from `SOURCES`; user code adds its own with `register_source` (also
`jaxssl.register_source`; docs/extending.md). In a job of P processes, process p reads only shard p of every
split (`shard=(p, P)`): TFDS through `tfds.split_for_jax_process`, the embedded datasets by the same
contiguous cut (shard sizes differ by at most one, the first ones larger). A shard lives in host memory
(all of STL-10, 105k 96×96 images, is ~2.9 GB), so batches are a pure function of the step.
"""
import dataclasses
import functools
import gzip
import os
from typing import Callable

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Arrays:
  """One process's shard of a dataset as host arrays. Images uint8 [N, H, W, C]; labels int32 [N]."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int
  extra_unlabelled: np.ndarray | None = None  # Images that come without labels (STL-10 `unlabelled`).
  class_names: tuple[str, ...] | None = None  # Default: "0", "1", ...


def resize_uint8(images: np.ndarray, size: int, chunk: int = 4096) -> np.ndarray:
  """Bilinearly resizes uint8 [N, H, W, C] images to [N, size, size, C] (no-op when already that size)."""
  if images.shape[1:3] == (size, size):
    return images
  cpu = jax.local_devices(backend="cpu")[0]
  out = []
  for start in range(0, len(images), chunk):
    part = jax.device_put(images[start:start + chunk].astype(np.float32), cpu)
    resized = jax.image.resize(part, (len(part), size, size, images.shape[3]), "bilinear")
    out.append(np.asarray(jax.numpy.clip(jax.numpy.round(resized), 0, 255)).astype(np.uint8))
  return np.concatenate(out)


def process_shard(x: np.ndarray, shard: tuple[int, int]) -> np.ndarray:
  """Rows of `x` for shard (index, count): the contiguous cut of `tfds.even_splits` (first shards larger)."""
  index, count = shard
  return np.array_split(x, count)[index] if count > 1 else x


def digits(image_size: int, shard: tuple[int, int] = (0, 1), **_) -> Arrays:
  """scikit-learn's 1797 8×8 handwritten digits (ships with scikit-learn), upsampled; a fixed stratified
  80/20 train/test split (seed 0, independent of the run's seed so the test set never moves)."""
  from sklearn import datasets, model_selection

  raw = datasets.load_digits()
  images = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  labels = raw.target.astype(np.int32)
  train_idx, test_idx = model_selection.train_test_split(
      np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
  train_idx, test_idx = process_shard(train_idx, shard), process_shard(test_idx, shard)
  images = resize_uint8(images, image_size)
  return Arrays(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx], num_classes=10)


IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (gzipped or not), the format of MNIST and Fashion-MNIST, into a numpy array."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
    raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex()}).")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
  dtype = np.dtype(IDX_DTYPES[data[2]])
  payload = data[4 + 4 * ndim:]
  if len(payload) != int(np.prod(shape)) * dtype.itemsize:
    raise ValueError(f"{path} is truncated: header says {shape}, payload has {len(payload)} bytes.")
  return np.frombuffer(payload, dtype).reshape(shape).astype(dtype.newbyteorder("="))


FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte")


# Fashion-MNIST's labels 0-9, as its authors name them (the TFDS dataset's names).
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def fashion_mnist(image_size: int, manual_dir: str = "", tfds_data_dir: str = "", shard: tuple[int, int] = (0, 1),
                  **_) -> Arrays:
  """Fashion-MNIST (60k train, 10k test, 28×28 grey). From the four original IDX files in `manual_dir`
  (`.gz` or not; Debian's `dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist), or from
  TFDS when `manual_dir` is empty."""
  if not manual_dir:
    return tfds_source("fashion_mnist", image_size=image_size, tfds_data_dir=tfds_data_dir, shard=shard)
  paths = []
  for name in FASHION_FILES:
    found = [os.path.join(manual_dir, name + ext) for ext in (".gz", "")
             if os.path.exists(os.path.join(manual_dir, name + ext))]
    if not found:
      raise FileNotFoundError(
          f"Fashion-MNIST file {name}(.gz) not found in config.data.manual_dir={manual_dir!r}. Put the four IDX "
          f"files {', '.join(FASHION_FILES)} there (on Debian: apt-get install dataset-fashion-mnist, then "
          "--config.data.manual_dir=/usr/share/datasets/fashion-mnist), or leave manual_dir empty to use TFDS.")
    paths.append(found[0])
  train_x, train_y, test_x, test_y = (process_shard(read_idx(p), shard) for p in paths)
  return Arrays(resize_uint8(train_x[..., None], image_size), train_y.astype(np.int32),
                resize_uint8(test_x[..., None], image_size), test_y.astype(np.int32), num_classes=10,
                class_names=FASHION_CLASSES)


# TFDS name -> (train split, test split, split of extra unlabelled images or None).
TFDS_SPLITS = {
    "stl10": ("train", "test", "unlabelled"),
    "cifar10": ("train", "test", None),
    "cifar100": ("train", "test", None),
    "svhn_cropped": ("train", "test", None),
    "cats_vs_dogs": ("train[:80%]", "train[80%:]", None),  # TFDS has only a train split.
    "fashion_mnist": ("train", "test", None),
}


def import_tensorflow(purpose: str):
  """(tensorflow, tensorflow_datasets), imported on first use by the sources that read with them (TFDS
  datasets, image folders), with accelerators hidden from TF: it only reads data. The rest of jaxssl needs
  neither; without them, a clear error says what to install."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # No oneDNN / CPU-feature banners on the console.
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f"{purpose} needs TensorFlow and TensorFlow Datasets, which jaxssl's core does not: "
                      "pip install 'jaxssl[tfds]' (tensorflow-cpu and tensorflow-datasets).") from e
  tf.config.set_visible_devices([], "GPU")
  return tf, tfds


def tf_resize(image, size: int):
  """A uint8 [H, W, C] TF image resized to [size, size, C] (antialiased bilinear, rounded), in tf.data."""
  tf, _ = import_tensorflow("resizing images with tf.data")

  if image.shape[0] == size and image.shape[1] == size:  # Known static size (TFDS): nothing to do.
    return image
  resized = tf.image.resize(image, (size, size), antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def _tfds_split(name: str, split: str, image_size: int, data_dir: str,
                shard: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
  """Reads shard (index, count) of one TFDS split as (uint8 images [N, S, S, C], int32 labels [N]), resized
  on the host with TF."""
  tf, tfds = import_tensorflow(f"the TFDS dataset {name!r}")
  if shard[1] > 1:
    split = tfds.split_for_jax_process(split, process_index=shard[0], process_count=shard[1])
  try:
    ds = tfds.load(name, split=split, as_supervised=True, shuffle_files=False, data_dir=data_dir or None)
  except Exception as e:  # Network, missing files, corrupt records: say what to do.
    raise RuntimeError(
        f"could not load TFDS dataset {name!r} split {split!r}: {e}\nPrepare it where there is internet "
        f"(python -c \"import tensorflow_datasets as tfds; tfds.builder('{name}').download_and_prepare()\") and "
        "point --config.data.tfds_data_dir at that data_dir; for Fashion-MNIST, config.data.manual_dir can read "
        "the raw IDX files instead.") from e

  def resize(image, label):
    return tf_resize(image, image_size), tf.cast(label, tf.int32)

  images, labels = [], []
  for x, y in tfds.as_numpy(ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE).batch(1024)):
    images.append(x)
    labels.append(y)
  return np.concatenate(images), np.concatenate(labels)


def tfds_source(name: str, image_size: int, tfds_data_dir: str = "", shard: tuple[int, int] = (0, 1), **_) -> Arrays:
  """A TFDS image-classification dataset by name (see TFDS_SPLITS)."""
  _, tfds = import_tensorflow(f"the TFDS dataset {name!r}")

  train_split, test_split, unlabelled_split = TFDS_SPLITS[name]
  read = functools.partial(_tfds_split, name, image_size=image_size, data_dir=tfds_data_dir, shard=shard)
  train_x, train_y = read(train_split)
  test_x, test_y = read(test_split)
  extra = read(unlabelled_split)[0] if unlabelled_split else None
  num_classes = tfds.builder(name, data_dir=tfds_data_dir or None).info.features["label"].num_classes
  return Arrays(train_x, train_y, test_x, test_y, num_classes=num_classes, extra_unlabelled=extra)


def from_arrays(images: np.ndarray, labels: np.ndarray, *, test_images: np.ndarray, test_labels: np.ndarray,
                class_names: tuple[str, ...] | None = None) -> Callable[..., Arrays]:
  """A source over in-memory arrays, for `jaxssl.train_and_evaluate(config, workdir, source=...)` with
  `config.data.name = "arrays"`; images are resized to `config.data.image_size` and split like any dataset.

  Args:
    images: uint8 [N, H, W, C] (or [N, H, W] grey) training images.
    labels: int [N] in 0..C-1, or -1 for an image without a label (it joins the unlabelled stream only).
    test_images, test_labels: the evaluation split, uint8 [M, H, W(, C)] and int [M].
    class_names: C names; default "0", "1", ...
  """
  images, test_images = (x[..., None] if x.ndim == 3 else x for x in (np.asarray(images), np.asarray(test_images)))
  labels, test_labels = np.asarray(labels, np.int32), np.asarray(test_labels, np.int32)
  if images.dtype != np.uint8 or test_images.dtype != np.uint8 or images.ndim != 4:
    raise ValueError(f"from_arrays takes uint8 images [N, H, W, C]; got {images.dtype} {images.shape} and "
                     f"{test_images.dtype} {test_images.shape} (convert floats in [0, 1] with (x * 255).astype(np.uint8)).")
  if len(labels) != len(images) or len(test_labels) != len(test_images) or labels.min() < -1 or test_labels.min() < 0:
    raise ValueError("from_arrays needs one label per image: 0..C-1, or -1 (training images only) for none.")
  num_classes = len(class_names) if class_names else int(max(labels.max(), test_labels.max())) + 1
  labelled = labels >= 0

  def source(image_size: int, shard: tuple[int, int] = (0, 1), **_) -> Arrays:
    part = lambda x: resize_uint8(process_shard(x, shard), image_size)  # pylint: disable=unnecessary-lambda-assignment
    return Arrays(part(images[labelled]), process_shard(labels[labelled], shard), part(test_images),
                  process_shard(test_labels, shard), num_classes, extra_unlabelled=part(images[~labelled]),
                  class_names=tuple(class_names) if class_names else None)
  return source


def _folder(**kwargs) -> Arrays:
  from jaxssl.data.folder import folder  # pylint: disable=g-import-not-at-top  (folder imports this module)
  return folder(**kwargs)


# name -> source(image_size, shard=(index, count), **options) -> Arrays. The options are the data config's
# fields that `data.load` passes (manual_dir, tfds_data_dir, train_dir, test_dir, unlabelled_dir, channels,
# test_fraction, split_seed); a source takes the ones it reads and `**_` for the rest.
SOURCES: dict[str, Callable[..., Arrays]] = {
    "digits": digits,
    "fashion_mnist": fashion_mnist,
    "folder": _folder,
    **{name: functools.partial(tfds_source, name) for name in TFDS_SPLITS if name != "fashion_mnist"},
}


def register_source(name: str, source: Callable[..., Arrays] | None = None, *, replace: bool = False):
  """Registers `source` as `config.data.name = name`. A decorator (`@register_source("mine")`) or a plain call
  (`register_source("mine", read_mine)`, e.g. with `from_arrays(...)`); returns `source`. A name already
  registered raises ValueError unless `replace=True`.

  `source(image_size, shard=(0, 1), **_)` returns `Arrays` of uint8 images [N, image_size, image_size, C]
  (`resize_uint8` resizes) and int32 labels, for this process's `shard` (`process_shard(x, shard)` of every
  split); see SOURCES for the other keyword arguments it is given."""
  def register(source: Callable[..., Arrays]) -> Callable[..., Arrays]:
    from jaxssl import config as config_lib  # pylint: disable=g-import-not-at-top

    if not callable(source):
      raise TypeError(f"register_source({name!r}) takes a function that returns data.Arrays, got {source!r}.")
    if not isinstance(name, str) or not name or name == "arrays":
      raise ValueError(f"a source name must be a non-empty string other than 'arrays' (train_and_evaluate's "
                       f"source=...), got {name!r}.")
    config_lib.check_new_name(SOURCES, "source", name, source, replace)
    SOURCES[name] = source
    return source
  return register if source is None else register(source)


def get_source(name: str, source: Callable[..., Arrays] | None = None) -> Callable[..., Arrays]:
  """Returns the source called `name` (or `source`, given with name "arrays"); an unknown name raises with
  the list of valid names."""
  if (name == "arrays") != (source is not None):
    raise ValueError("config.data.name='arrays' needs train_and_evaluate(config, workdir, source=data.from_arrays("
                     "...)), and a source needs config.data.name='arrays'.")
  if source is not None:
    return source
  if name not in SOURCES:
    from jaxssl.config import NOT_FOUND_HINT  # pylint: disable=g-import-not-at-top
    raise ValueError(f"unknown dataset {name!r}; config.data.name must be one of {sorted(SOURCES)} (or 'arrays' "
                     f"with data.from_arrays). {NOT_FOUND_HINT}")
  return SOURCES[name]
