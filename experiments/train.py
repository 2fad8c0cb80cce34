"""One training run ("cell"): a task at one test length, one model, one width, depth, learning
rate and seed (docs/PAPER.md §13.1).

Protocol of a cell:
  * Adam (optax) on the cross-entropy, a fresh batch from the training distribution every step,
    the gradient clipped to global norm ``clip`` (1.0; 0 turns clipping off).  Without it the
    LSTM on Dyck-(2,2) at n = 100 oscillated and fell back to a constant predictor (lr 1e-3:
    validation 0.81 at step 750, 0.50 at 1,250, test 0.653 after 4,000 steps; lr 3e-4: test
    0.471), while with it lr 3e-3 reached validation 0.998 at step 1,000 (test 0.995).  The paper
    does not state its clipping; clipping at norm 1 is the common default for recurrent models;
  * every ``eval_every`` steps, accuracy on a fixed validation set drawn at the test length (the
    validation curve); training stops early once it reaches ``stop_at`` (near perfect), or after
    ``steps`` steps;
  * the final model is scored on ``test_size`` (5,000) fresh examples at the test length.

Training batches may differ in width (``length_buckets`` > 1): the step compiles once per width.

Continuing a run (``save_state``, ``resume``): a run that used its whole budget can save its
training state (parameters, optimizer state, the training data's generator state, the step, the
validation curve); a run of the same cell with a larger budget can continue from it instead of
training the first steps again.  The continuation is the same computation as a run from step 0
(the same compiled step on the same arrays and batches; tested equal, curve and test accuracy), so
the saved state is only a cache: without it a run trains from scratch to the same numbers.  It
needs the saved step to be a validation step (a multiple of ``eval_every``), since a run from
scratch evaluates only there.

Seeding: the parameters are initialised from ``jax.random.PRNGKey(seed)``; training, validation
and test data come from ``np.random.default_rng([seed, stream])`` with streams 0, 1 and 2 (so the
validation and test sets are the same for every model that shares a seed).
"""

from __future__ import annotations

import dataclasses
import io
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fileio import atomic_write

from . import data, models


class StateError(ValueError):
    """A saved training state that does not belong to the cell asked to continue from it."""


MODEL_NAMES = {"tf": "TF", "lintf": "LinTF", "lstm": "LSTM", "dss": "DSS", "mamba": "Mamba", "retnet": "RetNet"}


@dataclasses.dataclass(frozen=True)
class Cell:
    task: str
    n: int
    model: str
    width: int
    layers: int
    lr: float
    seed: int
    steps: int
    batch: int = 64
    eval_every: int = 250
    val_size: int = 1000
    test_size: int = 5000
    stop_at: float = 0.99
    length_buckets: int = 1  # training batches in K length ranges (experiments.data); 1: one width
    clip: float = 1.0  # gradient clipping to this global norm; 0: none

    @property
    def key(self) -> str:
        """File-system name of the cell (unique within a protocol)."""
        return (
            f"{self.task}_n{self.n}_{self.model}{self.layers}_w{self.width}_lr{self.lr:g}_s{self.seed}"
            f"_T{self.steps}_b{self.batch}"
            + (f"_K{self.length_buckets}" if self.length_buckets != 1 else "")
            + (f"_c{self.clip:g}" if self.clip else "")
        )

    @property
    def label(self) -> str:
        """The paper's figure label, e.g. ``TF-(1, 64)``, ``Mamba-(2, 256)``."""
        return f"{MODEL_NAMES[self.model]}-({self.layers}, {self.width})"


def _accuracy(apply, params, tokens, lengths, labels, chunk=500):
    correct = 0
    for i in range(0, tokens.shape[0], chunk):
        sl = slice(i, i + chunk)
        correct += int(apply(params, tokens[sl], lengths[sl], labels[sl]))
    return correct / tokens.shape[0]


CONSTANT_SHARE = 0.99


def constant_predictor(pred_counts) -> bool:
    """A constant predictor: one class takes at least ``CONSTANT_SHARE`` (99%) of the test
    predictions (every test input gets the same output is the extreme case).  Its test accuracy is
    then within 0.01 of that class's share of the test labels, e.g. 0.482 on Dyck = the share of
    negatives.  Accuracy equal to some class's share is not used on its own: with 64 classes a
    model that predicts many classes can land on a share by chance."""
    counts = [int(c) for c in pred_counts]
    total = sum(counts)
    if total <= 0:
        raise ValueError("constant_predictor needs at least one prediction")
    return max(counts) >= CONSTANT_SHARE * total


def run(cell: Cell, progress=None, save_params=None, save_state=None, resume=None) -> dict:
    """Train and test one cell; returns the JSON-ready result row (with the validation curve).

    Runs with ``jax_enable_x64`` off whatever the caller has set (``JAX_ENABLE_X64``, or a call
    inside ``constructions.float64_scope()``): with it on, some intermediates are float64 and the same seed gave other
    numbers (the smoke cell's first mean loss 4.4911666 instead of 4.4911671, and the runs diverge
    from there).  So a cell's numbers do not depend on what else the process imported.

    ``save_params``: optional callable, called once after testing as ``save_params(module, params,
    row)`` with the flax module, its trained parameters and the result row (for instance
    ``experiments.export.saver(path)``); it does not change the row.

    ``save_state``: optional path; if the run uses its whole budget (no early stop), its training
    state is written there (``.npz``, atomically) for a longer run of the same cell to continue
    from.  ``resume``: optional path of such a state, saved by the same cell with a smaller budget
    (the module docstring); the run continues from its step, and its row says so
    (``resumed_from``: that run's key, step and training seconds; ``train_seconds`` counts both).
    A state that does not fit the cell raises :class:`StateError` before any training."""
    with jax.enable_x64(False):
        return _run(cell, progress, save_params, save_state, resume)


def _write_state(path, cell, params, opt_state, rng, step, curve, seconds) -> None:
    leaves = jax.tree_util.tree_leaves((params, opt_state))
    meta = dict(key=cell.key, cell=dataclasses.asdict(cell), step=step, curve=curve, train_seconds=seconds)
    meta["rng"] = rng.bit_generator.state
    arrays = {f"leaf{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}

    def write(fh):
        buf = io.BytesIO()
        np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
        fh.write(buf.getvalue())

    atomic_write(path, write)


def _read_state(path, cell, params, opt_state):
    """(params, opt_state, generator state, step, curve, seconds, key) of the state at ``path``,
    checked against ``cell`` and the fresh ``params``/``opt_state`` (the tree's shapes and types)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            saved = [f[f"leaf{i:04d}"] for i in range(len(f.files) - 1)]
        saved_cell, step, curve = Cell(**meta["cell"]), int(meta["step"]), list(meta["curve"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StateError(f"{path}: not a readable training state ({e})") from None
    # every setting but the budget must agree (the key leaves out eval_every, val_size, test_size, stop_at)
    if dataclasses.replace(cell, steps=saved_cell.steps) != saved_cell:
        raise StateError(
            f"{path} is the state of {saved_cell.key}, not of a shorter run of {cell.key} with its settings"
        )
    schedule = list(range(cell.eval_every, step + 1, cell.eval_every))
    if not 0 < step < cell.steps or step % cell.eval_every or [c.get("step") for c in curve] != schedule:
        raise StateError(
            f"{path}: step {step} is not a validation step (every {cell.eval_every}) below the budget {cell.steps}"
        )
    fresh, treedef = jax.tree_util.tree_flatten((params, opt_state))
    if len(saved) != len(fresh) or any(a.shape != b.shape or a.dtype != b.dtype for a, b in zip(saved, fresh)):
        raise StateError(f"{path}: its arrays do not match the model and optimizer of {cell.key}")
    restored = [jnp.asarray(a) for a in saved]
    params, opt_state = jax.tree_util.tree_unflatten(treedef, restored)
    return params, opt_state, meta["rng"], step, curve, meta["train_seconds"], saved_cell.key


def _run(cell: Cell, progress=None, save_params=None, save_state=None, resume=None) -> dict:
    src = data.make(cell.task, cell.n, length_buckets=cell.length_buckets)
    module = models.build(
        cell.model, vocab=src.vocab, max_len=src.max_len, width=cell.width, layers=cell.layers, classes=src.classes
    )
    rng_train, rng_val, rng_test = (np.random.default_rng([cell.seed, s]) for s in range(3))
    val = src.test_batch(rng_val, cell.val_size)
    tok0, len0, _ = src.train_batch(np.random.default_rng([cell.seed, 3]), 2)
    params = module.init(jax.random.PRNGKey(cell.seed), jnp.asarray(tok0), jnp.asarray(len0))["params"]
    if cell.clip < 0:
        raise ValueError(f"clip must be >= 0, got {cell.clip}")
    # The learning rate enters as a value in the optimizer state (optax.inject_hyperparams), not as
    # a constant of the compiled program: every cell of one configuration (each rate and seed of a
    # group) then runs the same XLA programs, which JAX's persistent compilation cache compiles once
    # (see experiments.runner; the compilations were most of a short cell's time).
    adam = optax.inject_hyperparams(optax.adam)(learning_rate=cell.lr)
    opt = optax.chain(optax.clip_by_global_norm(cell.clip), adam) if cell.clip else adam
    opt_state = opt.init(params)

    def loss_fn(p, tokens, lengths, labels):
        logits = module.apply({"params": p}, tokens, lengths)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    @jax.jit
    def train_step(p, s, tokens, lengths, labels):
        loss, grads = jax.value_and_grad(loss_fn)(p, tokens, lengths, labels)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    @jax.jit
    def n_correct(p, tokens, lengths, labels):
        logits = module.apply({"params": p}, tokens, lengths)
        return jnp.sum(jnp.argmax(logits, -1) == labels)

    @jax.jit
    def predict(p, tokens, lengths):
        return jnp.argmax(module.apply({"params": p}, tokens, lengths), -1)

    curve, losses, step, stopped, before, resumed_from = [], [], 0, False, 0.0, None
    if resume is not None:
        params, opt_state, rng_state, step, curve, before, key = _read_state(resume, cell, params, opt_state)
        rng_train.bit_generator.state = rng_state
        resumed_from = dict(key=key, step=step, train_seconds=before)
        if progress:
            progress(f"  continuing {key} from step {step}")
    t0 = time.time()
    while step < cell.steps:
        tokens, lengths, labels = src.train_batch(rng_train, cell.batch)
        params, opt_state, loss = train_step(params, opt_state, tokens, lengths, labels)
        losses.append(loss)
        step += 1
        if step % cell.eval_every == 0 or step == cell.steps:
            acc = _accuracy(n_correct, params, *val)
            mean_loss = float(np.mean(np.asarray(jax.device_get(losses))))
            losses = []
            curve.append({"step": step, "val_acc": acc, "train_loss": mean_loss})
            if progress:
                progress(f"  step {step:>6}  loss {mean_loss:.4f}  val {acc:.4f}  ({time.time() - t0:.0f}s)")
            if acc >= cell.stop_at:
                stopped = True
                break
    train_seconds = before + time.time() - t0
    if save_state is not None and not stopped:
        _write_state(save_state, cell, params, opt_state, rng_train, step, curve, round(train_seconds, 1))
    test = src.test_batch(rng_test, cell.test_size)
    test_acc = _accuracy(n_correct, params, *test)
    preds = np.concatenate(
        [np.asarray(predict(params, test[0][i : i + 500], test[1][i : i + 500])) for i in range(0, len(test[2]), 500)]
    )
    pred_counts = np.bincount(preds, minlength=src.classes).tolist()
    label_counts = np.bincount(np.asarray(test[2]), minlength=src.classes).tolist()
    sizes = models.size(module, params)
    row = dataclasses.asdict(cell)
    row.update(
        key=cell.key,
        label=cell.label,
        steps_run=step,
        early_stopped=stopped,
        best_val_acc=max(c["val_acc"] for c in curve),
        final_val_acc=curve[-1]["val_acc"],
        test_acc=test_acc,
        test_pred_counts=pred_counts,
        test_label_counts=label_counts,
        constant_predictor=constant_predictor(pred_counts),
        budget_exhausted=not stopped,
        steps_to_stop=next((c["step"] for c in curve if c["val_acc"] >= cell.stop_at), None),
        params=sizes["params"],
        params_no_embed=sizes["params_no_embed"],
        state_size=sizes["state_size"],
        state_kind=sizes["state_kind"],
        train_seconds=round(train_seconds, 1),
        curve=curve,
    )
    if resumed_from is not None:
        row["resumed_from"] = resumed_from
    if cell.task == "dyck":
        row["dyck_depth1_rule"] = data.DYCK_DEPTH1_RULE
    if save_params is not None:
        save_params(module, params, row)
    return row
