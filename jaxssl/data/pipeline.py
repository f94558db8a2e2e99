"""Host batches as a pure function of the step, prefetched on a thread.

Each stream walks through per-epoch permutations seeded by (seed, stream, epoch), so a resumed run sees
exactly the batches an uninterrupted one would. The labelled stream (the same on every process) is drawn
globally and each process keeps its rows; the unlabelled stream is drawn by each process from its own
shard (with one process, the two are the same thing). Images stay uint8: augmentation happens on device.
"""
import collections
import concurrent.futures
import dataclasses
import functools
from typing import Callable, Iterator

import numpy as np

STREAM_IDS = {"unlabelled": 0, "labelled": 1}


@dataclasses.dataclass(frozen=True)
class Dataset:
  """What one process reads: the whole labelled subset, and its own shard of the unlabelled stream and of
  the test split. Images uint8 [N, H, W, C]; labels int32 [N]."""
  labelled_images: np.ndarray
  labelled_labels: np.ndarray
  unlabelled_images: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int
  class_names: tuple[str, ...] = ()

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return self.test_images.shape[1:]

  def images(self, stream: str) -> np.ndarray:
    """The images of host stream `stream` ("unlabelled" or "labelled")."""
    return self.unlabelled_images if stream == "unlabelled" else self.labelled_images


@functools.lru_cache(maxsize=8)
def _permutation(n: int, seed: int, stream: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, stream, epoch]).permutation(n)


def sample_indices(n: int, batch_size: int, step: int, seed: int, stream: int) -> np.ndarray:
  """Indices [batch_size] of the global batch at `step`: positions step*B..(step+1)*B of the endless
  sequence of per-epoch permutations of range(n) (a batch larger than n spans several epochs)."""
  positions = step * batch_size + np.arange(batch_size)
  epochs, offsets = np.divmod(positions, n)
  out = np.empty(batch_size, np.int64)
  for epoch in np.unique(epochs):
    mask = epochs == epoch
    out[mask] = _permutation(n, seed, stream, int(epoch))[offsets[mask]]
  return out


def stratified_indices(members: list[np.ndarray], batch_size: int, step: int, seed: int) -> np.ndarray:
  """Indices [batch_size] with batch_size / C examples of each of the C classes, class 0 first: class c's
  examples (indices `members[c]`) are walked through in their own per-epoch permutations."""
  per_class = batch_size // len(members)
  return np.concatenate([m[sample_indices(len(m), per_class, step, seed, 100 + c)] for c, m in enumerate(members)])


def make_batch_fn(dataset: Dataset, batch_sizes: dict[str, int], seed: int, process_index: int = 0,
                  process_count: int = 1, stratified: bool = False) -> Callable[[int], dict[str, np.ndarray]]:
  """Returns step -> this process's rows of the global batch: `unlabelled` [B_u/P, H, W, C],
  `labelled` [B_l/P, H, W, C] and `label` [B_l/P], for the streams named in `batch_sizes`.
  With `stratified`, every global labelled batch holds each class B_l / C times, in class order.
  `dataset` is this process's (see `Dataset`): its unlabelled rows come from its own shard."""
  for stream in batch_sizes:
    if not len(dataset.images(stream)):
      raise ValueError(f"the {stream} stream is empty; check config.data (labels_per_class, "
                       "unlabelled_includes_labelled).")
  members = [np.flatnonzero(dataset.labelled_labels == c) for c in range(dataset.num_classes)]
  if stratified and "labelled" in batch_sizes:
    missing = [c for c, m in enumerate(members) if not len(m)]
    if batch_sizes["labelled"] % dataset.num_classes or missing:
      raise ValueError(f"this method needs class-stratified labelled batches: config.labelled_batch_size "
                       f"({batch_sizes['labelled']}) must be a multiple of the {dataset.num_classes} classes, "
                       f"and every class needs a labelled example (none for classes {missing}).")

  def batch_at(step: int) -> dict[str, np.ndarray]:
    batch = {}
    for stream, size in batch_sizes.items():
      images = dataset.images(stream)
      local = size // process_count
      if stream == "unlabelled":  # This process's shard: its own walk through it.
        idx = sample_indices(len(images), local, step, seed, STREAM_IDS[stream] + 1000 * process_index)
      else:  # The same labelled set everywhere: the global batch, then this process's rows.
        idx = (stratified_indices(members, size, step, seed) if stratified else
               sample_indices(len(images), size, step, seed, STREAM_IDS[stream]))
        idx = idx[process_index * local:(process_index + 1) * local]
      batch[stream] = images[idx]
      if stream == "labelled":
        batch["label"] = dataset.labelled_labels[idx]
    return batch
  return batch_at


def prefetch(batch_fn: Callable[[int], dict], start: int, stop: int, depth: int = 2) -> Iterator[dict]:
  """Yields batch_fn(start), ..., batch_fn(stop - 1), computing up to `depth` ahead on a thread."""
  with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxssl-data") as pool:
    pending = collections.deque(pool.submit(batch_fn, s) for s in range(start, min(start + depth, stop)))
    next_step = start + len(pending)
    while pending:
      batch = pending.popleft().result()
      if next_step < stop:
        pending.append(pool.submit(batch_fn, next_step))
        next_step += 1
      yield batch


def prefetch_to_device(batches: Iterator[dict], put: Callable[[dict], dict], depth: int = 2) -> Iterator[tuple[dict, dict]]:
  """Yields (host batch, put(host batch)) for each of `batches`, with the copies of the next `depth - 1`
  batches already started: `put` (e.g. `parallel.shard_batch`, an asynchronous device_put) is called that
  far ahead, so the transfer of batch k+1 runs while step k computes and a step never waits on the host.
  depth=1: each batch is put when it is consumed (no overlap)."""
  if depth < 1:
    raise ValueError(f"prefetch depth must be >= 1, got {depth}; 1 turns device prefetch off.")
  queue = collections.deque()
  for batch in batches:
    queue.append((batch, put(batch)))
    if len(queue) >= depth:
      yield queue.popleft()
  while queue:
    yield queue.popleft()
