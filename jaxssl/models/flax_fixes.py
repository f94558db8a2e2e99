"""A workaround for a tracing cost in flax 0.12.8 with jax 0.10: BatchNorm's running-statistics update.

`nnx.BatchNorm` stores its running mean and variance with `variable[...] = new`, and `nnx.Rngs` counts its
draws the same way. Under `jit`, flax's `Variable.set_value` then compares `getattr(value, "sharding", None)` of
the new and the old value, both tracers. A JAX tracer answers `.sharding` with an AttributeError whose message
it builds first, and that message searches the whole program traced so far for the value's origin: a cost
that grows with the program, paid at every BatchNorm layer and random draw, so quadratic in the model's size.
Measured on a 2-core Zen 5 (under cProfile): 5.8 s of the 10.1 s spent tracing MoCo v3's ResNet-18 train step
(CIFAR-10 config) went to those messages; the test that traces that config took 5.5 s before, 2.2 s after.

The fix takes flax's own decision there without asking the tracers for a sharding: for a full replace
(`[...]`) of a plain traced array by a traced array of the same shape and dtype, flax's check always ends in
`self._raw_value = value` (a tracer has no sharding, so both sides are None). Everything else goes to flax's
`set_value` unchanged. `tests/test_models.py` checks that a traced train step builds no such message and that
BatchNorm's statistics come out the same. Drop this module once flax skips that lookup for tracers.
"""
import flax
import jax
from flax.nnx import variablelib

# flax's own method, even if this module is imported again (importlib.reload) after apply().
_flax_set_value = getattr(variablelib.Variable.set_value, "flax_set_value", variablelib.Variable.set_value)
# The versions whose set_value this mirrors, checked against flax's source: flax 0.12.x, jax 0.10.x. On others
# flax's own path runs (slower tracing, same results) until this is checked again for them.
_Tracer = getattr(jax.core, "Tracer", None)
_MISSING = getattr(variablelib, "MISSING", None)
_is_array_ref = getattr(variablelib, "is_array_ref", None)
SUPPORTED = (flax.__version__.startswith("0.12.") and jax.__version__.startswith("0.10.")
             and None not in (_Tracer, _MISSING, _is_array_ref))


def _set_value(self, value, *, index=_MISSING):
  raw = getattr(self, "_raw_value", None)
  if (index is Ellipsis and isinstance(value, _Tracer) and isinstance(raw, _Tracer) and not _is_array_ref(raw)
      and "on_set_value" not in getattr(self, "_var_metadata", {"on_set_value": "unknown"})
      and value.shape == raw.shape and value.dtype == raw.dtype):
    self._raw_value = value  # What flax's own check concludes here.
    return
  _flax_set_value(self, value, index=index)


_set_value.flax_set_value = _flax_set_value


def apply() -> None:
  """Installs the fast path (idempotent); `jaxssl.models` calls it on import."""
  if SUPPORTED:
    variablelib.Variable.set_value = _set_value
