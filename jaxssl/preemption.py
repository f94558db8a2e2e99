"""Stopping cleanly when the job is told to (SIGTERM from a scheduler's preemption, SIGINT from Ctrl-C)."""
import logging
import signal
import threading

import jax
from jax.experimental import multihost_utils


class StopRequest:
  """A context manager the train loop asks, once per step, whether to save and stop.

  One process: SIGTERM or SIGINT sets a flag (a second SIGINT interrupts at once, as usual); the handlers
  in place before are restored on exit. Several processes: JAX's own preemption notice (installed by
  `jax.distributed.initialize`) picks the step at which every process saves together.
  """

  def __init__(self):
    self.signal = None
    self._previous = {}

  def __enter__(self) -> "StopRequest":
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def _handle(self, signum, frame) -> None:
    del frame
    self.signal = signum
    signal.signal(signal.SIGINT, self._previous.get(signal.SIGINT, signal.default_int_handler))
    logging.warning("received %s: saving a checkpoint after this step, then stopping.", signal.Signals(signum).name)

  def requested(self, step: int) -> bool:
    """True when the run should checkpoint `step` and stop (call at every step, on every process)."""
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self.signal is not None
