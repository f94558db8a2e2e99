"""The labelled subset of a training set: stratified, seeded, reproducible."""
import numpy as np


def labelled_indices(labels: np.ndarray, num_classes: int, labels_per_class: int = -1,
                     label_fraction: float = 1.0, seed: int = 0,
                     class_names: tuple[str, ...] | None = None) -> np.ndarray:
  """Picks which training examples keep their label.

  Args:
    labels: int [N] class of every training example.
    num_classes: number of classes C.
    labels_per_class: >0 keeps exactly this many of every class; -1 uses `label_fraction`.
    label_fraction: in (0, 1]; keeps round(fraction * count) of every class (at least one). 1.0 keeps all.
    seed: the same seed gives the same indices; the choice is independent of the training seed.
    class_names: names for error messages (default: the class index).

  Returns:
    Sorted int64 indices into `labels`.
  """
  if labels_per_class <= 0 and label_fraction >= 1.0:
    return np.arange(len(labels))
  rng = np.random.default_rng(seed)
  chosen = []
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    n = labels_per_class if labels_per_class > 0 else max(1, int(round(label_fraction * len(members))))
    if n > len(members):
      name = repr(class_names[c]) if class_names else c
      raise ValueError(f"class {name} has only {len(members)} training images, fewer than "
                       f"config.data.labels_per_class={labels_per_class}; lower it to at most {len(members)}.")
    chosen.append(rng.permutation(members)[:n])
  return np.sort(np.concatenate(chosen))


def holdout_split(labels: np.ndarray, num_classes: int, fraction: float,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
  """(fit, held) positions into labelled examples `labels` [N]: a stratified held-out part of about `fraction`
  (at least one of each class) for choices made without the test split, and the rest. None when a class has
  fewer than 2 examples, so that holding one out would leave it none to train on."""
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top

  if min(np.bincount(labels, minlength=num_classes)) < 2:
    return None
  return model_selection.train_test_split(np.arange(len(labels)), test_size=max(fraction, num_classes / len(labels)),
                                          stratify=labels, random_state=seed)
