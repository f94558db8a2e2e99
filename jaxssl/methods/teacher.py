"""An exponential-moving-average teacher, the state BYOL, MoCo v3 and DINO (and FixMatch's EMA model) carry
beside the student.

The teacher is a copy of the whole model's variables in the TrainState's `extra` (checkpointed with it):
`extra["teacher"] = {"params", "rest"}`. After each optimizer step, inside the same compiled step,
  teacher ← m · teacher + (1 − m) · student,   for the parameters and the BatchNorm statistics,
with m rising from `base_momentum` to 1 on a cosine over the run (BYOL's schedule, also MoCo v3's and DINO's):
  m(k) = 1 − (1 − base_momentum) · (cos(π k / K) + 1) / 2,   k = steps taken, K = config.num_train_steps.
Evaluation reads what each paper evaluates (`config.<method>.evaluate`): DINO the teacher, BYOL and MoCo v3
the student (the online / base encoder). FixMatch overrides the momentum with its constant `ema_decay`, and
its loss does not read the EMA model; evaluation does.
"""
import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl import models
from jaxssl.methods.base import Method


def cosine_momentum(base: float, step: jax.Array, num_steps: int) -> jax.Array:
  """m(step) = 1 − (1 − base)·(cos(π·step/num_steps) + 1)/2: `base` at step 0, 1 at the end."""
  progress = jnp.minimum(step / max(num_steps, 1), 1.0)
  return 1.0 - (1.0 - base) * (jnp.cos(jnp.pi * progress) + 1.0) / 2.0


def ema(teacher, student, momentum: jax.Array):
  """m·teacher + (1 − m)·student on floating-point leaves; other leaves (counters) follow the student."""
  def average(t, s):
    return momentum * t + (1.0 - momentum) * s if jnp.issubdtype(s.dtype, jnp.floating) else s
  return jax.tree.map(average, teacher, student)


class TeacherMethod(Method):
  """A method that keeps an EMA teacher of its model. Its config section has `evaluate` ("teacher" or
  "student") and `base_momentum` for the cosine schedule of `momentum`, which a subclass may override."""

  def init_extra(self, params, rest):
    # Copies: the step donates the whole state, and a buffer shared by student and teacher cannot be donated twice.
    return {"teacher": jax.tree.map(jnp.copy, {"params": params, "rest": rest})}

  def momentum(self, step: jax.Array) -> jax.Array:
    return cosine_momentum(self.options.base_momentum, step, self.config.num_train_steps)

  def teacher(self, model: nnx.Module, extra: dict, axis_name: str | None) -> nnx.Module:
    """The teacher as a module of the student's architecture (BatchNorm over `axis_name` in train mode)."""
    teacher = extra["teacher"]
    merged = nnx.merge(nnx.graphdef(model), jax.lax.stop_gradient(teacher["params"]), teacher["rest"], copy=True)
    return models.set_batch_axis(merged, axis_name)

  def update_extra(self, extra, params, rest, step, terms):
    del terms
    m = self.momentum(step)
    return {**extra, "teacher": {"params": ema(extra["teacher"]["params"], params, m),
                                 "rest": ema(extra["teacher"]["rest"], rest, m)}}

  def eval_variables(self, params, rest, extra):
    """The teacher's variables with `evaluate="teacher"` (DINO's choice), else the student's (BYOL's online
    encoder, MoCo v3's base encoder: what their papers evaluate)."""
    if self.options.evaluate == "teacher":
      return extra["teacher"]["params"], extra["teacher"]["rest"]
    return params, rest
