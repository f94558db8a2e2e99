"""How much does unlabelled data buy when labels are scarce? Accuracy vs labels per class, for several methods
and seeds, on one dataset; `supervised` (the same encoder trained on the labelled images only) is the
from-scratch baseline.

  python experiments/label_sweep.py --dataset=fashion_mnist --methods=supervised,simclr,paws \
      --labels_per_class=1,10,100 --seeds=0,1 --steps=500 --out=experiments/results/sweep

Each method runs from its `configs/<method>_<dataset>.py`, with `--steps` train steps (evaluated at the end).
Methods whose training reads no labels (SimCLR, VICReg, Barlow Twins, BYOL, MoCo v3, DINO, RotNet, VAE,
Siamese VAE) pre-train once per seed and are
evaluated for every labels-per-class from that checkpoint (`jaxssl.load_encoder`); the others train once
per (labels per class, seed). The labelled subset of seed s is `data.split_seed = s`. A method named
`<method>_from_<source>` (e.g. `fixmatch_from_paws`) trains `<method>` with its encoder started from the
`<source>` cell of the same labels and seed (`config.init_from`; that cell is trained first if it has not
been); its row's epochs and train time count both runs.

Every cell is evaluated from its checkpoint with the cell's labelled subset: kNN (the config's k, e.g. 20/200,
and k=10 when the bank has 10 images), probe, soft nearest neighbour and, with `--finetune` or where the config's
declared headline is `finetune`, test accuracy after fine-tuning (`config.finetune`: early-stopped on held-out
labels, then by default refit on all of them). Results go to `<out>/results.csv`, one row per (method, labels_per_class, seed), with steps and wall
time. The file is rewritten atomically after every cell (read again first: sweeps of other methods may share the
folder), and a rerun skips the cells it already holds (an interrupted training run resumes from its checkpoint
in `<out>/runs/`).
"""
import argparse
import csv
import fcntl
import math
import os
import time
import typing

FIELDS = ("method", "labels_per_class", "seed", "headline", "knn_k10", "knn_k20", "knn_k200", "probe", "snn",
          "finetune", "head", "headline_protocol", "steps", "epochs", "train_s", "wall_s")
# kNN k=20 and k=200 as the seeds report them; k=10 is what a bank of 10 images (1 label per class of 10) allows.
# head: the test accuracy of the method's own classifier (supervised, SESEMI, FixMatch).
METRICS = ("knn_k10", "knn_k20", "knn_k200", "probe", "snn", "finetune", "head")


def read_rows(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return list(csv.DictReader(f))


def write_rows(path: str, rows: list[dict]) -> None:
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "w", newline="") as f:
    writer = csv.DictWriter(f, FIELDS)
    writer.writeheader()
    writer.writerows(rows)
  os.replace(tmp, path)


def add_row(path: str, row: dict) -> list[dict]:
  """Adds `row` to the results file at `path` and returns all its rows. The file is read again under a lock
  first, so sweeps that share an `--out` folder (other methods run beside it on this machine) keep each
  other's rows; a row with the same (method, labels_per_class, seed) is replaced. Values come back as read
  from the file (strings)."""
  key = lambda r: (r["method"], int(r["labels_per_class"]), int(r["seed"]))
  with open(os.path.join(os.path.dirname(path), ".lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    write_rows(path, [r for r in read_rows(path) if key(r) != key(row)] + [row])
    return read_rows(path)


def sweep_config(root: str, method: str, dataset: str, labels: int, seed: int, steps: int, overrides: dict,
                 epochs: float = 0.0):
  """The config of one run: configs/<method>_<dataset>.py with the cell's labels, seeds and budget: `steps`
  train steps, or with `epochs` > 0 that many passes of `config.batch_size` over the training images."""
  from jaxssl import config as config_lib

  config = config_lib.from_file(os.path.join(root, "configs", f"{method}_{dataset}.py"))
  config.data.labels_per_class, config.data.split_seed, config.seed = labels, seed, seed
  config.update_from_flattened_dict(overrides)
  if epochs > 0:
    steps = math.ceil(epochs * num_train_images(config) / config.batch_size)
  config.num_train_steps = config.eval_every_steps = steps
  config.checkpoint_every_steps = min(config.checkpoint_every_steps, steps)  # Resumable within a long cell.
  config.log_every_steps = min(config.log_every_steps, steps)
  return config


_TRAIN_IMAGES = {}


def num_train_images(config) -> int:
  """Images in the training split of `config.data` (labelled and unlabelled)."""
  from jaxssl import data

  key = config.data.to_json(sort_keys=True)
  if key not in _TRAIN_IMAGES:
    dataset = data.load(config.data)
    _TRAIN_IMAGES[key] = len(dataset.unlabelled_images) + (
        0 if config.data.unlabelled_includes_labelled else len(dataset.labelled_images))
  return _TRAIN_IMAGES[key]


def finished(workdir: str, steps: int) -> bool:
  """Whether the run in `workdir` has trained and evaluated all `steps` steps."""
  from jaxssl import train
  return train.read_json(os.path.join(workdir, "results.json")).get("final", {}).get("step") == steps


def train_seconds(workdir: str) -> float:
  """Wall time of the training run in `workdir`, over all its (resumed) invocations."""
  from jaxssl import train
  return train.read_json(os.path.join(workdir, "results.json")).get("train_wall_s", 0.0)


def uses_labels(config) -> bool:
  from jaxssl import methods
  return "labelled" in methods.create(config).streams


def evaluate_checkpoint(workdir: str, config, with_finetune: bool = False) -> dict[str, float]:
  """kNN, probe and soft-nearest-neighbour test accuracy of the run in `workdir` with `config.data`'s labelled
  subset as bank / probe set, reading the layer `config.model.feature_layer` names (an eval-only option); with
  `with_finetune`, also the test accuracy after fine-tuning it on that subset (`config.finetune`, the config's
  augmentation on training batches). The metrics are also logged (TensorBoard, in `<workdir>/label_sweep/`, at
  step = labels per class) and added to the run's results.json under
  "label_sweep" / "<labels per class>"."""
  import contextlib
  import jaxssl
  from jaxssl import augment, data, evaluate, finetune, train
  from jaxssl.metrics import MetricWriter

  encoder = jaxssl.load_encoder(workdir, feature_layer=config.model.feature_layer)  # Eval-only: the cell's.
  dataset = data.load(config.data)
  bank, test = encoder.embed(dataset.labelled_images), encoder.embed(dataset.test_images)
  metrics, choices = evaluate.evaluate_features(bank, dataset.labelled_labels, test, dataset.test_labels,
                                                dataset.num_classes, config.eval)
  if encoder.classifies:  # The method trains a classifier: its own protocol.
    metrics["head"] = evaluate.head_accuracy(encoder.classify(dataset.test_images), dataset.test_labels)
  if with_finetune:
    tuned = finetune.finetune(encoder.encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                              dataset.test_labels, dataset.num_classes, config.finetune,
                              augment.ViewConfig.from_config(config.augment), seed=config.seed)
    metrics["finetune"] = tuned["accuracy"]
  labels = config.data.labels_per_class
  with contextlib.closing(MetricWriter(os.path.join(workdir, "label_sweep"))) as writer:
    writer.write_scalars(labels, {f"label_sweep/{k}": v for k, v in metrics.items()})
  results_path = os.path.join(workdir, "results.json")
  results = train.read_json(results_path)
  results.setdefault("label_sweep", {})[str(labels)] = {**metrics, "choices": choices}
  train.write_json(results_path, results)
  return metrics


class Run(typing.NamedTuple):
  """A cell's training run: its workdir, the cell's config, the config the run trained with (SimCLR's: the
  largest label count's) and the run its encoder started from (`<method>_from_<source>`), or None."""
  workdir: str
  config: object
  train_config: object
  source: "Run | None"


def cell_run(root: str, dataset: str, method: str, labels: int, seed: int, steps: int, out: str, overrides: dict,
             epochs: float, labels_per_class: list[int]) -> Run | None:
  """The run of `method`'s cell (labels, seed), trained first if it has not finished; None if a SIGTERM
  stopped it."""
  import jaxssl

  method, _, source = method.partition("_from_")
  config = sweep_config(root, method, dataset, labels, seed, steps, overrides, epochs)
  source_run = None
  if source:  # The source cell's run first; this cell's run starts from its encoder.
    source_run = cell_run(root, dataset, source, labels, seed, steps, out, overrides, epochs, labels_per_class)
    if source_run is None:
      return None
    config.init_from = os.path.abspath(source_run.workdir)
  if uses_labels(config) or source:  # Trains on this cell's labels (or starts from an encoder that did).
    workdir = os.path.join(out, "runs", f"{method}{'_from_' + source if source else ''}_l{labels}_s{seed}")
    train_config = config
  else:  # Pre-trains once per seed (with the largest label count's bank), evaluated for every count.
    workdir = os.path.join(out, "runs", f"{method}_s{seed}")
    train_config = sweep_config(root, method, dataset, max(labels_per_class), seed, steps, overrides, epochs)
  if not finished(workdir, train_config.num_train_steps):  # Trains, or resumes an interrupted run.
    trained = jaxssl.train_and_evaluate(train_config, workdir)
    if "preempted_at_step" in trained:  # SIGTERM: the run saved its checkpoint; the sweep stops too.
      print(f"stopped on request in {workdir} at step {trained['preempted_at_step']}; rerun the same "
            "command to resume.", flush=True)
      return None
  return Run(workdir, config, train_config, source_run)


def run_sweep(root: str, dataset: str, methods: list[str], labels_per_class: list[int], seeds: list[int],
              steps: int, out: str, overrides: dict | None = None, with_finetune: bool = False,
              epochs: float = 0.0) -> list[dict]:
  """Runs every missing cell and returns all rows of `<out>/results.csv`. A cell's `headline` is the metric
  its config declares (`config.eval.headline`; "finetune" fine-tunes the cell even without `with_finetune`)."""
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, "results.csv")
  rows = read_rows(path)
  done = {(r["method"], int(r["labels_per_class"]), int(r["seed"])) for r in rows}
  for method in methods:
    for seed in seeds:
      for labels in labels_per_class:
        if (method, labels, seed) in done:
          continue
        start = time.time()
        run = cell_run(root, dataset, method, labels, seed, steps, out, overrides or {}, epochs, labels_per_class)
        if run is None:
          return rows
        config, headline = run.config, run.config.eval.headline
        metrics = evaluate_checkpoint(run.workdir, config, with_finetune or headline == "finetune")
        runs = [run]  # This cell's run and the runs its encoder started from.
        while runs[-1].source is not None:
          runs.append(runs[-1].source)
        epochs_trained = sum(r.train_config.num_train_steps * r.train_config.batch_size /
                             num_train_images(r.train_config) for r in runs)
        row = {"method": method, "labels_per_class": labels, "seed": seed, "headline": metrics[headline],
               "headline_protocol": headline, "steps": config.num_train_steps, "epochs": round(epochs_trained, 2),
               "train_s": round(sum(train_seconds(r.workdir) for r in runs), 1),
               "wall_s": round(time.time() - start, 1),
               **{k: metrics.get(k, "") for k in METRICS}}  # Empty: k is larger than the bank.
        rows = add_row(path, row)
        print(f"{method} labels/class={labels} seed={seed}: " + "  ".join(f"{k}={metrics.get(k, '')}" for k in METRICS),
              flush=True)
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--dataset", default="fashion_mnist")
  parser.add_argument("--methods", default="supervised,simclr,suncet,paws,sesemi,rotnet,vae")
  parser.add_argument("--labels_per_class", default="1,10,100")
  parser.add_argument("--seeds", default="0,1")
  parser.add_argument("--steps", type=int, default=500)
  parser.add_argument("--epochs", type=float, default=0.0,
                      help="budget in passes of config.batch_size over the training images (overrides --steps)")
  parser.add_argument("--out", default="experiments/results/sweep")
  parser.add_argument("--finetune", action="store_true", help="also fine-tune every cell (config.finetune)")
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="config override for every run, e.g. --set batch_size=128 (value parsed as Python)")
  args = parser.parse_args()
  import ast
  overrides = {}
  for item in args.set:
    key, value = item.split("=", 1)
    try:
      overrides[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      overrides[key] = value
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  start = time.time()
  run_sweep(root, args.dataset, args.methods.split(","), [int(x) for x in args.labels_per_class.split(",")],
            [int(x) for x in args.seeds.split(",")], args.steps, args.out, overrides, args.finetune, args.epochs)
  print(f"sweep done in {time.time() - start:.0f} s; results in {args.out}/results.csv")


if __name__ == "__main__":
  main()
