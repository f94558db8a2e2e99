"""Optimizers and learning-rate schedules from `config.optimizer` (optax)."""
import jax
import ml_collections
import optax

OPTIMIZERS = ("adam", "adamw", "sgd", "lars")
SCHEDULES = ("constant", "cosine", "polynomial")


def check(opt_config: ml_collections.ConfigDict) -> None:
  """Raises ValueError for an unknown optimizer or schedule name or a negative value."""
  if opt_config.name not in OPTIMIZERS:
    raise ValueError(f"unknown optimizer {opt_config.name!r}; config.optimizer.name must be one of {OPTIMIZERS}.")
  if opt_config.schedule not in SCHEDULES:
    raise ValueError(f"unknown schedule {opt_config.schedule!r}; config.optimizer.schedule must be one of "
                     f"{SCHEDULES}.")
  for key in ("learning_rate", "warmup_steps", "weight_decay"):
    if opt_config[key] < 0:
      raise ValueError(f"config.optimizer.{key} must be >= 0, got {opt_config[key]}.")
  if opt_config.name == "adam" and opt_config.weight_decay:
    raise ValueError(f"config.optimizer.weight_decay={opt_config.weight_decay} is not applied by 'adam'; use "
                     "config.optimizer.name='adamw' (decoupled weight decay), or set weight_decay=0.")


def schedule(opt_config: ml_collections.ConfigDict, num_train_steps: int) -> optax.Schedule:
  """Linear warm-up over `warmup_steps`, then constant, cosine or polynomial (1 − t)^decay_power decay to 0
  at `num_train_steps`."""
  peak, warmup = opt_config.learning_rate, opt_config.warmup_steps
  decay_steps = max(num_train_steps - warmup, 1)
  if opt_config.schedule == "cosine":
    after = optax.cosine_decay_schedule(peak, decay_steps)
  elif opt_config.schedule == "polynomial":
    after = optax.polynomial_schedule(peak, 0.0, opt_config.decay_power, decay_steps)
  else:
    after = optax.constant_schedule(peak)
  if not warmup:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


def _is_matrix(params):
  """Weight decay and LARS trust ratios apply to kernels, not to biases or normalisation scales."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def create(opt_config: ml_collections.ConfigDict, num_train_steps: int) -> tuple[optax.GradientTransformation,
                                                                                  optax.Schedule]:
  """The optax optimizer named by `opt_config.name` and its learning-rate schedule."""
  check(opt_config)
  lr = schedule(opt_config, num_train_steps)
  wd = opt_config.weight_decay
  if opt_config.name == "adam":
    tx = optax.adam(lr)
  elif opt_config.name == "adamw":
    tx = optax.adamw(lr, weight_decay=wd, mask=_is_matrix)
  elif opt_config.name == "sgd":
    tx = optax.chain(optax.add_decayed_weights(wd, mask=_is_matrix),
                     optax.sgd(lr, momentum=opt_config.momentum, nesterov=True))
  else:
    tx = optax.lars(lr, weight_decay=wd, weight_decay_mask=_is_matrix, trust_ratio_mask=_is_matrix,
                    trust_coefficient=opt_config.lars_trust_coefficient, momentum=opt_config.momentum)
  return tx, lr
