"""Class-stratified labelled batches (PAWS/SuNCEt support sets)."""
import numpy as np
import pytest

from jaxssl import data


def _dataset(labels):
  n = len(labels)
  images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
  return data.Dataset(labelled_images=images, labelled_labels=np.asarray(labels, np.int32), unlabelled_images=images,
                      test_images=images[:2], test_labels=np.zeros(2, np.int32), num_classes=3)


def test_stratified_batches_hold_each_class_equally_in_class_order():
  ds = _dataset([0] * 5 + [1] * 3 + [2] * 7)
  batch_fn = data.make_batch_fn(ds, {"labelled": 6}, seed=0, stratified=True)
  for step in range(4):
    batch = batch_fn(step)
    np.testing.assert_array_equal(batch["label"], [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(ds.labelled_labels[batch["labelled"][:, 0, 0, 0]], batch["label"])
  # Each class walks through all its examples before repeating one (class 1 has 3: steps 0 and 1 cover 4 slots).
  seen = np.concatenate([batch_fn(s)["labelled"][2:4, 0, 0, 0] for s in range(2)])
  assert set(seen[:3]) == {5, 6, 7}


def test_stratified_batch_must_divide_over_classes():
  with pytest.raises(ValueError, match=r"labelled_batch_size \(7\) must be a multiple of the 3 classes"):
    data.make_batch_fn(_dataset([0, 1, 2, 0]), {"labelled": 7}, seed=0, stratified=True)
  with pytest.raises(ValueError, match=r"none for classes \[2\]"):
    data.make_batch_fn(_dataset([0, 1, 0, 1]), {"labelled": 6}, seed=0, stratified=True)
