"""Optimizers and schedules from the config."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxssl import config as config_lib, optim


def opt_config(**kw):
  c = config_lib.base_config("simclr").optimizer
  c.update(kw)
  return c


def test_warmup_then_cosine_to_zero():
  _, lr = optim.create(opt_config(schedule="cosine", learning_rate=0.4, warmup_steps=10), num_train_steps=110)
  np.testing.assert_allclose([lr(0), lr(5), lr(10), lr(60), lr(110)], [0.0, 0.2, 0.4, 0.2, 0.0], atol=1e-6)
  _, poly = optim.create(opt_config(schedule="polynomial", decay_power=0.5, learning_rate=0.05), num_train_steps=100)
  np.testing.assert_allclose([poly(0), poly(75), poly(100)], [0.05, 0.025, 0.0], atol=1e-7)  # 0.05·(1 − t)^½.
  _, const = optim.create(opt_config(warmup_steps=4, learning_rate=0.1), num_train_steps=100)
  np.testing.assert_allclose([const(0), const(2), const(4), const(99)], [0.0, 0.05, 0.1, 0.1], atol=1e-7)


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_descends(name):
  # LARS scales a kernel's step by trust_coefficient (1e-3) x ||w|| / ||g||: it needs a large learning rate.
  decay = 0.0 if name == "adam" else 1e-4  # Adam has no weight decay (see the next test).
  tx, _ = optim.create(opt_config(name=name, learning_rate=10.0 if name == "lars" else 0.1, weight_decay=decay), 100)
  params = {"w": jnp.ones((3, 3))}
  loss = lambda p: jnp.sum(p["w"] ** 2)
  state = tx.init(params)
  start = loss(params)
  for _ in range(20):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    params = optax.apply_updates(params, updates)
  assert loss(params) < 0.5 * start


def test_weight_decay_skips_biases():
  tx, _ = optim.create(opt_config(name="adamw", learning_rate=0.1, weight_decay=0.5), 10)
  params = {"w": jnp.ones((2, 2)), "b": jnp.ones((2,))}
  zero = {"w": jnp.zeros((2, 2)), "b": jnp.zeros((2,))}
  updates, _ = tx.update(zero, tx.init(params), params)
  assert float(jnp.abs(updates["w"]).sum()) > 0 and float(jnp.abs(updates["b"]).sum()) == 0


def test_adam_with_weight_decay_is_a_clear_error():
  """A set option is applied or rejected: optax.adam has no weight decay, and it used to be dropped silently."""
  with pytest.raises(ValueError, match=r"weight_decay=0.0005 is not applied by 'adam'; use .*'adamw'"):
    optim.create(opt_config(name="adam", weight_decay=5e-4), 100)
  optim.create(opt_config(name="adamw", weight_decay=5e-4), 100)
