"""Your own images and arrays: an image-folder tree (PNG and JPEG files, a corrupt file, grayscale and RGBA
images, nested unlabelled folders) and in-memory arrays train through the same pipeline; a trained encoder
loads back into research code and reproduces the run's own evaluation."""
import glob
import logging
import os

import numpy as np
import pytest
from PIL import Image

import jaxssl
from jaxssl import config as config_lib, data, evaluate

CLASSES = ("cat", "dog", "owl")


def write_tree(root, train_per_class=6, test_per_class=2, unlabelled=10):
  """Class folders of real image files: each class its own colour, PNG for cat/dog and JPEG for owl; one cat
  is grayscale, one dog is RGBA; owl holds a corrupt .jpg and a text file; unlabelled images sit two deep."""
  rng = np.random.default_rng(0)

  def image(c):
    base = np.zeros((20, 20, 3), np.uint8)
    base[..., c] = 200
    return np.clip(base + rng.integers(0, 50, base.shape), 0, 255).astype(np.uint8)

  for split, n in (("train", train_per_class), ("test", test_per_class)):
    for c, name in enumerate(CLASSES):
      os.makedirs(root / split / name)
      for i in range(n):
        pixels = Image.fromarray(image(c))
        if split == "train" and i == 0:
          pixels = pixels.convert({"cat": "L", "dog": "RGBA", "owl": "RGB"}[name])
        pixels.save(root / split / name / f"{i}.{'jpg' if name == 'owl' else 'png'}")
  (root / "train" / "owl" / "broken.jpg").write_bytes(b"not a jpeg at all")
  (root / "train" / "owl" / "notes.txt").write_text("not an image, and not named like one")
  os.makedirs(root / "unlabelled" / "a" / "b")
  for i in range(unlabelled):
    Image.fromarray(image(i % 3)).save(root / "unlabelled" / ("a" if i % 2 else "a/b") / f"u{i}.png")


def folder_config(root, **data_overrides):
  config = config_lib.base_config("simclr")
  config.data.name, config.data.image_size, config.data.labels_per_class = "folder", 32, 2
  config.data.train_dir, config.data.test_dir = str(root / "train"), str(root / "test")
  config.data.unlabelled_dir = str(root / "unlabelled")
  config.data.update(data_overrides)
  config.batch_size, config.model.width, config.model.features = 8, 8, 16
  config.num_train_steps = config.log_every_steps = config.eval_every_steps = config.checkpoint_every_steps = 2
  config.eval.probe_steps = 10
  return config


def test_image_folder_loads_with_class_names_counts_and_a_logged_skip(tmp_path, caplog):
  write_tree(tmp_path)
  with caplog.at_level(logging.WARNING):
    ds = data.load(folder_config(tmp_path).data)
  assert ds.class_names == CLASSES
  assert "skipped 1 of 19 files" in caplog.text and "broken.jpg" in caplog.text
  assert ds.labelled_images.shape == (6, 32, 32, 3) and ds.labelled_images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(ds.labelled_labels), [2, 2, 2])
  assert len(ds.unlabelled_images) == 18 + 10 and len(ds.test_images) == 6
  np.testing.assert_array_equal(ds.test_labels, [0, 0, 1, 1, 2, 2])
  # Each class is its own colour channel: labels belong to their images (the grey cat has all channels equal).
  colour = ds.test_images.reshape(6, -1, 3).mean(1).argmax(1)
  np.testing.assert_array_equal(colour, ds.test_labels)
  grey = data.load(folder_config(tmp_path, channels=1).data)
  assert grey.labelled_images.shape == (6, 32, 32, 1)


def test_image_folder_without_test_dir_holds_out_a_stratified_fraction(tmp_path):
  write_tree(tmp_path)
  os.remove(tmp_path / "train" / "owl" / "broken.jpg")  # 6 images a class.
  ds = data.load(folder_config(tmp_path, test_dir="", test_fraction=1 / 3, labels_per_class=-1).data)
  np.testing.assert_array_equal(np.bincount(ds.test_labels), [2, 2, 2])
  np.testing.assert_array_equal(np.bincount(ds.labelled_labels), [4, 4, 4])


def test_image_folder_errors_say_what_to_do(tmp_path):
  write_tree(tmp_path)
  os.makedirs(tmp_path / "empty")
  with pytest.raises(ValueError, match=r"no images .* in class sub-folders of .*empty"):
    data.load(folder_config(tmp_path, train_dir=str(tmp_path / "empty")).data)
  with pytest.raises(FileNotFoundError, match="does not exist; set config.data.train_dir"):
    data.load(folder_config(tmp_path, train_dir=str(tmp_path / "missing")).data)
  os.remove(tmp_path / "train" / "owl" / "1.jpg")  # 5 readable owls (and the broken file).
  with pytest.raises(ValueError, match=r"class 'owl' has only 5 training images, fewer than .*labels_per_class=6"):
    data.load(folder_config(tmp_path, labels_per_class=6).data)
  os.makedirs(tmp_path / "test" / "bat")
  with pytest.raises(ValueError, match=r"class folders \['bat'\] that the training folder lacks"):
    data.load(folder_config(tmp_path).data)


@pytest.mark.view_grid
def test_image_folder_trains_and_the_encoder_loads_back_with_the_same_numbers(tmp_path):
  """A 2-step run on the folder, then `jaxssl.load_encoder(workdir)`: its features give the run's own kNN and
  probe numbers."""
  write_tree(tmp_path)
  config = folder_config(tmp_path)
  results = jaxssl.train_and_evaluate(config, str(tmp_path / "run"))
  assert results["final"]["step"] == 2 and results["data"]["class_names"] == list(CLASSES)
  encoder = jaxssl.load_encoder(str(tmp_path / "run"))
  assert encoder.step == 2 and encoder.class_names == CLASSES and encoder.image_shape == (32, 32, 3)
  ds = data.load(config.data)
  bank, test = encoder.embed(ds.labelled_images), encoder.embed(ds.test_images)
  assert bank.shape == (6, 16) and bank.dtype == np.float32
  metrics, choices = evaluate.evaluate_features(bank, ds.labelled_labels, test, ds.test_labels, 3, config.eval)
  assert metrics == {k: v for k, v in results["final"].items() if k != "step"}
  assert choices == results["eval_choices"][str(results["final"]["step"])]
  with pytest.raises(ValueError, match=r"uint8 images \[N, 32, 32, 3\]"):
    encoder.embed(ds.test_images[..., :1])
  grid = tensorboard_image(tmp_path / "run", "augmented_views")  # 8 images of the first batch + 2 views each.
  assert grid.shape == (3 * 32, 8 * 32, 3)


def tensorboard_image(workdir, tag):
  """The image logged under `tag` in a workdir's TensorBoard events, decoded: uint8 [H, W, C]."""
  import io
  from PIL import Image
  from tensorboard.backend.event_processing import event_file_loader

  for path in glob.glob(str(workdir / "events.out.tfevents.*")):
    for event in event_file_loader.EventFileLoader(path).Load():
      for value in event.summary.value:
        if value.tag == tag and value.metadata.plugin_data.plugin_name == "images":
          return np.asarray(Image.open(io.BytesIO(value.tensor.string_val[2])))
  raise AssertionError(f"no image {tag!r} in {workdir}")


def test_arrays_from_research_code_train_with_unlabelled_rows(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 12, 12, 3), np.uint8)
  labels = np.where(np.arange(40) < 20, np.arange(40) % 4, -1)  # -1: no label (joins the unlabelled stream).
  source = data.from_arrays(images, labels, test_images=images[:8], test_labels=np.arange(8) % 4)
  config = folder_config(tmp_path, name="arrays", labels_per_class=-1)
  ds = data.load(config.data, source=source)
  assert ds.labelled_images.shape == (20, 32, 32, 3) and len(ds.unlabelled_images) == 40
  assert ds.class_names == ("0", "1", "2", "3")
  results = jaxssl.train_and_evaluate(config, str(tmp_path / "run"), source=source)
  assert results["final"]["step"] == 2
  with pytest.raises(ValueError, match="uint8"):
    data.from_arrays(images.astype(np.float32), labels, test_images=images[:8], test_labels=np.arange(8) % 4)
  with pytest.raises(ValueError, match=r"config.data.name='arrays' needs .*source=data.from_arrays"):
    jaxssl.train_and_evaluate(config, str(tmp_path / "other"))
