"""Demonstrates what single hidden units of a character LSTM track, coloured over the text.

Karpathy, Johnson & Fei-Fei (2015), "Visualizing and understanding recurrent networks": after
training a char-LM, colour each character of a text by one cell's activation, red for positive
and blue for negative, and some cells turn out to follow something you can see: whether we are
inside quotes, how far along the line we are, the start of a line.

Here the units are picked automatically. The demo trains a small LSTM briefly with charlm.py (or
loads a charlm checkpoint with --resume), runs it over a stretch of the validation text, records
every unit's c, tanh(c) and h at every character, and correlates each with a few visible
features of the text. For each feature it reports the best unit (Pearson r) and, as a control,
the best r that an untrained network of the same shape reaches: a high r that an untrained
network reaches too is the input showing through, not something learned.

    python demos/activations.py                                  # ~30 s of training, then look
    python demos/activations.py --resume out/charlm.npz --svg out/activations.svg
    python demos/activations.py --data my_code.py --steps 1000   # text with quotes, parentheses
"""

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tinygrad_lstm import checkpoint, no_grad
from tinygrad_lstm.cli import demo_parser, graph_clash, isatty, positive, run_demo, writable
from tinygrad_lstm.data import split_train_val


def load_charlm():
    """demos/charlm.py as a module (demos/ is a folder of scripts, not a package)."""
    if "charlm" in sys.modules and hasattr(sys.modules["charlm"], "CharLM"):
        return sys.modules["charlm"]
    spec = importlib.util.spec_from_file_location("charlm", Path(__file__).with_name("charlm.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["charlm"] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------- data: features
def features(text):
    """Visible properties of the text, one value per character (after reading that character):

    inside quotes       1 between an opening and a closing '"' (the quotes included)
    inside parentheses  1 while '(' is open, nesting counted
    position in line    characters since the last newline
    start of line       1 on the first character of each line
    speaker's name      1 on a line like "ROMEO:" (capitals ending in ':'), Shakespeare's cue
    """
    n = len(text)
    quote, paren = np.zeros(n), np.zeros(n)
    pos, start, speaker = np.zeros(n), np.zeros(n), np.zeros(n)
    inside, depth, column = False, 0, 0
    for t, ch in enumerate(text):
        if ch == '"':
            inside = not inside
            quote[t] = 1.0
        else:
            quote[t] = float(inside)
        depth = depth + 1 if ch == "(" else max(depth - 1, 0) if ch == ")" else depth
        paren[t] = float(depth > 0 or ch == ")")
        start[t] = float(column == 0 and ch != "\n")
        pos[t] = column
        column = 0 if ch == "\n" else column + 1
    t = 0
    for line in text.split("\n"):
        name = line.rstrip()
        if name.endswith(":") and any(c.isalpha() for c in name) and name == name.upper():
            speaker[t:t + len(line)] = 1.0
        t += len(line) + 1
    return {"inside quotes": quote, "inside parentheses": paren, "position in line": pos,
            "start of line": start, "speaker's name": speaker}


# ---------------------------------------------------------------------------- model: activations
def unit_activations(model, ids):
    """{(layer, kind): (N, H) array} for kind c, tanh(c) (LSTM) and h, after each character."""
    model.eval()
    try:
        with no_grad():
            _, _, states = model(ids[:, None], return_states=True)   # B = 1
    finally:
        model.train()
    out = {}
    for layer in range(model.rnn.num_layers):
        if "c" in states.names:
            c = states.numpy("c", layer=layer)[:, 0].astype(np.float64)  # (N, H)
            out[(layer, "c")], out[(layer, "tanh(c)")] = c, np.tanh(c)
        out[(layer, "h")] = states.numpy("h", layer=layer)[:, 0].astype(np.float64)
    return out


def correlations(acts, feature):
    """Pearson r of every column of acts (N, H) with feature (N,); 0 where either is constant."""
    a = acts - acts.mean(axis=0)
    f = feature - feature.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (f * f).sum())
    r = (a * f[:, None]).sum(axis=0) / np.where(denom > 0, denom, 1.0)
    return np.clip(np.where(denom > 0, r, 0.0), -1.0, 1.0)


def best_unit(acts, feature):
    """(layer, kind, unit, r) with the largest |r| over every recorded unit."""
    best = None
    for (layer, kind), a in acts.items():
        r = correlations(a, feature)
        j = int(np.abs(r).argmax())
        if best is None or abs(r[j]) > abs(best[3]):
            best = (layer, kind, j, float(r[j]))
    return best


# ---------------------------------------------------------------------------- results: colour
def colour(v):
    """v in [-1, 1] -> (text, background): white at 0, red towards +1, blue towards -1, with
    black text, or white where the background is too dark for it (deep blue)."""
    v = float(np.clip(v, -1.0, 1.0))
    fade = int(round(255 * (1 - abs(v))))
    rgb = (255, fade, fade) if v >= 0 else (fade, fade, 255)
    dark = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 110  # perceived brightness
    # "#000000", not "black": an SVG theme maps the named colour to its own
    return "#ffffff" if dark else "#000000", "rgb({},{},{})".format(*rgb)


def coloured_lines(text, values, first_line, num_lines):
    """num_lines lines of text from first_line on, each character on its unit's colour;
    newlines drawn as ↵."""
    lines = text.split("\n")
    offset = sum(len(line) + 1 for line in lines[:first_line])
    out = Text()
    for line in lines[first_line:first_line + num_lines]:
        for k, ch in enumerate(line + "\n"):
            if offset + k >= len(values):
                break
            fg, bg = colour(values[offset + k])
            out.append("↵" if ch == "\n" else ch, style=f"{fg} on {bg}")
        out.append("\n")
        offset += len(line) + 1
    return out


def window(text, feature, num_lines):
    """The first line of a num_lines window where the feature varies (starts just before it
    first turns on, or at line 1 for a feature that varies on every line)."""
    on = np.flatnonzero(feature > feature.min())
    if on.size == 0:
        return 0
    line = text.count("\n", 0, int(on[0]))
    return max(0, min(line - 1, text.count("\n") - num_lines))


@dataclass
class Finding:
    feature: str
    layer: int
    kind: str             # c, tanh(c) or h
    unit: int
    r: float              # Pearson r over the sample, in [-1, 1]
    untrained_r: float    # the best |r| an untrained network of the same shape reaches
    verdict: str


@dataclass
class Report:
    findings: list        # one Finding per feature present in the sample
    picked: list          # the findings shown as coloured text
    absent: list = field(default_factory=list)   # features the sample does not contain
    val_loss: float = float("nan")


def verdict(r, control, threshold):
    if abs(r) < threshold:
        return "no unit tracks it well"
    if abs(r) - abs(control) < 0.1:
        return "an untrained unit does too: the input showing"
    return "tracks it"


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/activations_graph.svg", steps_default=300,
                         min_steps=0)
    parser.add_argument("--resume", metavar="PATH",
                        help="use a charlm checkpoint (demos/charlm.py --save) instead of training")
    parser.add_argument("--data", default=None, metavar="FILE",
                        help="UTF-8 text (default: the shipped tinyshakespeare)")
    parser.add_argument("--hidden", type=int, default=128, help="LSTM units (when training)")
    parser.add_argument("--chars", type=int, default=4000,
                        help="characters of validation text to run the model over")
    parser.add_argument("--state", choices=["any", "c", "tanh(c)", "h"], default="any",
                        help="which activation to search and colour")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="|r| a unit needs to count as tracking a feature")
    parser.add_argument("--lines", type=int, default=6, help="coloured lines shown per unit")
    parser.add_argument("--svg", metavar="OUT", help="also save the coloured view as an SVG")
    args = parser.parse_args(argv)
    positive("--hidden", args.hidden)
    positive("--chars", args.chars)
    positive("--lines", args.lines)
    if not 0 <= args.threshold <= 1:  # NaN too, which would let every unit count as tracking
        raise SystemExit(f"error: --threshold is an |r|, so in [0, 1]; got {args.threshold}")
    if args.svg:
        if Path(args.svg).suffix.lower() != ".svg":  # rich writes SVG only: x.pdf was an SVG
            raise SystemExit(f"error: --svg {args.svg}: the file must end in .svg (rich saves "
                             "the view as SVG only)")
        writable(args.svg, "--svg")
        graph_clash(args.graph, args.svg, "--svg")
        for flag, value in (("--data", args.data), ("--resume", args.resume)):
            try:
                same = value and Path(value).resolve() == Path(args.svg).resolve()
            except (OSError, RuntimeError):  # a symlink loop: the read will say so
                same = False
            if same:
                raise SystemExit(f"error: --svg {args.svg} is the run's {flag}; give the "
                                 "view another path")
    for flag, value in (("--data", args.data), ("--resume", args.resume)):  # read, not written
        graph_clash(args.graph, value, flag)
    charlm = load_charlm()

    # model: train a small LSTM char-LM with charlm's loop, or load one
    cl_argv = ["--sample-chars", "0", "--eval-every", "0", "--eval-chars", "20000"]
    if args.data:
        cl_argv += ["--data", args.data]
    if args.resume:
        cl_argv += ["--resume", args.resume, "--steps", "0"]
        # (--seed still seeds the untrained control)
        unused = [f for f in ("--steps", "--hidden") if parser.given(f)]
        if unused:  # they were ignored without a word
            print(f"note: {', '.join(unused)} not used with --resume: the checkpoint's model "
                  "is read as it was trained")
    else:
        # T is charlm's default, 64, which charlm shortens (with a note) for a short text;
        # given here, a short --data was refused naming a --seq-len this demo does not have
        cl_argv += ["--steps", str(args.steps), "--seed", str(args.seed), "--cell", "lstm",
                    "--hidden", str(args.hidden), "--batch-size", "32", "--lr", "0.01",
                    "--dropout", "0"]
    if args.threads is not None:  # else charlm's own parse set one thread again
        cl_argv += ["--threads", str(args.threads)]
    if args.graph:
        cl_argv += ["--graph", args.graph]
    if args.step:
        cl_argv += ["--step"] + (["--no-pause"] if args.no_pause else []) \
            + (["--auto", str(args.auto)] if args.auto is not None else [])
    run = charlm.main(cl_argv)
    model, vocab, cfg = run.model, run.vocab, run.config

    # data: a stretch of the validation text, and what is visible in it
    text = run.text  # charlm's: --data <(pipe) reads only once
    val = split_train_val(text)[1]
    sample = val[val.find("\n") + 1:][:args.chars]        # from the start of a line
    feats = features(sample)
    ids = vocab.encode(sample)

    # activations of the trained network and of an untrained one of the same shape
    acts = unit_activations(model, ids)
    if args.state != "any":
        if not any(kind == args.state for _, kind in acts):
            raise SystemExit(f"error: --state {args.state}: a {cfg.cell.upper()} has no cell "
                             "state c; use --state h")
        acts = {k: a for k, a in acts.items() if k[1] == args.state}
    untrained = charlm.CharLM(len(vocab), cfg, np.random.default_rng(args.seed + 1))
    control = {k: a for k, a in unit_activations(untrained, ids).items() if k in acts}

    # results: the best unit per feature, coloured text for those that track something
    # a file or a pipe gets 100 columns, unless COLUMNS says otherwise (rich's 80 cut the table)
    console = Console(record=True, width=None if isatty(sys.stdout) or os.environ.get("COLUMNS")
                      else 100)
    colourless = console.color_system is None or console.no_color  # a file, a pipe, NO_COLOR
    findings, absent = [], []
    for name, f in feats.items():
        if f.std() == 0 or (f.max() == 1 and f.sum() < 2):
            absent.append(name)
            continue
        layer, kind, unit, r = best_unit(acts, f)
        control_r = best_unit(control, f)[3]
        findings.append(Finding(name, layer, kind, unit, r, control_r,
                                verdict(r, control_r, args.threshold)))

    model_name = f"{cfg.layers} x {cfg.cell.upper()}({cfg.hidden})"
    table = Table(title=f"best unit per feature over {len(sample):,} validation characters "
                        f"({model_name}, val ≈ {run.val_loss:.3f} nats/char)")
    for col in ("feature", "unit", "r", "untrained best r", "verdict"):
        table.add_column(col, justify="right" if col in ("r", "untrained best r") else "left")
    for fd in findings:
        table.add_row(fd.feature, f"layer {fd.layer} {fd.kind}[{fd.unit}]", f"{fd.r:+.3f}",
                      f"{fd.untrained_r:+.3f}", fd.verdict)
    console.print(table)
    console.print("r: the correlation (Pearson) over the characters between the unit's value "
                  "and the feature (0: unrelated, ±1: one is a straight line of the other)",
                  style="dim", highlight=False)
    if absent:
        console.print(f"not in this sample, so not searched: {', '.join(absent)}")

    picked = [fd for fd in findings if fd.verdict == "tracks it"]
    if not picked:
        best = max(findings, key=lambda fd: abs(fd.r) - abs(fd.untrained_r), default=None)
        console.print(f"[bold]No unit tracks any of these features well[/bold] beyond what an "
                      f"untrained network shows (|r| >= {args.threshold} and 0.1 above the "
                      "control). Train longer (--steps) or load a longer-trained checkpoint "
                      "(--resume).")
        picked = [best] if best is not None else []
        if best is not None:
            console.print(f"Showing the closest anyway: {best.feature}, r = {best.r:+.3f} "
                          f"(untrained {best.untrained_r:+.3f}).")
    for fd in picked:
        values = acts[(fd.layer, fd.kind)][:, fd.unit]
        if fd.kind == "c":
            values = values / max(np.abs(values).max(), 1e-9)   # c is unbounded: scale to [-1, 1]
        sign = "" if fd.r > 0 else " (negatively: blue where the feature is on or high)"
        how = "tracks" if fd.verdict == "tracks it" else "follows, weakly,"
        console.print(f"\n[bold]layer {fd.layer} {fd.kind}[{fd.unit}][/bold] {how} "
                      f"[bold]{fd.feature}[/bold]{sign}: r = {fd.r:+.3f}, untrained best "
                      f"{fd.untrained_r:+.3f}  (red +, blue -)", highlight=False)
        if colourless:  # the values would be nowhere in the output (but in the SVG: kept
            # out of the recording it is made from, where the note said they were elsewhere)
            record, console.record = console.record, False
            try:
                console.print("(no colours in this output: "
                              + (f"they are in {args.svg})" if args.svg else
                                 "--svg OUT saves them, or run this in a colour terminal)"),
                              style="dim", highlight=False)
            finally:
                console.record = record
        console.print(coloured_lines(sample, values, window(sample, feats[fd.feature],
                                                            args.lines), args.lines))
    if args.svg:
        svg = console.export_svg(title="tinygrad_lstm: hidden units over text").encode()
        try:  # beside the file and renamed over it: a full disk leaves the last view whole
            checkpoint.write_atomically(args.svg, lambda f: f.write(svg), "--svg")
        except OSError as e:
            raise SystemExit(f"error: --svg {args.svg}: could not write it "
                             f"({e.strerror or e})") from None
        print(f"wrote {args.svg}")
    return Report(findings, picked, absent, run.val_loss)


if __name__ == "__main__":
    run_demo(main)
