"""Command line: python -m jaxssl.main --config=configs/<method>_<dataset>.py --workdir=DIR [--config.key=value].

The config file is locked: overriding a key it does not have is an error, so a typo never goes unnoticed.
"""
import logging as std_logging

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, TensorBoard events and results.json.")
config_flags.DEFINE_config_file("config", None, "Path to a config file in configs/.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


class _QuietCheckpointing(std_logging.Filter):
  """Drops orbax's INFO lines (dozens per save) from the console; its warnings and errors still show."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietCheckpointing())
  from jaxssl import train  # Imported here so --help answers without loading TensorFlow and JAX.

  results = train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  final = results["final"]
  summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(final.items()) if k != "step")
  logging.info("done: %s", summary)
  print(f"{FLAGS.config.method} on {FLAGS.config.data.name}, step {final['step']}: {summary}")
  print(f"wall time {results['wall_time_s']:.1f}s; results in {FLAGS.workdir}/results.json")


if __name__ == "__main__":
  app.run(main)
