"""Metrics: TensorBoard event files written without TensorFlow, and the run's progress line.

`MetricWriter` writes the same records TF2's `tf.summary.scalar` / `tf.summary.image` write (tensor
summaries with the "scalars" / "images" plugin), framed by TensorBoard's TF-free record writer, so
TensorBoard, `experiments/plot.py` and any events reader see no difference; only process 0 writes files.
TensorBoard's `EventFileWriter` is not used: where TensorFlow is installed it imports it (3-4 s a process)
for its file I/O; the file here opens through `etils.epath`, as orbax's checkpoints do. A local file is
flushed at every record, so TensorBoard shows a running job as it goes; a remote one (a path with "://",
which re-uploads at every flush) at most every `REMOTE_FLUSH_EVERY_S` seconds, and on close.
"""
import io
import itertools
import logging
import os
import socket
import time

import numpy as np
from etils import epath
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

_FILE_NUMBER = itertools.count()  # Two writers of one process in one second still get two files.
REMOTE_FLUSH_EVERY_S = 60.0


def _summary(tag: str, plugin: str, tensor: tensor_pb2.TensorProto) -> summary_pb2.Summary.Value:
  metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))
  return summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)


def _png(image: np.ndarray) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top  (only when an image is written)

  buffer = io.BytesIO()
  Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, format="PNG")
  return buffer.getvalue()


class MetricWriter:
  """Scalars and images for TensorBoard in `logdir` (None: write nothing, e.g. on processes other than 0)."""

  def __init__(self, logdir: str | None):
    self._records, self._closed, self._flushed_at = None, False, time.time()
    self._flush_every_s = REMOTE_FLUSH_EVERY_S if logdir and "://" in logdir else 0.0
    if logdir:
      directory = epath.Path(logdir)
      directory.mkdir(parents=True, exist_ok=True)
      name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
              f"{next(_FILE_NUMBER)}")
      self._records = RecordWriter((directory / name).open("wb"))
      self._records.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())

  def _write(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
    if self._closed:
      raise ValueError("MetricWriter: write after close().")
    if self._records is not None:
      event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=values))
      self._records.write(event.SerializeToString())
      if time.time() - self._flushed_at >= self._flush_every_s:
        self.flush()

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    """One float32 scalar per tag at `step`."""
    self._write(step, [_summary(tag, "scalars", tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[float(value)], tensor_shape=tensor_shape_pb2.TensorShapeProto()))
                       for tag, value in scalars.items()])

  def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
    """Each value: [N, H, W, C] (C = 1 or 3), uint8 or float in [0, 1], logged as N PNG images under its tag."""
    values = []
    for tag, batch in images.items():
      batch = np.asarray(batch)
      if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        raise ValueError(f"write_images({tag!r}): expected images [N, H, W, 1 or 3], got shape {batch.shape}")
      if batch.dtype != np.uint8:
        batch = np.clip(np.round(batch.astype(np.float32) * 255), 0, 255).astype(np.uint8)
      contents = [str(batch.shape[2]).encode(), str(batch.shape[1]).encode(), *map(_png, batch)]
      shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(contents))])
      values.append(_summary(tag, "images", tensor_pb2.TensorProto(
          dtype=types_pb2.DT_STRING, string_val=contents, tensor_shape=shape)))
    self._write(step, values)

  def flush(self) -> None:
    if self._records is not None:
      self._records.flush()
    self._flushed_at = time.time()

  def close(self) -> None:
    if self._records is not None:
      self._records.close()  # Flushes and closes the file.
    self._records, self._closed = None, True


class Progress:
  """One console line per log step: step/total, the training metrics, images/s over the steps completed since
  the previous line (measured when the host has fetched their metrics, so it counts work, not dispatch),
  and the ETA at that rate."""

  def __init__(self, start_step: int, num_steps: int, images_per_step: int):
    self.num_steps, self.images_per_step = num_steps, images_per_step
    self._step, self._time = start_step, time.time()

  def restart_clock(self) -> None:
    """Excludes the time since the last line from the rate (an evaluation or a checkpoint, not training)."""
    self._time = time.time()

  def log(self, step: int, metrics: dict[str, float]) -> None:
    now = time.time()
    line = f"step {step}/{self.num_steps}  " + "  ".join(
        f"{k}={metrics[k]:.4g}" for k in sorted(metrics, key=lambda k: (k != "loss", k)))
    if step > self._step:  # Not on the first step (it compiles).
      rate = (step - self._step) * self.images_per_step / max(now - self._time, 1e-9)
      eta = round((self.num_steps - step) * self.images_per_step / rate)
      line += f"  {rate:.0f} images/s  ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}"
    logging.info("%s", line)
    self._step, self._time = step, now


def format_accuracies(accuracies: dict[str, float]) -> str:
  """'knn_k20=0.8250  knn_k100=0.8111  probe=…': kNN by k, then the rest by name."""
  order = lambda k: (0, int(k[5:]), "") if k.startswith("knn_k") else (1, 0, k)
  return "  ".join(f"{k}={accuracies[k]:.4f}" for k in sorted(accuracies, key=order))
