"""Datasets: sources by name, the labelled split, and step-indexed host batches."""
import dataclasses
from typing import Callable

import jax
import ml_collections
import numpy as np

from jaxssl.data.pipeline import (Dataset, make_batch_fn, prefetch, prefetch_to_device, sample_indices,
                                  stratified_indices)
from jaxssl.data.sources import SOURCES, Arrays, from_arrays, get_source, process_shard, read_idx
from jaxssl.data.split import labelled_indices
from jaxssl.parallel import gather_rows


def load(data_config: ml_collections.ConfigDict, source: Callable[..., Arrays] | None = None) -> Dataset:
  """Loads this process's part of `data_config.name` and splits its training set into labelled and
  unlabelled streams.

  The labelled stream is the stratified subset chosen by `labels_per_class` / `label_fraction` from the
  labels of the whole training split, so it does not depend on the number of processes; each process reads
  only its shard of every split and the (small) labelled subset is gathered onto every process. The
  unlabelled stream is this process's shard of the training images (all of them, or only the unlabelled ones
  if `unlabelled_includes_labelled` is False) plus its shard of any images the dataset ships without labels.
  """
  arrays = get_source(data_config.name, source)(
      image_size=data_config.image_size, manual_dir=data_config.manual_dir, tfds_data_dir=data_config.tfds_data_dir,
      train_dir=data_config.train_dir, test_dir=data_config.test_dir, unlabelled_dir=data_config.unlabelled_dir,
      channels=data_config.channels, test_fraction=data_config.test_fraction, split_seed=data_config.split_seed,
      shard=(jax.process_index(), jax.process_count()))
  class_names = arrays.class_names or tuple(str(c) for c in range(arrays.num_classes))
  if data_config.validation_size > 0:
    arrays = hold_out_validation(arrays, data_config.validation_size)
  labels = gather_rows(arrays.train_labels)  # [N] for the whole split, in shard order (= the split's order).
  offset = int(gather_rows(np.array([len(arrays.train_labels)]))[:jax.process_index()].sum())
  picked = labelled_indices(labels, arrays.num_classes, data_config.labels_per_class, data_config.label_fraction,
                            data_config.split_seed, class_names)
  mine = picked[(picked >= offset) & (picked < offset + len(arrays.train_labels))] - offset
  unlabelled = arrays.train_images
  if not data_config.unlabelled_includes_labelled:
    unlabelled = np.delete(unlabelled, mine, axis=0)
  if arrays.extra_unlabelled is not None:
    unlabelled = np.concatenate([unlabelled, arrays.extra_unlabelled])
  return Dataset(gather_rows(arrays.train_images[mine]), labels[picked], unlabelled, arrays.test_images,
                 arrays.test_labels, arrays.num_classes, class_names)


# The validation split's seed: fixed, so every run tunes on the same images whatever its split_seed.
VALIDATION_SEED = 20261202


def hold_out_validation(arrays: Arrays, size: int) -> Arrays:
  """`arrays` with a stratified `size` of its training images (size / classes of each) as the test split
  and the rest as training; the real test split is dropped. For choosing recipes without the test images."""
  if jax.process_count() > 1:
    raise ValueError("config.data.validation_size needs one process (recipes are tuned on one host); set it to 0.")
  per_class = size // arrays.num_classes
  if per_class < 1:
    raise ValueError(f"config.data.validation_size={size} holds out fewer than one image of each of the "
                     f"{arrays.num_classes} classes; use at least {arrays.num_classes}.")
  held = labelled_indices(arrays.train_labels, arrays.num_classes, per_class, seed=VALIDATION_SEED)
  keep = np.setdiff1d(np.arange(len(arrays.train_labels)), held)
  return dataclasses.replace(arrays, train_images=arrays.train_images[keep], train_labels=arrays.train_labels[keep],
                             test_images=arrays.train_images[held], test_labels=arrays.train_labels[held])


__all__ = ["Arrays", "Dataset", "SOURCES", "from_arrays", "get_source", "labelled_indices", "load", "make_batch_fn",
           "prefetch", "prefetch_to_device", "process_shard", "read_idx", "sample_indices", "stratified_indices"]
