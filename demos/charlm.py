"""Demonstrates a character-level language model trained for real on Shakespeare (or your text).

Karpathy's char-rnn, written with this package: characters in (one-hot or an embedding), an
LSTM, GRU or tanh RNN (stacked, with dropout on the non-recurrent connections, Zaremba 2014),
a linear head over the vocabulary (optionally tied to the embedding), cross-entropy on the next
character. Trained with truncated BPTT: the text is cut into B parallel streams read in chunks of
T characters; the hidden state is carried from one chunk to the next but detached, so the
gradient flows back at most T steps. Adam, gradient-norm clipping, a cosine learning-rate decay,
validation loss (nats/char) on the last 10% of the text, checkpoints, and samples.

    python demos/charlm.py                                  # LSTM on tinyshakespeare
    python demos/charlm.py --time-budget 590 --steps 1000000   # ≤ 1.60 val nats/char in 10 min
    python demos/charlm.py --cell gru --hidden 128 --seq-len 32 --lr 0.01 --dropout 0 \\
        --time-budget 20 --steps 100000                     # beats min-char-rnn's 2.06 in 20 s
    python demos/charlm.py --save out/charlm.npz --every 200      # stopped (Ctrl-C) or killed:
    python demos/charlm.py --resume out/charlm.npz --save out/charlm.npz   # on to its step 1000
    python demos/charlm.py --resume out/charlm.npz --steps 4000 --prime "ROMEO:"  # warm restart:
        # past the run's own end, the rate rises again and decays over the 4000 steps
    python demos/charlm.py --data my.txt --hidden 128 --embedding 0   # one-hot input
    python demos/charlm.py --hidden 128 --steps 600 --sample-every 150  # the text taking shape
    python demos/charlm.py --graph out/charlm.svg           # one training step's graph (T=4, B=1)
"""

import argparse
import contextlib
import math
import shlex
import signal
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from tinygrad_lstm import Tensor, checkpoint, manual_seed, nn, no_grad, optim
from tinygrad_lstm import functional as F
from tinygrad_lstm.cli import (StopBetweenSteps, command, demo_parser, finite, graph_and_steps,
                               graph_clash, positive, progress, room_for, run_demo,
                               writable)
from tinygrad_lstm.data import CharStream, CharVocab, load_text, one_hot, split_train_val

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


# ------------------------------------------------------------------------------------- config
@dataclass
class Config:
    # model (a checkpoint must match these to be resumed)
    cell: str = "lstm"          # recurrent layer: lstm, gru or rnn (tanh)
    layers: int = 1             # stacked recurrent layers
    hidden: int = 256           # hidden units per layer
    embedding: int = 64         # embedding size; 0 feeds one-hot vectors instead
    tie: bool = False           # head shares the embedding matrix (needs hidden == embedding)
    # training
    dropout: float = 0.1        # on non-recurrent connections: into, between and out of the layers
    forget_bias: float = 1.0    # added to the LSTM forget gate's bias at init (remember by default)
    batch_size: int = 32        # B parallel streams through the text
    seq_len: int = 64           # T: truncated-BPTT chunk length
    lr: float = 4e-3            # Adam learning rate at the start
    lr_final: float = 0.1       # final learning rate as a fraction of lr (cosine decay)
    clip: float = 5.0           # max global gradient norm
    reset: float = 0.05         # chance per chunk that a stream restarts from a zero state, so the
                                # model also learns to start from scratch (as sampling does)
    time_budget: float = 0.0    # stop after this many seconds of training in all (0: no limit)
    eval_every: int = 500       # validation loss every N steps during training (0: only at the end)
    eval_batch: int = 32        # streams for validation (fewer = fewer cold starts)
    eval_chars: int = 0         # evaluate on at most this many characters (0: all of them)


MODEL_KEYS = ("cell", "layers", "hidden", "embedding", "tie")
FLAG_HELP = {
    "cell": "recurrent layer", "layers": "stacked recurrent layers",
    "hidden": "hidden units per layer", "embedding": "embedding size (0: one-hot input)",
    "tie": "tie the head to the embedding (needs --hidden == --embedding)",
    "dropout": "dropout into the first layer, between layers and before the head",
    "forget_bias": "LSTM forget-gate bias at init", "batch_size": "parallel streams B",
    "seq_len": "truncated-BPTT chunk length T", "lr": "Adam learning rate",
    "lr_final": "final lr as a fraction of --lr (cosine decay over --steps or --time-budget)",
    "clip": "max gradient norm",
    "reset": "chance per chunk that a stream's carried state is zeroed",
    "time_budget": "stop after SECONDS of training, a resumed checkpoint's included (0: no limit)",
    "eval_every": "validation every N steps (0: only at the end)",
    "eval_batch": "validation streams",
    "eval_chars": "evaluate on at most N characters (0: the whole validation text)",
}


def build_parser():
    p = demo_parser(__doc__, graph_default="out/charlm.svg", steps_default=1000, min_steps=0)
    p.add_argument("--data", default=None, metavar="FILE",
                   help="UTF-8 text to train on (default: the shipped tinyshakespeare)")
    for f in fields(Config):
        flag = "--" + f.name.replace("_", "-")
        # SUPPRESS: a flag not given is absent from the namespace, so --resume can tell
        # "asked for" from "default" and take the checkpoint's value
        kw = dict(default=argparse.SUPPRESS, help=f"{FLAG_HELP[f.name]} (default {f.default})")
        if f.type is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif f.name == "cell":
            p.add_argument(flag, choices=sorted(CELLS), **kw)
        else:
            p.add_argument(flag, type=f.type, metavar=f.name.upper(), **kw)
    p.add_argument("--save", metavar="PATH", help="write a checkpoint here (atomically); a file "
                   "already there is replaced only when it is the one --resume continues")
    p.add_argument("--every", type=int, default=0, metavar="N",
                   help="checkpoint every N steps as well as at the end (needs --save)")
    p.add_argument("--resume", metavar="PATH", help="continue training from a checkpoint, "
                   "to the saved run's own --steps; a --steps given is the total to reach "
                   "instead (the cosine decay runs over it: a larger --steps than the saved "
                   "run's raises the rate again, a warm restart)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    p.add_argument("--prime", default="", help="text to start the sample with "
                   "(default: the first character of the data)")
    p.add_argument("--sample-chars", type=int, default=400, help="length of the sample")
    p.add_argument("--sample-every", type=int, default=0, metavar="N",
                   help="a short sample (one line, the same prime and seed each time) every N "
                        "steps while training, to watch the text take shape (0: only the "
                        "final sample)")
    return p


def check_config(cfg):
    for name in ("layers", "hidden", "batch_size", "seq_len", "eval_batch"):
        positive("--" + name.replace("_", "-"), getattr(cfg, name))
    for name in ("time_budget", "eval_every"):
        if not getattr(cfg, name) >= 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be 0 (none) or more, "
                             f"got {getattr(cfg, name)}")
    if cfg.eval_chars < 0 or cfg.eval_chars == 1:
        raise SystemExit(f"error: --eval-chars must be 0 (all) or >= 2, got {cfg.eval_chars}")
    positive("--lr", cfg.lr)
    if not cfg.clip > 0:  # inf is allowed: no clipping
        raise SystemExit(f"error: --clip must be positive, got {cfg.clip}")
    finite("--forget-bias", cfg.forget_bias)
    if cfg.embedding < 0:
        raise SystemExit(f"error: --embedding must be >= 0, got {cfg.embedding}")
    if not 0.0 <= cfg.reset < 1.0:
        raise SystemExit(f"error: --reset must be in [0, 1), got {cfg.reset}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise SystemExit(f"error: --dropout must be in [0, 1), got {cfg.dropout}")
    if not 0.0 <= cfg.lr_final <= 1.0:  # 0: a decay all the way, as torch's eta_min=0
        raise SystemExit(f"error: --lr-final must be in [0, 1], got {cfg.lr_final}")
    if cfg.tie and cfg.hidden != cfg.embedding:
        raise SystemExit(f"error: --tie shares one matrix between the embedding and the head, so "
                         f"--hidden ({cfg.hidden}) must equal --embedding ({cfg.embedding})")
    if cfg.forget_bias and cfg.cell != "lstm":
        cfg.forget_bias = 0.0  # only the LSTM has a forget gate
    return cfg


# ------------------------------------------------------------------------------------- model
class CharLM(nn.Module):
    """logits(t) = head(dropout(rnn(dropout(embed(x_≤t)))))  -- next-character scores at every t.

    Dropout is on the non-recurrent connections only, as Zaremba et al. 2014 put it: into the
    first layer, between layers (the layer's own `dropout`) and into the head, so a character's
    information passes it L + 1 times on its way up through L layers, however far back it is.

    Inputs: x int (T, B) character ids; hx the carried state (or None for zeros).
    Outputs: logits (T, B, V) and the final state.
    """

    def __init__(self, vocab_size, cfg, rng):
        self.vocab_size = V = vocab_size
        E, H = cfg.embedding, cfg.hidden
        self.embed = nn.Embedding(V, E, rng=rng) if E else None
        extra = {"forget_bias": cfg.forget_bias} if cfg.cell == "lstm" else {}
        between = cfg.dropout if cfg.layers > 1 else 0.0  # one layer: nothing in between
        self.rnn = CELLS[cfg.cell](E or V, H, num_layers=cfg.layers, dropout=between,
                                   rng=rng, **extra)
        self.drop = nn.Dropout(cfg.dropout, rng=rng) if cfg.dropout else None
        self.head = nn.Linear(H, V, rng=rng)
        if cfg.tie:
            self.head.weight = self.embed.weight  # one (V, H) Parameter under both names

    def forward(self, x, hx=None, return_states=False):
        inp = self.embed(x) if self.embed else Tensor(one_hot(x, self.vocab_size))  # (T, B, E|V)
        if self.drop is not None:
            inp = self.drop(inp)
        out, hx, *states = self.rnn(inp, hx, return_states=return_states)       # (T, B, H)
        if self.drop is not None:
            out = self.drop(out)
        logits = self.head(out)                                                  # (T, B, V)
        return (logits, hx, *states)


def detach(hx):
    """Keep the carried state's values, cut its graph: truncated BPTT."""
    return tuple(s.detach() for s in hx) if isinstance(hx, tuple) else hx.detach()


def state_arrays(hx):
    return [] if hx is None else [s.data for s in (hx if isinstance(hx, tuple) else (hx,))]


def restart_some(hx, rng, p):
    """Zero the carried state of each stream with probability p (state arrays are (L, B, H))."""
    arrays = state_arrays(hx)
    if not arrays or p == 0:
        return hx
    keep = (rng.random(arrays[0].shape[1]) >= p).astype(arrays[0].dtype)  # (B,)
    return state_tensors([a * keep[None, :, None] for a in arrays])


def state_tensors(arrays):
    if not arrays:
        return None
    ts = tuple(Tensor(a) for a in arrays)
    return ts if len(ts) > 1 else ts[0]


# ------------------------------------------------------------------------------------- loss
def evaluate(model, ids, batch_size=32, seq_len=256, bar=None):
    """Mean cross-entropy (nats/char) of predicting ids[1:] from ids[:-1], read as batch_size
    contiguous streams with the state carried across chunks; no graph is recorded. `bar`: a
    progress bar's description (the whole validation text takes seconds)."""
    B = max(1, min(batch_size, (len(ids) - 1) // 2))
    stream = CharStream(ids, B, seq_len)
    total, count, hx = 0.0, 0, None
    model.eval()
    try:
        with no_grad(), (progress(len(stream), bar) if bar else contextlib.nullcontext(
                lambda **_: None)) as update:
            for x, y in stream:
                logits, hx = model(x, hx)
                total += F.cross_entropy(logits, y).item() * y.size
                count += y.size
                update()
    finally:
        model.train()
    return total / count


def sample(model, vocab, prime, n, temperature=0.8, rng=None):
    """prime followed by n characters drawn one at a time from softmax(logits / temperature)
    (temperature 0: always the most likely character); None when the logits are not finite
    (weights of 1e30 overflow; numpy's choice raised on NaN odds)."""
    rng = np.random.default_rng(0) if rng is None else rng
    out = list(prime)
    model.eval()
    try:
        with no_grad():
            logits, hx = model(vocab.encode(prime)[:, None])       # (T, 1, V)
            for _ in range(n):
                z = logits.data[-1, 0].astype(np.float64)
                if not np.isfinite(z).all():  # finite weights can still overflow: NaN odds
                    return None
                if temperature > 0:
                    p = np.exp((z - z.max()) / temperature)
                    i = int(rng.choice(len(p), p=p / p.sum()))
                else:
                    i = int(z.argmax())
                out.append(vocab.itos[i])
                logits, hx = model(np.array([[i]]), hx)
    finally:
        model.train()
    return "".join(out)


GLIMPSE = 100  # characters a --sample-every sample shows, on one line


def glimpse(model, vocab, prime, args):
    """A one-line sample for --sample-every: GLIMPSE characters after the prime, from the same
    seed every time (so what changes between two is the model), newlines shown as ↵. It
    draws from its own generator and runs under no_grad in eval mode, so training goes on
    exactly as without it."""
    text = sample(model, vocab, prime, GLIMPSE, args.temperature,
                  np.random.default_rng(args.seed))
    return "(no sample: the logits are not finite)" if text is None else \
        repr(text.replace("\n", "↵"))


def lr_at(cfg, fraction):
    """Cosine decay from lr to lr * lr_final as training goes from 0 to 1 of its length."""
    f = min(max(fraction, 0.0), 1.0)
    return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * f)))


# ------------------------------------------------------------------------------------- checkpoints
def check_finite(model, step, path=None, probe=None):
    """SystemExit when a weight is not finite, or (given `probe`, a few ids (T, 1)) the
    model's logits on them are not: finite weights of 1e30 overflow. A diverged run must not
    replace the checkpoint it was resumed from, nor be evaluated and sampled (NaN odds)."""
    bad = next((k for k, v in model.state_dict().items() if not np.isfinite(v).all()), None)
    if bad is None and probe is not None:
        model.eval()
        try:
            with no_grad(), np.errstate(over="ignore", invalid="ignore"):
                if not np.isfinite(model(probe)[0].data).all():
                    bad = "the model's logits"
        finally:
            model.train()
    if bad is not None:
        raise SystemExit(f"error: training diverged: {bad} {'are' if 'logits' in bad else 'is'}"
                         f" not finite at step {step} (a lower --lr?)"
                         + (f"; not saved to {path}" if path else ""))


def save_checkpoint(path, model, opt, cfg, vocab, run, final=True):
    """Save the run. A write that fails (a full disk) is an error at the end of the run, and
    a warning at an `--every` save, after which training goes on and the next save tries
    again (it used to end the run, losing the steps since the last save)."""
    check_finite(model, run["step"], path)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _save(path, model, opt, cfg, vocab, run)
    except OSError as e:  # a line, not a traceback
        why = getattr(e.__cause__, "strerror", None) or e.strerror or e  # the OS's own words
        said = (f"--save {path}: could not write the checkpoint at step {run['step']} "
                f"({why}); a checkpoint already there is unchanged")
        if final:
            raise SystemExit(f"error: {said}") from None
        print(f"warning: {said}; training goes on, and the next save tries again", flush=True)


def checkpoint_bytes(model, cfg):
    """About what a checkpoint of this run takes on disk: the weights and Adam's two moments,
    the carried state, and room for the rest (vocabulary, config, the zip's headers)."""
    weights = sum(p.data.nbytes for p in model.parameters())
    state = cfg.layers * cfg.batch_size * cfg.hidden * 4 * len(model.rnn.state_names)
    return 3 * weights + state + (64 << 10)


def _save(path, model, opt, cfg, vocab, run):
    checkpoint.save({"model": dict(model.state_dict()), "optimizer": opt.state_dict(),
                     "step": run["step"], "steps": run["steps"], "seconds": run["seconds"],
                     "vocab": "".join(vocab.itos),
                     "config": asdict(cfg), "stream": {"position": run["stream"].position,
                                                       "epoch": run["stream"].epoch},
                     "hx": state_arrays(run["hx"]), "rng": run["rng"].bit_generator.state,
                     "smooth": run["smooth"]},  # the printed train loss's moving average
                    path)


def read_checkpoint(path, given):
    """The checkpoint at `path`, refused (SystemExit naming the file and the key) when it is
    corrupt or when a model flag given on the command line differs from what it was saved with."""
    try:
        ck = checkpoint.load(path)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot resume from {path}: {e}") from None
    need = ("model", "optimizer", "step", "vocab", "config")
    missing = [k for k in need if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise SystemExit(f"error: {path} is not a charlm checkpoint: no {missing[0]!r} entry")
    _check_values(path, ck)
    saved = ck["config"]
    for key in MODEL_KEYS:
        if key not in saved:
            raise SystemExit(f"error: {path}: config has no {key!r}; not a charlm checkpoint")
        if key in given and given[key] != saved[key]:
            flag = "--" + key.replace("_", "-")
            asked = (f"--{'' if given[key] else 'no-'}{flag[2:]}" if isinstance(given[key], bool)
                     else f"{flag} {given[key]!r}")
            raise SystemExit(f"error: {path} was saved with {key}={saved[key]!r} but this run "
                             f"asks for {asked}; drop {flag} to resume it")
    return ck


def _whole(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_values(path, ck):
    """The values main reads from a checkpoint, of the kinds charlm saves them: a hand-edited
    or foreign file is refused naming the key (a string step or an unknown cell ended in a
    traceback). The weights and the optimizer state are checked as they load."""
    def refuse(key, value, want):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:60] + "…"
        raise SystemExit(f"error: cannot resume from {path}: {key} is {shown}, expected {want}")
    config = ck["config"]
    if not isinstance(config, dict):
        refuse("config", config, "a dict")
    for f in fields(Config):
        if f.name not in config:
            continue
        v = config[f.name]
        if f.name == "cell":
            if v not in CELLS:
                refuse("config 'cell'", v, " or ".join(sorted(CELLS)))
        elif f.type is bool:
            if not isinstance(v, (bool, np.bool_)):
                refuse(f"config {f.name!r}", v, "true or false")
        elif not (_whole(v) or f.type is float and isinstance(v, (float, np.floating))):
            refuse(f"config {f.name!r}", v, "an int" if f.type is int else "a number")
    if not _whole(ck["step"]) or ck["step"] < 0:
        refuse("step", ck["step"], "a whole number of steps")
    steps = ck.get("steps", 0)  # the run's --steps (none before 2026-12-07)
    if not _whole(steps) or steps < 0:
        refuse("steps", steps, "the run's --steps, a whole number")
    seconds = ck.get("seconds", 0.0)
    if not (_whole(seconds) or isinstance(seconds, (float, np.floating))) or not seconds >= 0:
        refuse("seconds", seconds, "a number of seconds")
    if not isinstance(ck["vocab"], str):
        refuse("vocab", ck["vocab"], "the text's characters as a string")
    stream = ck.get("stream", {"position": 0, "epoch": 0})
    if not (isinstance(stream, dict) and all(_whole(stream.get(k)) and stream[k] >= 0
                                             for k in ("position", "epoch"))):
        refuse("stream", stream, "its position and epoch, whole numbers")
    hx = ck.get("hx", [])
    if not (isinstance(hx, (list, tuple)) and all(isinstance(a, np.ndarray) for a in hx)):
        refuse("hx", hx, "a list of arrays (the carried state)")
    smooth = ck.get("smooth")
    if smooth is not None and not (isinstance(smooth, (float, np.floating)) and
                                   math.isfinite(smooth)):
        refuse("smooth", smooth, "the smoothed training loss, a number")


def _clip(text, n=40):
    """repr of text, cut to n characters with an ellipsis when longer."""
    return repr(text) if len(text) <= n else repr(text[:n]) + "…"


def restore(path, ck, model, opt):
    """Load weights and optimizer state; errors name the file and the key. A weight or a
    moment that is not finite is refused here: training on it failed as "diverged (a lower
    --lr?)", blaming the learning rate for the file."""
    try:
        model.load_state_dict(ck["model"])
    except (KeyError, ValueError) as e:
        raise SystemExit(f"error: cannot resume from {path}: model: {e}") from None
    try:
        opt.load_state_dict(ck["optimizer"])
    except (KeyError, ValueError, TypeError) as e:
        raise SystemExit(f"error: cannot resume from {path}: optimizer: {e}") from None
    bad = next((f"model {k!r}" for k, v in model.state_dict().items()
                if not np.isfinite(v).all()), None)
    bad = bad or next((f"optimizer state {name!r} of parameter {i}"
                       for i, st in opt.state.items() for name, v in st.items()
                       if isinstance(v, np.ndarray) and not np.isfinite(v).all()), None)
    if bad:
        raise SystemExit(f"error: cannot resume from {path}: {bad} is not finite (the file, "
                         "not this run: resume an earlier checkpoint or start afresh)")


# ------------------------------------------------------------------------------------- main
@dataclass
class Result:
    step: int             # steps trained in total (including a resumed checkpoint's)
    train_loss: float     # nats/char on a training slice as long as the validation text
    val_loss: float       # nats/char on the last 10% of the text
    chars_per_s: float    # training throughput of this run
    seconds: float        # training wall time of this run (including periodic evaluations)
    sample: str
    model: CharLM
    vocab: CharVocab
    config: Config
    text: str = field(default="", repr=False)  # the text trained on (a pipe as --data reads
    # only once); not in the repr, which a notebook cell echoed whole (1 MB of Shakespeare)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    seed_given = parser.given("--seed")
    given = {f.name: getattr(args, f.name) for f in fields(Config) if hasattr(args, f.name)}
    if args.every and not args.save:
        raise SystemExit("error: --every needs --save PATH")
    for flag, value in (("--every", args.every), ("--sample-chars", args.sample_chars),
                        ("--temperature", args.temperature),
                        ("--sample-every", args.sample_every)):
        if not value >= 0:  # NaN too
            raise SystemExit(f"error: {flag} must be >= 0, got {value}")
    if args.save:
        writable(args.save, "--save")
        graph_clash(args.graph, args.save, "--save")
        # the run would replace it: only the checkpoint it continues may be (a typo must not
        # cost the training text, nor another run's checkpoint)
        save = Path(args.save)
        if save.exists() and not (args.resume and Path(args.resume).exists()
                                  and save.samefile(args.resume)):
            raise SystemExit(f"error: --save {args.save}: a file is already there; continue it "
                             f"with --resume {args.save}, or give another path")
    for flag, value in (("--data", args.data), ("--resume", args.resume)):  # read, not written
        graph_clash(args.graph, value, flag)

    # data: ids of the whole text, the last 10% held out for validation
    try:
        text = load_text(args.data)
        vocab = CharVocab(text)
        train_ids, val_ids = split_train_val(vocab.encode(text))
        prime = args.prime or text[0]
        vocab.encode(prime)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {'--prime' if 'encode' in str(e) else '--data'}: {e}") from None
    print(f"data: {args.data or 'tinyshakespeare'}  {len(text):,} chars, vocabulary {len(vocab)}, "
          f"train {len(train_ids):,} / val {len(val_ids):,}; uniform guessing scores "
          f"ln({len(vocab)}) = {math.log(len(vocab)):.3f} nats/char")

    # config: defaults < the checkpoint's (when resuming) < flags given now
    ck = read_checkpoint(args.resume, given) if args.resume else None
    if ck is not None and ck["vocab"] != "".join(vocab.itos):
        only = set(ck["vocab"]) - set(vocab.itos)
        why = ("; the checkpoint is older than load_text's reading of \\r\\n line ends and a "
               "byte-order mark as Python's text files do (2026-12-06), which this version "
               "cannot resume: train afresh" if only and only <= {"\r", "\ufeff"}
               and set(vocab.itos) - set(ck["vocab"]) <= {"\n"} else " (same --data?)")
        raise SystemExit(f"error: {args.resume} key 'vocab': saved with a vocabulary of "
                         f"{len(ck['vocab'])} characters {_clip(ck['vocab'])}, but this text's "
                         f"is {len(vocab)} {_clip(''.join(vocab.itos))}{why}")
    base = {k: v for k, v in ck["config"].items() if k in Config.__dataclass_fields__} if ck else {}
    cfg = check_config(Config(**{**base, **given}))

    eval_ids = val_ids[:cfg.eval_chars or None]
    train_eval_ids = train_ids[:len(eval_ids)]  # a training slice as long, for comparison

    # model, optimizer
    rng = manual_seed(args.seed)
    model = CharLM(len(vocab), cfg, rng)
    params = model.parameters()
    opt = optim.Adam(params, lr=cfg.lr)
    if args.save:  # (an --every save before the last one, which is written beside it;
        # resumed, the last is on the disk already)
        room_for(args.save, checkpoint_bytes(model, cfg), "--save",
                 copies=2 if 0 < args.every < args.steps and not Path(args.save).exists()
                 else 1)
    try:
        stream = CharStream(train_ids, cfg.batch_size, cfg.seq_len)
    except ValueError as e:  # it named `--data None` for a --batch-size too big for the text
        raise SystemExit(f"error: --batch-size {cfg.batch_size} / --seq-len {cfg.seq_len}: "
                         f"{e}") from None
    if cfg.seq_len >= stream.stream_len:  # the stream would cut every chunk to its length:
        # the run's "T" would not be what it unrolls (a huge one only ran out of memory)
        longest = stream.stream_len - 1
        if parser.given("--seq-len"):
            raise SystemExit(f"error: --seq-len {cfg.seq_len} is longer than each of the "
                             f"{cfg.batch_size} streams the text is cut into "
                             f"({stream.stream_len:,} characters); give at most "
                             f"{longest:,}, or a smaller --batch-size")
        # not typed (the default, the checkpoint's, or activations' call on a short text)
        print(f"note: T={cfg.seq_len} is longer than each of the {cfg.batch_size} streams "
              f"the text is cut into ({stream.stream_len:,} characters): using T={longest}")
        cfg = replace(cfg, seq_len=longest)
        stream = CharStream(train_ids, cfg.batch_size, cfg.seq_len)
    if len(val_ids) < 2:  # evaluate() predicts one character from another
        raise SystemExit(f"error: --data {args.data}: {len(text)} characters leave "
                         f"{len(val_ids)} for validation (the last 10%), which needs 2: give a "
                         f"text of at least 11 characters")
    step, seconds_before, hx, smooth = 0, 0.0, None, None
    if ck is not None:
        restore(args.resume, ck, model, opt)
        step, seconds_before = int(ck["step"]), float(ck.get("seconds", 0.0))
        smooth = ck.get("smooth")  # the `train` figure goes on as it would have (not anew)
        same_stream = (base.get("batch_size"), base.get("seq_len")) == (cfg.batch_size, cfg.seq_len)
        fits = "stream" in ck and 0 <= int(ck["stream"]["position"]) < len(stream)
        if same_stream and fits:  # continue mid-epoch with the carried state
            stream.position = int(ck["stream"]["position"])
            stream.epoch = int(ck["stream"]["epoch"])
            want, held = (cfg.layers, cfg.batch_size, cfg.hidden), ck.get("hx", [])
            if any(a.shape != want or a.dtype != np.float32 for a in held) or \
                    len(held) not in (0, len(model.rnn.state_names)):
                raise SystemExit(f"error: cannot resume from {args.resume}: hx holds "
                                 f"{[(a.shape, str(a.dtype)) for a in held]}, expected "
                                 f"{len(model.rnn.state_names)} float32 arrays of {want}")
            hx = state_tensors(held)
        elif same_stream and "stream" in ck:  # another text of the same characters: it
            # crashed at the first step, asking for chunk k of a shorter stream
            print(f"note: the checkpoint's place in its text (chunk "
                  f"{int(ck['stream']['position'])}) is past this text's {len(stream)} chunks "
                  f"(another --data?): reading it from the start")
        elif "stream" in ck and args.steps > step:  # other chunks: the saved place and
            # state do not fit them
            print(f"note: --batch-size {cfg.batch_size} / --seq-len {cfg.seq_len} cut the text "
                  f"into other chunks than the checkpoint's ({base.get('batch_size')} / "
                  f"{base.get('seq_len')}): reading it from the start, with a fresh state")
        if "rng" in ck:
            try:  # dropout masks continue as they would have
                rng.bit_generator.state = ck["rng"]
            except (TypeError, ValueError, KeyError, OverflowError) as e:  # numpy names it
                raise SystemExit(f"error: cannot resume from {args.resume}: rng: {e}") from None
        print(f"resumed {args.resume} at step {step}")
        planned = int(ck.get("steps", 0))
        if not parser.given("--steps") and planned:
            # the run goes on to its own total, and its learning rate decays over it: the
            # default 1000 ended a --steps 1500 run at 1000 and cut its rate at once
            args.steps = planned
            if planned > step:
                print(f"note: going on to step {planned}, the run's --steps (saved with it)")
        if seed_given and "rng" in ck:  # it was ignored without a word
            use = "only seeds the final sample" if args.sample_chars else "is not used"
            print(f"note: --seed {use} when resuming: the checkpoint carries the run's random "
                  "state (dropout masks, stream restarts)")
        if 0 < args.steps <= step:  # a killed run resumed without its --steps: no word said
            # it (--steps 0 asks for no training: activations loads a model so)
            given_steps = "" if parser.given("--steps") else \
                " (the run's own, saved with it)" if planned else " (the default)"
            print(f"note: --steps {args.steps}{given_steps} is not past the checkpoint's step "
                  f"{step}: nothing to train (--steps N trains on to step N)")
        if not args.save and args.steps > step:
            n = args.steps - step
            print(f"note: no --save: the {n} step{'s' * (n != 1)} of this run will not be "
                  f"kept (--save {args.resume} continues the checkpoint)")
    print(f"model: {cfg.layers} x {cfg.cell.upper()}({cfg.hidden}), "
          f"{'embedding ' + str(cfg.embedding) if cfg.embedding else 'one-hot input'}"
          f"{', tied head' if cfg.tie else ''}; {model.num_parameters():,} parameters; "
          f"B={cfg.batch_size} T={cfg.seq_len} lr={cfg.lr:g}")

    def loss_on(x, y, hx):
        logits, hx = model(x, hx)                        # (T, B, V)
        return F.cross_entropy(logits, y), hx            # mean nats/char over T*B

    # loop: truncated BPTT over the streams, the state carried across chunks
    run = {"step": step, "steps": args.steps, "seconds": seconds_before, "stream": stream,
           "hx": hx, "rng": rng, "smooth": smooth}
    todo = max(args.steps - step, 0)
    val_loss, chars = None, 0
    start = time.perf_counter()
    budget = cfg.time_budget - seconds_before if cfg.time_budget else None  # left of it
    # the signal handler covers the final save too: a Ctrl-C during it used to discard the run
    with StopBetweenSteps() as stop:
        with progress(todo, f"charlm ({cfg.cell})", seconds=budget, start=start) as update:
            for _ in range(todo):
                if stop.asked:
                    print(f"stopped by {stop.asked} at step {step}", flush=True)
                    break
                trained = seconds_before + time.perf_counter() - start  # a resumed run's too
                if cfg.time_budget and trained >= cfg.time_budget:
                    print(f"time budget of {cfg.time_budget:g} s reached at step {step}",
                          flush=True)
                    break
                frac = step / args.steps                     # how far along the run is
                if cfg.time_budget:
                    frac = max(frac, trained / cfg.time_budget)
                opt.lr = lr_at(cfg, frac)
                if stream.at_epoch_start:
                    hx = None                                # a new pass over the text: fresh state
                x, y = stream.next_batch()
                loss, hx = loss_on(x, y, hx)
                value = loss.item()
                if not math.isfinite(value):  # no step can bring it back: stop, save nothing
                    raise SystemExit(f"error: training diverged: the loss is {value} at step "
                                     f"{step + 1} (a lower --lr?)"
                                     + (f"; not saved to {args.save}" if args.save else ""))
                hx = restart_some(detach(hx), rng, cfg.reset)
                opt.zero_grad()
                loss.backward()
                optim.clip_grad_norm_(params, cfg.clip)
                opt.step()
                # the step's graph goes now: held by `loss` until the next step's replaced it,
                # it stayed in memory beside that step's forward (and an evaluation)
                del loss
                step, chars = step + 1, chars + y.size
                smooth = value if smooth is None else 0.98 * smooth + 0.02 * value
                fields_ = {"loss": smooth}
                if cfg.eval_every and step % cfg.eval_every == 0:
                    val_loss = evaluate(model, eval_ids, cfg.eval_batch)
                    print(f"step {step}: train {smooth:.4f}  val {val_loss:.4f} nats/char  "
                          f"({time.perf_counter() - start:.0f} s)", flush=True)
                if args.sample_every and step % args.sample_every == 0:
                    print(f"step {step} sample: {glimpse(model, vocab, prime, args)}", flush=True)
                if val_loss is not None:
                    fields_["val"] = val_loss
                fields_["chars/s"] = int(chars / max(time.perf_counter() - start, 1e-9))
                update(**fields_)
                if args.save and args.every and step % args.every == 0 and step < args.steps:
                    # (not at the last step: the final save follows at once)
                    run.update(step=step, hx=hx, smooth=smooth,
                               seconds=seconds_before + time.perf_counter() - start)
                    save_checkpoint(args.save, model, opt, cfg, vocab, run, final=False)
        seconds = time.perf_counter() - start
        # the last update can diverge too: a probe over a stretch of the text (state carried)
        check_finite(model, step, args.save, train_ids[:256, None])
        run.update(step=step, hx=hx, smooth=smooth, seconds=seconds_before + seconds)
        if args.save and ck is not None and step == int(ck["step"]):
            # nothing trained: saving would only rewrite the checkpoint with this run's flags
            # (another --batch-size reset its place in the text and dropped its state)
            print(f"nothing trained: {args.save} not written")
        elif args.save:
            save_checkpoint(args.save, model, opt, cfg, vocab, run)
            print(f"saved {args.save} (step {step})")
            if stop.asked and step < args.steps:  # the flags a resumed run needs again (the
                # rest the checkpoint keeps); none after the last step: nothing is left to run
                again = ["--resume", args.save, "--save", args.save, "--steps", str(args.steps)]
                again += ["--every", str(args.every)] if args.every else []
                again += ["--data", args.data] if args.data else []
                for flag in ("--temperature", "--prime", "--sample-chars", "--sample-every",
                             "--seed", "--threads"):
                    if parser.given(flag):  # the checkpoint keeps the config, not these
                        again += [flag, str(getattr(args, flag[2:].replace("-", "_")))]
                print(f"to go on: {command(__file__)} " + " ".join(map(shlex.quote, again)))
        elif stop.asked:
            print("nothing saved: give --save PATH to keep a run")
    if stop.signum == signal.SIGTERM:  # asked to end: the run is saved, the results can wait
        print(f"ended by SIGTERM after step {step}", flush=True)
        raise SystemExit(128 + signal.SIGTERM)

    # results
    t0 = time.perf_counter()
    val_loss = evaluate(model, eval_ids, cfg.eval_batch, bar="evaluating (val)")
    train_loss = evaluate(model, train_eval_ids, cfg.eval_batch, bar="evaluating (train)")
    eval_s = time.perf_counter() - t0
    speed = chars / seconds if chars else 0.0
    text_out = sample(model, vocab, prime, args.sample_chars, args.temperature,
                      np.random.default_rng(args.seed))
    this_run = (f"{seconds:.1f} s of training this run, {speed:,.0f} chars/s" if chars
                else "no training this run")
    print(f"after {step} steps ({this_run}): train {train_loss:.4f}  val {val_loss:.4f} nats/char  "
          f"(uniform {math.log(len(vocab)):.3f}; evaluated on {len(eval_ids):,} characters "
          f"in {eval_s:.1f} s)")
    if args.sample_chars and text_out is None:
        print("--- no sample: the model's logits are not finite (it has diverged: a lower "
              "--lr?) ---")
    elif args.sample_chars:
        print(f"--- sample (temperature {args.temperature:g}) ---\n{text_out}\n---")

    # one more training step on a tiny slice (T=4, B=1), to draw or to step through
    if args.graph or args.step:
        x, y = train_ids[:4, None], train_ids[1:5, None]
        graph_and_steps(args, lambda: loss_on(x, y, None)[0], model,
                        title=f"charlm · {cfg.cell.upper()} · one step on a slice T=4, B=1")
    return Result(step, train_loss, val_loss, speed, seconds, text_out, model, vocab, cfg, text)


if __name__ == "__main__":
    run_demo(main)  # a second Ctrl-C: "interrupted", status 130
