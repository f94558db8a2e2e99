"""Datasets: sources by name, the labelled split, and step-indexed host batches."""
import ml_collections
import numpy as np

from jaxssl.data.pipeline import Dataset, make_batch_fn, prefetch, sample_indices, stratified_indices
from jaxssl.data.sources import SOURCES, Arrays, get_source, read_idx
from jaxssl.data.split import labelled_indices


def load(data_config: ml_collections.ConfigDict) -> Dataset:
  """Loads `data_config.name` and splits its training set into labelled and unlabelled streams.

  The labelled stream is the stratified subset chosen by `labels_per_class` / `label_fraction`; the
  unlabelled stream is every training image (or only the rest, if `unlabelled_includes_labelled` is False)
  plus any images the dataset ships without labels.
  """
  arrays = get_source(data_config.name)(
      image_size=data_config.image_size, manual_dir=data_config.manual_dir, tfds_data_dir=data_config.tfds_data_dir)
  picked = labelled_indices(arrays.train_labels, arrays.num_classes, data_config.labels_per_class,
                            data_config.label_fraction, data_config.split_seed)
  if data_config.unlabelled_includes_labelled:
    unlabelled = arrays.train_images
  else:
    unlabelled = np.delete(arrays.train_images, picked, axis=0)
  if arrays.extra_unlabelled is not None:
    unlabelled = np.concatenate([unlabelled, arrays.extra_unlabelled])
  return Dataset(arrays.train_images[picked], arrays.train_labels[picked], unlabelled,
                 arrays.test_images, arrays.test_labels, arrays.num_classes)


__all__ = ["Arrays", "Dataset", "SOURCES", "get_source", "labelled_indices", "load", "make_batch_fn",
           "prefetch", "read_idx", "sample_indices", "stratified_indices"]
