"""Corpora and synthetic tasks, built in memory as numpy arrays (the demos wrap them in Tensors).

Pure numpy: this module imports nothing else from the package and downloads nothing. Sequence
arrays are time-major, ``(T, B, ...)``, as ``nn.LSTM(batch_first=False)`` expects.

Every random function takes ``rng`` explicitly: a ``np.random.Generator`` (pass the same one on
every call to get fresh data each time) or an int seed (a new generator per call, so the same
int gives the same data every time). Bad arguments raise ValueError naming the function and the
offending value or shape, before any state (a generator, a stream position) has changed.
"""
from importlib.resources import files
from os import PathLike
from pathlib import Path

import numpy as np

__all__ = ["load_text", "CharVocab", "split_train_val", "char_batches", "CharStream", "one_hot",
           "hello_example", "noisy_sine", "trending_random_walk", "make_windows", "normalize",
           "denormalize", "adding_problem", "copy_task"]


# ---------------------------------------------------------------------------- argument checks
def _rng(fn, rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"{fn}: rng must be a np.random.Generator or an int seed >= 0, got {rng!r}")


def _pos_int(fn, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{fn}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _real(fn, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"{fn}: {name} must be a finite real number, got {value!r}")
    return float(value)


def _not_a_tensor(fn, what, x):
    """Refuse a tinygrad_lstm Tensor or Parameter (or torch's): numpy made an object array of
    it, one Tensor per element, and the error said "got shape (2,) object". By the class
    names, since this module imports nothing of the package's."""
    if any(c.__name__ == "Tensor" for c in type(x).__mro__):
        raise ValueError(f"{fn}: {what} is a {type(x).__name__}; pass a numpy array "
                         "(t.numpy(), or t.detach().numpy() if it requires grad)")


def _ids(fn, ids):
    if isinstance(ids, str):
        raise ValueError(f"{fn}: ids must be a 1-D integer array, got a str (encode it first: "
                         f"CharVocab(text).encode(text))")
    _not_a_tensor(fn, "ids", ids)
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{fn}: ids must be a 1-D integer array, got shape {ids.shape} {ids.dtype}")
    if ids.dtype.kind == "u" and ids.size and ids.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{fn}: id {int(ids.max())} does not fit int64")  # it became -1
    return ids.astype(np.int64, copy=False)


# ---------------------------------------------------------------------------- text
def load_text(path=None):
    """The text of ``path`` (UTF-8), or of the shipped tinyshakespeare corpus when ``path`` is None
    (1,115,394 characters, 65 distinct), read through ``importlib.resources`` so it is found in a
    checkout and in an installed package alike. As Python's text files read it: a leading
    byte-order mark is dropped and Windows (\r\n) and old Mac (\r) line ends become \n, so
    that they do not enter a model's vocabulary. ``path`` may be a pipe (``<(zcat x.gz)``).
    Raises FileNotFoundError for a missing file or a directory, the OSError of its errno
    (PermissionError, ...) for one that cannot be read, and ValueError for an empty or
    non-UTF-8 one."""
    if path is None:
        # __package__ is "tinygrad_lstm" on a normal import (already imported by then, so this
        # imports nothing); fall back to this file's folder if the module was loaded by path.
        root = files(__package__) if __package__ else Path(__file__).resolve().parent
        return (root / "corpora" / "tinyshakespeare.txt").read_bytes().decode("utf-8")
    if not isinstance(path, (str, PathLike)):
        raise ValueError(f"load_text: path must be a str or os.PathLike, got {path!r:.60}")
    if str(path) == "":  # Path("") is ".": "is a directory, not a file: '.'"
        raise FileNotFoundError("load_text: the path is empty")
    p = Path(path)
    try:
        if p.is_dir():
            raise FileNotFoundError(f"load_text: is a directory, not a file: {str(p)!r}")
        raw = p.read_bytes()  # a pipe is not a regular file, but it reads
    except (FileNotFoundError, NotADirectoryError) as e:  # ("a_file.txt/x": no such file)
        if str(e).startswith("load_text"):
            raise
        raise FileNotFoundError(f"load_text: no such file: {str(p)!r}") from None
    except OSError as e:  # a name too long, a symlink loop, no permission: one line, of the
        # same class (PermissionError, ...) and errno, without numpy's "[Errno 13]" in front
        shown = str(p) if len(str(p)) <= 80 else str(p)[:79] + "…"
        err = type(e)(f"load_text: cannot read {shown!r}: {e.strerror or e}")
        err.errno = e.errno
        raise err from None
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as e:  # the offset in the file, the BOM counted
        raise ValueError(f"load_text: {str(p)!r} is not UTF-8 text (byte {e.start + bom}: "
                         f"{e.reason})") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise ValueError(f"load_text: {str(p)!r} is empty")
    return text


class CharVocab:
    """Character vocabulary of ``text``: its unique characters, sorted by code point.

    ``itos[i]`` is the i-th character, ``stoi[c]`` its index; ``encode(str) -> (N,) int64``,
    ``decode(ids) -> str``; ``len(vocab)`` is the vocabulary size V.
    """

    def __init__(self, text):
        if not isinstance(text, str) or not text:
            raise ValueError(f"CharVocab: needs a non-empty str, got {text!r:.40}")
        self.itos = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self._codes = np.array([ord(c) for c in self.itos], dtype=np.uint32)  # sorted

    def __len__(self):
        return len(self.itos)

    def __repr__(self):
        return f"CharVocab({len(self)} chars: {''.join(self.itos)!r:.60})"

    def encode(self, text):
        """(N,) int64 indices of the N characters of ``text``."""
        if not isinstance(text, str):
            raise ValueError(f"CharVocab.encode: needs a str, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = np.searchsorted(self._codes, codes).clip(0, len(self) - 1)
        bad = np.flatnonzero(self._codes[ids] != codes)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"CharVocab.encode: character {text[i]!r} (U+{ord(text[i]):04X}) at "
                             f"position {i} is not in the vocabulary of {len(self)} characters")
        return ids.astype(np.int64)

    def decode(self, ids):
        """The string spelled by a scalar or 1-D sequence of indices."""
        _not_a_tensor("CharVocab.decode", "ids", ids)
        ids = np.asarray(ids)
        if ids.size == 0 and ids.ndim <= 1:
            return ""
        if ids.ndim > 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"CharVocab.decode: needs a scalar or 1-D integer array, got shape "
                             f"{ids.shape} {ids.dtype} (decode one stream, e.g. x[:, b])")
        ids = ids.reshape(-1)
        bad = ids[(ids < 0) | (ids >= len(self))]  # checked before the cast, so no wrap-around
        if bad.size:
            raise ValueError(f"CharVocab.decode: id {int(bad[0])} is out of range [0, {len(self)})")
        return self._codes[ids.astype(np.int64)].tobytes().decode("utf-32-le", "surrogatepass")


def split_train_val(ids, val_fraction=0.1):
    """(train, val): the first ``1 - val_fraction`` of ``ids`` and the last ``val_fraction``
    (nanoGPT's split: ``n = int(len * (1 - val_fraction))``). Works on arrays and strings."""
    if not 0.0 < _real("split_train_val", "val_fraction", val_fraction) < 1.0:
        raise ValueError(f"split_train_val: val_fraction must be in (0, 1), got {val_fraction!r}")
    _not_a_tensor("split_train_val", "ids", ids)
    if isinstance(ids, (dict, set)) or not hasattr(ids, "__len__") \
            or not hasattr(ids, "__getitem__") \
            or isinstance(ids, (np.ndarray, np.generic)) and np.ndim(ids) == 0:
        raise ValueError(f"split_train_val: ids must be a sequence (array, list or str), "
                         f"got {type(ids).__name__}")
    n = int(len(ids) * (1.0 - val_fraction))
    if n == 0 or n == len(ids):
        raise ValueError(f"split_train_val: {len(ids)} items are too few to split with "
                         f"val_fraction={val_fraction}")
    return ids[:n], ids[n:]


def char_batches(ids, batch_size, seq_len, rng):
    """A random batch of windows: x, y int64 (T=seq_len, B=batch_size), ``y[t] = ids[s + t + 1]``
    where ``x[t] = ids[s + t]`` and each column has its own uniformly drawn start s."""
    ids = _ids("char_batches", ids)
    B = _pos_int("char_batches", "batch_size", batch_size)
    T = _pos_int("char_batches", "seq_len", seq_len)
    if len(ids) < T + 1:
        raise ValueError(f"char_batches: seq_len={T} needs at least {T + 1} characters, got {len(ids)}")
    starts = _rng("char_batches", rng).integers(0, len(ids) - T, size=B)
    idx = starts[None, :] + np.arange(T)[:, None]  # (T, B)
    return ids[idx], ids[idx + 1]


class CharStream:
    """Contiguous chunks for truncated BPTT with a hidden state carried across chunks.

    ``ids`` is cut into ``batch_size`` equal streams (column b holds ``ids[b*L:(b+1)*L]``,
    ``L = len(ids) // batch_size``; the remainder is dropped). Chunk k is x, y int64 (T, B) with
    ``x = streams[k*seq_len : k*seq_len + T]`` and y shifted by one, so chunk k+1 continues every
    stream exactly where chunk k stopped. The last chunk is shorter unless ``drop_last``.

    ``for x, y in stream`` runs one epoch from the start; ``len(stream)`` is its number of chunks.
    For step-based loops, ``next_batch()`` continues from the current position and wraps around
    (check ``at_epoch_start`` before it to reset the hidden state); ``reset()`` rewinds it.
    """

    def __init__(self, ids, batch_size, seq_len, drop_last=False):
        if not (isinstance(drop_last, (bool, np.bool_)) or drop_last in (0, 1)) \
                or isinstance(drop_last, str):  # "no" counted as true
            raise ValueError(f"CharStream: drop_last must be True or False, got {drop_last!r}")
        ids = _ids("CharStream", ids)
        self.batch_size = B = _pos_int("CharStream", "batch_size", batch_size)
        self.seq_len = T = _pos_int("CharStream", "seq_len", seq_len)
        self.stream_len = L = len(ids) // B
        need = T + 1 if drop_last else 2
        if L < need:
            raise ValueError(f"CharStream: batch_size={B} leaves {L} characters per stream from "
                             f"{len(ids)}; need at least {need} (seq_len={T}, drop_last={drop_last})")
        self.streams = np.array(ids[:L * B].reshape(B, L).T, order="C")  # (L, B), a copy
        self.num_chunks = (L - 1) // T if drop_last else -(-(L - 1) // T)
        self.position, self.epoch = 0, 0

    def __len__(self):
        return self.num_chunks

    def chunk(self, k):
        """Chunk k of the epoch: x, y int64 (T, B), T = seq_len (less for a short last chunk)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.num_chunks:
            raise ValueError(f"CharStream.chunk: k={k!r} is not an index in [0, {self.num_chunks})")
        i = k * self.seq_len
        n = min(self.seq_len, self.stream_len - 1 - i)
        return self.streams[i:i + n].copy(), self.streams[i + 1:i + 1 + n].copy()

    def __iter__(self):
        return (self.chunk(k) for k in range(self.num_chunks))

    @property
    def at_epoch_start(self):
        return self.position == 0

    def next_batch(self):
        """The chunk at the current position; advances it, wrapping to 0 (epoch += 1) at the end."""
        x, y = self.chunk(self.position)
        self.position += 1
        if self.position == self.num_chunks:
            self.position, self.epoch = 0, self.epoch + 1
        return x, y

    def reset(self):
        """Rewind ``next_batch`` to the first chunk."""
        self.position = 0


def one_hot(ids, num_classes, dtype=np.float32):
    """One-hot encoding of an integer array of any shape (...) -> (..., num_classes)."""
    _not_a_tensor("one_hot", "ids", ids)
    ids = np.asarray(ids)
    V = _pos_int("one_hot", "num_classes", num_classes)
    if ids.size == 0:
        ids = ids.astype(np.int64)  # an empty list arrives as float64
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"one_hot: ids must be integers, got dtype {ids.dtype}")
    bad = ids[(ids < 0) | (ids >= V)]
    if bad.size:
        raise ValueError(f"one_hot: id {int(bad[0])} is out of range [0, {V})")
    return np.eye(V, dtype=dtype)[ids]


def hello_example():
    """Karpathy's "hello" toy: vocabulary of "helo" (sorted: e, h, l, o), input "hell", target "ello".
    Returns x, y int64 (T=4, B=1) and the CharVocab."""
    vocab = CharVocab("helo")
    return vocab.encode("hell")[:, None], vocab.encode("ello")[:, None], vocab


# ---------------------------------------------------------------------------- time series
def noisy_sine(n, period=50.0, noise=0.1, rng=None):
    """(n,) float64: ``sin(2 pi t / period) + noise * N(0, 1)`` for t = 0 .. n-1.
    ``rng`` is required unless ``noise == 0`` (a clean sine)."""
    n = _pos_int("noisy_sine", "n", n)
    if not _real("noisy_sine", "period", period) > 0:
        raise ValueError(f"noisy_sine: period must be > 0, got {period!r}")
    if not _real("noisy_sine", "noise", noise) >= 0:
        raise ValueError(f"noisy_sine: noise must be >= 0, got {noise!r}")
    r = _rng("noisy_sine", rng) if (noise or rng is not None) else None
    wave = np.sin(2 * np.pi * np.arange(n) / period)
    return wave + noise * r.standard_normal(n) if r is not None else wave


def trending_random_walk(n, drift=0.05, rng=None, scale=1.0):
    """(n,) float64 random walk with a trend: ``cumsum(drift + scale * N(0, 1))``.
    ``rng`` is required unless ``scale == 0`` (a straight line)."""
    n = _pos_int("trending_random_walk", "n", n)
    drift = _real("trending_random_walk", "drift", drift)
    if not _real("trending_random_walk", "scale", scale) >= 0:
        raise ValueError(f"trending_random_walk: scale must be >= 0, got {scale!r}")
    r = _rng("trending_random_walk", rng) if (scale or rng is not None) else None
    steps = drift + scale * r.standard_normal(n) if r is not None else np.full(n, drift)
    return np.cumsum(steps)


def make_windows(series, seq_len, dtype=np.float32):
    """Sliding windows for next-value prediction over a 1-D series of length n.
    Returns x (T=seq_len, N, 1) and y (N, 1), N = n - seq_len: ``x[:, i, 0] = series[i:i+T]``,
    ``y[i, 0] = series[i+T]``."""
    _not_a_tensor("make_windows", "series", series)
    series = np.asarray(series)
    T = _pos_int("make_windows", "seq_len", seq_len)
    if series.ndim != 1 or series.dtype.kind not in "iuf":  # not bool, not complex
        raise ValueError(f"make_windows: series must be a 1-D real array, got shape "
                         f"{series.shape} {series.dtype}")
    if len(series) < T + 1:
        raise ValueError(f"make_windows: seq_len={T} needs a series of at least {T + 1} values, "
                         f"got {len(series)}")
    x = np.lib.stride_tricks.sliding_window_view(series[:-1], T).T  # (T, N), a strided view
    # np.array copies: ascontiguousarray would hand back a view of `series` when T or N is 1
    return np.array(x[:, :, None], dtype=dtype), series[T:, None].astype(dtype)


def normalize(series, mean=None, std=None):
    """(normalized, mean, std): ``(series - mean) / std``, zero mean and unit variance (LeCun's
    Efficient BackProp). Pass the training set's mean and std to normalise validation data
    the same way; ``denormalize`` inverts it."""
    _not_a_tensor("normalize", "series", series)
    series = np.asarray(series)
    if series.size == 0 or series.dtype.kind not in "iuf":  # not bool, not complex
        raise ValueError(f"normalize: series must be a non-empty real array, got shape "
                         f"{series.shape} {series.dtype}")
    # the statistics in float64; the result keeps a float series' dtype (no silent upcasting
    # of float32), and integers become float64
    out_dtype = series.dtype if series.dtype.kind == "f" else np.float64
    series = series.astype(np.float64)
    if not np.isfinite(series).all():
        raise ValueError(f"normalize: series has a non-finite value at index "
                         f"{np.argwhere(~np.isfinite(series))[0].tolist()}")
    if (mean is None) != (std is None):  # one of the training set's statistics and one of
        # this series' own would normalise validation data by its own spread, silently
        raise ValueError("normalize: give both mean and std (the training set's), or neither")
    mean = float(series.mean()) if mean is None else _real("normalize", "mean", mean)
    if std is None:
        with np.errstate(over="ignore"):  # an overflowing spread is refused just below
            std = float(series.std())
    else:
        std = _real("normalize", "std", std)
    if not 0 < std < np.inf:  # inf: values near ±1e308, whose spread overflows
        raise ValueError(f"normalize: std must be finite and > 0, got {std} (is the series "
                         "constant, or beyond ±1e154?)")
    return ((series - mean) / std).astype(out_dtype, copy=False), mean, std


def denormalize(normalized, mean, std):
    """Inverse of ``normalize``: ``normalized * std + mean``."""
    mean, std = _real("denormalize", "mean", mean), _real("denormalize", "std", std)
    if not std > 0:
        raise ValueError(f"denormalize: std must be > 0, got {std}")
    return np.asarray(normalized) * std + mean


# ---------------------------------------------------------------------------- long-term dependencies
def adding_problem(T, batch_size, rng):
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015 form).

    x (T, B, 2) float32: channel 0 uniform values in [0, 1], channel 1 a marker with exactly two
    1s per sequence, one in the first half (t < T // 2) and one in the second; y (B, 1) float32
    is the sum of the two marked values. Always predicting 1 scores MSE = Var(y) = 1/6 ~ 0.167.
    """
    T = _pos_int("adding_problem", "T", T, minimum=2)
    B = _pos_int("adding_problem", "batch_size", batch_size)
    r = _rng("adding_problem", rng)
    values = r.random((T, B)).astype(np.float32)
    first = r.integers(0, T // 2, size=B)
    second = r.integers(T // 2, T, size=B)
    marker = np.zeros((T, B), dtype=np.float32)
    cols = np.arange(B)
    marker[first, cols] = marker[second, cols] = 1.0
    y = values[first, cols] + values[second, cols]  # float32, exactly the sum of the inputs
    return np.stack([values, marker], axis=-1), y[:, None]


def copy_task(T_delay, batch_size, num_symbols=8, rng=None, copy_length=10):
    """The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016 form).

    Ids: 0 blank, 1..num_symbols data symbols, num_symbols + 1 the delimiter (vocabulary size
    num_symbols + 2). With K = copy_length, each sequence has length T = T_delay + 2K:
    x = K random symbols, T_delay - 1 blanks, the delimiter, K blanks;
    y = T_delay + K blanks, then the K symbols. Returns x, y int64 (T, B).
    The memoryless baseline (blanks, then uniform guesses) has cross-entropy
    K * log(num_symbols) / T per step. ``rng`` (a np.random.Generator or an int seed) is
    required, as in the other tasks; its default None only keeps the parameters' order.
    """
    D = _pos_int("copy_task", "T_delay", T_delay)
    B = _pos_int("copy_task", "batch_size", batch_size)
    S = _pos_int("copy_task", "num_symbols", num_symbols)
    K = _pos_int("copy_task", "copy_length", copy_length)
    r = _rng("copy_task", rng)
    symbols = r.integers(1, S + 1, size=(K, B))
    x = np.zeros((D + 2 * K, B), dtype=np.int64)
    y = np.zeros((D + 2 * K, B), dtype=np.int64)
    x[:K] = symbols
    x[K + D - 1] = S + 1
    y[D + K:] = symbols
    return x, y
