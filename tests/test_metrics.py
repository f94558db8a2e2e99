"""TensorBoard events written without TensorFlow read back as TF's own summaries do: scalars through
TensorBoard's event reader (as experiments/plot.py reads them), images as PNGs."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_file_loader

from jaxssl.metrics import MetricWriter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"))
import plot  # noqa: E402


def test_scalars_and_images_read_back(tmp_path):
  writer = MetricWriter(str(tmp_path))
  writer.write_scalars(1, {"eval/knn_k20": 0.25, "train/loss": 3.5})
  writer.write_scalars(7, {"eval/knn_k20": 0.75})
  grid = np.random.default_rng(0).integers(0, 256, (1, 6, 10, 3), np.uint8)
  writer.write_images(0, {"views": grid, "grey": grid[..., :1].astype(np.float32) / 255})
  writer.close()
  steps, values = plot.read_scalars(str(tmp_path), "eval/knn_k20")
  np.testing.assert_array_equal(steps, [1, 7])
  np.testing.assert_allclose(values, [0.25, 0.75])
  assert plot.knn_tags(str(tmp_path)) == ["eval/knn_k20"]
  images = {}
  [path] = tmp_path.glob("events.out.tfevents.*")
  for event in event_file_loader.EventFileLoader(str(path)).Load():
    for value in event.summary.value:
      if value.metadata.plugin_data.plugin_name == "images":
        width, height, png = value.tensor.string_val
        assert (int(width), int(height)) == (10, 6)
        images[value.tag] = np.asarray(Image.open(io.BytesIO(png)))
  np.testing.assert_array_equal(images["views"], grid[0])
  np.testing.assert_array_equal(images["grey"], grid[0, ..., 0])  # Floats in [0, 1] round back to the bytes.


def test_a_running_job_s_records_reach_the_file_and_a_closed_writer_refuses_more(tmp_path):
  writer = MetricWriter(str(tmp_path))
  writer.write_scalars(5, {"train/loss": 2.0})  # Not closed: a running job, as TensorBoard reads it.
  steps, values = plot.read_scalars(str(tmp_path), "train/loss")
  assert list(steps) == [5] and list(values) == [2.0]
  writer.close()
  with pytest.raises(ValueError, match="write after close"):
    writer.write_scalars(6, {"train/loss": 1.0})


def test_no_logdir_writes_nothing_and_bad_images_are_an_error(tmp_path):
  writer = MetricWriter(None)
  writer.write_scalars(1, {"loss": 1.0})
  writer.close()
  with pytest.raises(ValueError, match=r"expected images \[N, H, W, 1 or 3\], got shape \(6, 10\)"):
    MetricWriter(str(tmp_path)).write_images(0, {"x": np.zeros((6, 10))})


def test_writing_events_imports_no_tensorflow(tmp_path):
  """TensorBoard's EventFileWriter imports TensorFlow where it is installed (3-4 s in every run's process);
  MetricWriter writes the same file without it, starting with the file-version record readers expect."""
  code = ("import sys; from jaxssl.metrics import MetricWriter; w = MetricWriter(sys.argv[1]); "
          "w.write_scalars(3, {'train/loss': 1.5}); w.close(); "
          "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'")
  out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  [path] = tmp_path.glob("events.out.tfevents.*")
  events = list(event_file_loader.EventFileLoader(str(path)).Load())
  assert events[0].file_version == "brain.Event:2"
  assert [(e.step, v.tag, v.tensor.float_val[0]) for e in events[1:] for v in e.summary.value] == [
      (3, "train/loss", 1.5)]
