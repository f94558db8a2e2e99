"""Fine-tuning: which layers move (the others bit-identical), early stopping on held-out labels, clear errors."""
import jax
import numpy as np
import pytest
from flax import nnx

from jaxssl import config as config_lib, data, evaluate, finetune, models


def small_encoder(name="convnet", size=32):
  model_config = config_lib.base_config("simclr").model
  model_config.name, model_config.width, model_config.features = name, 16, 32
  return models.build_encoder(model_config, 1, size, nnx.Rngs(0))


def test_layers_are_listed_in_forward_order():
  assert finetune.forward_layers(small_encoder()) == [("convs", 0), ("convs", 1), ("convs", 2), ("convs", 3),
                                                      ("dense",)]
  resnet = finetune.forward_layers(small_encoder("resnet18", 16))
  assert resnet[0] == ("conv1",) and resnet[1:] == [("blocks", i) for i in range(8)]
  with pytest.raises(ValueError, match=r"last_layers=6: this encoder has 5 layers \(convs.0, .*dense\)"):
    finetune.trainable_filter(small_encoder(), 6)


def test_finetuning_the_last_two_layers_leaves_the_others_bit_identical_and_learns():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 10
  dataset = data.load(config.data)
  options = config.finetune
  options.last_layers, options.steps, options.learning_rate, options.eval_every = 2, 150, 3e-3, 25
  encoder = small_encoder()
  before = jax.tree.map(np.array, nnx.state(encoder, nnx.Param))
  result = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  after = nnx.state(encoder, nnx.Param)
  for i in range(3):  # Not among the last two: untouched, bit for bit.
    jax.tree.map(np.testing.assert_array_equal, before["convs"][i], jax.tree.map(np.asarray, after["convs"][i]))
  for moved in (before["convs"][3]["kernel"][...] - after["convs"][3]["kernel"][...],
                before["dense"]["kernel"][...] - after["dense"]["kernel"][...]):
    assert np.abs(moved).max() > 1e-4
  assert result["accuracy"] > 0.6 and 0 < result["best_step"] <= result["steps"] <= 150
  assert 0 < result["holdout_accuracy"] <= 1


def test_the_probe_initialised_head_starts_at_the_linear_probes_accuracy():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 10
  dataset = data.load(config.data)
  options = config.finetune
  options.steps, options.holdout_fraction = 0, 0.2
  encoder = small_encoder()
  result = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  train_idx, _ = data.split.holdout_split(dataset.labelled_labels, 10, 0.2, 0)
  features = finetune._features(encoder, dataset.labelled_images[train_idx])
  probe = evaluate.linear_probe(features, dataset.labelled_labels[train_idx], finetune._features(
      encoder, dataset.test_images), dataset.test_labels, 10)
  assert result["best_step"] == result["steps"] == 0
  assert abs(result["accuracy"] - probe) < 0.01 and probe > 0.3  # A random conv net's probe is well above 10%.
  options.head_init = "zeros"
  with pytest.raises(ValueError, match="head_init must be 'probe' or 'random'"):
    finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                      dataset.test_labels, 10, options)
