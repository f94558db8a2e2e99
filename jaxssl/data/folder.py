"""Your own images: a folder of class sub-folders (labelled), one for the test split, and optionally a folder
of unlabelled images. Read with tf.data (`tf.io.decode_image`: JPEG, PNG, BMP, GIF), resized to a square.

  train_dir/<class name>/**/*.jpg   class names from the sub-folder names, in sorted order (label = position)
  test_dir/<class name>/**/*.png    the same class names; if no test_dir, a stratified `test_fraction` of train
  unlabelled_dir/**/*.jpg           any nesting; optional

Files that do not decode (corrupt, not an image) are skipped with a warning naming them and their count.
Grayscale, RGB and RGBA files mix freely: each is converted to `channels` (3: RGB, alpha dropped; 1: grey).
"""
import logging
import os

import numpy as np

from jaxssl.data.sources import Arrays, import_tensorflow, process_shard, tf_resize

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def _image_files(root: str) -> list[str]:
  """Every image file under `root` (any depth), in sorted order."""
  tf, _ = import_tensorflow("an image folder")

  found = []
  for directory, _, files in tf.io.gfile.walk(root):
    found += [os.path.join(directory, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
  return sorted(found)


def list_classes(root: str, class_names: list[str] | None = None) -> tuple[list[str], np.ndarray, list[str]]:
  """(image paths, int32 labels, class names) of a folder of class sub-folders. With `class_names` (those of
  the training folder), the sub-folders must be among them and labels follow that order."""
  tf, _ = import_tensorflow("an image folder")

  if not root or not tf.io.gfile.isdir(root):
    raise FileNotFoundError(f"image folder {root!r} does not exist; set config.data.train_dir (and test_dir) to "
                            "folders holding one sub-folder of images per class.")
  found = sorted(d.rstrip("/") for d in tf.io.gfile.listdir(root) if tf.io.gfile.isdir(os.path.join(root, d)))
  if class_names is not None and set(found) - set(class_names):
    raise ValueError(f"{root} has class folders {sorted(set(found) - set(class_names))} that the training folder "
                     f"lacks (its classes: {class_names}).")
  class_names = class_names or found
  paths, labels = [], []
  for name in found:
    files = _image_files(os.path.join(root, name))
    paths += files
    labels += [class_names.index(name)] * len(files)
  if not paths:
    raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class sub-folders of {root}; expected "
                     f"{root}/<class name>/<image files>.")
  return paths, np.array(labels, np.int32), class_names


def read_images(paths: list[str], image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
  """(uint8 images [M, S, S, channels], int64 positions in `paths` [M]) of the files that decode; the others
  are skipped with one warning that counts and names them."""
  tf, _ = import_tensorflow("an image folder")

  def load(position, path):
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    return tf_resize(image, image_size), position

  ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
  ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
  images, kept = [np.zeros((0, image_size, image_size, channels), np.uint8)], [np.zeros(0, np.int64)]
  for x, i in ds.batch(256).as_numpy_iterator():
    images.append(x)
    kept.append(i)
  kept = np.concatenate(kept)
  skipped = sorted(set(range(len(paths))) - set(kept.tolist()))
  if skipped:
    logging.warning("skipped %d of %d files that are not readable images: %s%s", len(skipped), len(paths),
                    ", ".join(paths[i] for i in skipped[:5]), " ..." if len(skipped) > 5 else "")
  return np.concatenate(images), kept


def folder(image_size: int, train_dir: str = "", test_dir: str = "", unlabelled_dir: str = "", channels: int = 3,
           test_fraction: float = 0.2, split_seed: int = 0, shard: tuple[int, int] = (0, 1), **_) -> Arrays:
  """This process's shard of an image-folder dataset (see the module docstring)."""
  paths, labels, class_names = list_classes(train_dir)
  if test_dir:
    test_paths, test_labels, _ = list_classes(test_dir, class_names)
  else:  # A fixed stratified hold-out, independent of the run's seed.
    from sklearn import model_selection

    train_idx, test_idx = model_selection.train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=split_seed)
    test_paths, test_labels = [paths[i] for i in test_idx], labels[test_idx]
    paths, labels = [paths[i] for i in train_idx], labels[train_idx]

  def read(part_paths, part_labels):
    part_paths, part_labels = process_shard(np.array(part_paths), shard), process_shard(part_labels, shard)
    images, kept = read_images(list(part_paths), image_size, channels)
    return images, part_labels[kept]

  train_x, train_y = read(paths, labels)
  test_x, test_y = read(test_paths, test_labels)
  extra = None
  if unlabelled_dir:
    extra_paths = _image_files(unlabelled_dir)
    if not extra_paths:
      raise ValueError(f"config.data.unlabelled_dir={unlabelled_dir!r} holds no images; leave it empty for none.")
    extra = read(extra_paths, np.zeros(len(extra_paths), np.int32))[0]
  logging.info("image folder %s: classes %s; %d train, %d test, %d unlabelled images (this process).", train_dir,
               class_names, len(train_y), len(test_y), 0 if extra is None else len(extra))
  return Arrays(train_x, train_y, test_x, test_y, num_classes=len(class_names), extra_unlabelled=extra,
                class_names=tuple(class_names))
