"""Atomic, pickle-free checkpoints of nested dicts (state_dicts, metadata) in one .npz file.

Each array is one member of the .npz, named by its key path joined with "/"; the member
``__manifest__`` is a 0-d unicode array holding JSON that records the structure (dicts, lists,
tuples, str/int key types, scalar metadata), so ``load(save(x)) == x`` with dtypes kept.
The path is used exactly as given (no ".npz" is appended). Torch helpers import torch lazily.
"""

import errno
import json
import math
import os
import tempfile
import warnings
import zipfile

import numpy as np

__all__ = ["save", "load", "save_model", "load_model", "to_torch_state_dict",
           "from_torch_state_dict"]

FORMAT, VERSION = "tinygrad_lstm.checkpoint", 1
MANIFEST = "__manifest__"  # reserved member name; array members never take it
TMP_STEM_BYTES = 200  # of the file's name, in the temporary file's (save)
STALE_SECONDS = 600  # a temporary file this old is a killed save's (_remove_stale)
SEP = "/"  # joins key paths into member names; the manifest, not the name, carries the structure


class _Corrupt(Exception):
    """A reason why a file is not a readable checkpoint (turned into ValueError by load)."""


def _encode(obj, where, arrays, inside=()):
    """The manifest node for obj; arrays met on the way are added to arrays {member name: array}.
    `inside`: the ids of the containers obj is in (a container inside itself is refused)."""
    at = where or "<root>"
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in inside:
            raise ValueError(f"checkpoint.save: the value at {at} contains itself")
        inside += (id(obj),)
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if isinstance(k, np.integer):
                k = int(k)
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint.save: key {k!r} at {at} is a {type(k).__name__}; "
                                "keys must be str or int")
            child = _encode(v, f"{where}{SEP}{k}" if where else str(k), arrays, inside)
            items.append(["s" if isinstance(k, str) else "i", k, child])
        return {"t": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {"t": kind, "items": [_encode(v, f"{where}{SEP}{i}", arrays, inside)
                                     for i, v in enumerate(obj)]}
    scalar = isinstance(obj, np.generic)
    if not isinstance(obj, np.ndarray) and not scalar and isinstance(getattr(obj, "data", None), np.ndarray):
        obj = obj.data  # a Tensor/Parameter: its array is stored (and loads back as an np.ndarray)
    if isinstance(obj, np.ndarray) or scalar:
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            raise TypeError(f"checkpoint.save: array at {at} has dtype object, "
                            "which cannot be saved without pickle")
        # the member is named after the keys (np.load(path)["model/w"]) where a zip name can
        # be: printable (no NUL, no lone surrogate) and short; the manifest maps it back
        base = where if where and len(where) <= 200 and where.isprintable() else "_"
        name, n = base, 0
        while name in arrays or name == MANIFEST:  # e.g. keys 1 and "1" in one dict
            name, n = f"{base}~{n}", n + 1
        arrays[name] = arr
        return {"t": "array", "name": name, "scalar": scalar}
    if obj is None or isinstance(obj, (bool, int, str)):
        return {"t": "v", "v": obj}
    if isinstance(obj, float):
        return {"t": "v", "v": obj} if math.isfinite(obj) else {"t": "float", "v": repr(obj)}
    raise TypeError(f"checkpoint.save: value at {at} has unsupported type {type(obj).__name__} "
                    f"(use dicts, lists, tuples, np.ndarray, str, int, float, bool, None)")


def _file_mode(path):
    """Permissions for the new file: the existing checkpoint's, else 0o666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = 0o022
    try:  # read the umask without os.umask(), which would change it process-wide
        with open("/proc/self/status") as f:
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return 0o666 & ~umask


def _makedirs(directory):
    """os.makedirs, then fsync the parent of every folder it made, so that a crash cannot
    lose the new folders (and with them the checkpoint inside)."""
    made = []
    while not os.path.isdir(directory) and directory != os.path.dirname(directory):
        made.append(directory)
        directory = os.path.dirname(directory)
    if made:
        os.makedirs(made[0], exist_ok=True)
        for folder in reversed(made):
            _fsync_dir(os.path.dirname(folder))


def _fsync_dir(directory):
    """fsync a directory so a rename inside it survives a crash (skipped where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, path):
    """Write obj (nested dicts/lists/tuples of arrays and str/int/float/bool/None) to path atomically.

    The file is written to a temporary file in the same directory, fsynced, then renamed over
    path with os.replace; on any error the temporary file is removed and an existing file at
    path is left untouched. path (str or os.PathLike) is used as given: nothing is appended;
    its folder is created if missing. Where path is a symbolic link, the file it points to is
    replaced and the link stays (as `open(path, "wb")` would write through it). Dict keys must
    be str or int. Nothing is pickled.
    """
    path = os.fsdecode(path)
    arrays = {}
    root = _encode(obj, "", arrays)
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    if not os.path.basename(path):
        raise ValueError(f"checkpoint.save: {path!r} names no file")

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, arr in [(MANIFEST, np.array(manifest))] + list(arrays.items()):
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)

    write_atomically(path, write, "checkpoint.save")


def write_atomically(path, write, who="write"):
    """Call `write(f)` on a temporary file beside `path` (a binary file object), then rename it
    over path: on any error the temporary file is removed and an existing file at path is left
    untouched (a full disk never leaves half a file); a file there that this process may not
    write (read-only) is refused, as open() refuses it. Where path is a symbolic link, the file
    it points to is replaced and the link stays; the folder is created if missing; the file
    keeps an existing file's permissions, else gets 0o666 minus the umask."""
    path = os.fsdecode(path)
    if os.path.islink(path):  # os.replace would put the file in place of the link
        target = os.path.realpath(path)
        if os.path.islink(target):
            raise OSError(errno.ELOOP, f"{who}: {path} is a symbolic link that points back "
                          "to itself")
        path = target
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path} is a folder; give a file name")
    # the rename needs only the folder's permission: a file its owner made read-only (to keep
    # it) was replaced all the same, where open(path, "wb") and torch.save refuse it
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, f"{who}: cannot write {path}: the file is "
                              "read-only (chmod u+w it to replace it); it is unchanged")
    try:
        _makedirs(directory)
    except OSError as e:  # a parent that is a file: "[Errno 17] File exists: 'afile'"
        raise _named(e, who, path) from e
    mode = _file_mode(path)
    # the temporary file's name: the file's, cut so that the random part and ".tmp" still fit
    # in a name of 255 bytes (a legal 250-byte file name was refused as too long)
    stem = os.path.basename(path)
    while len(os.fsencode(stem)) > TMP_STEM_BYTES:
        stem = stem[:-1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=directory)
    except OSError as e:  # a read-only folder: named by the file asked for, not the temporary
        raise _named(e, who, path) from e
    try:
        # before writing, on the clock of the temporary file just made: on a full disk a
        # killed save's leftover (a whole checkpoint) blocked every later save, which never
        # got to the cleanup after a success
        _remove_stale(directory, stem, tmp)
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):  # a full disk, say
            raise _named(e, who, path) from e
        raise
    _fsync_dir(directory)


def _named(e, who, path):
    """OSError `e` (of its own kind: PermissionError stays one) with what was being written,
    and that a file already there is unchanged: "[Errno 28] No space left on device" named
    neither."""
    return type(e)(e.errno, f"{who}: cannot write {path}: {e.strerror or e}; a file already "
                   "there is unchanged")


def _remove_stale(directory, stem, path, age=STALE_SECONDS):
    """Remove this file's temporary files that a killed save left (SIGKILL, a preempted job:
    nothing ran to unlink them, and each is a whole checkpoint): those older than `age`
    seconds, so that a save running at the same time in another process keeps its own. Their
    age is read against `path`, a file just made, on the same filesystem's clock (an NFS
    server's may differ from this machine's)."""
    prefix = f".{stem}."
    try:
        now = os.stat(path).st_mtime
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        # mkstemp's names: the prefix, 8 random characters, the suffix
        if name.startswith(prefix) and name.endswith(".tmp") and len(name) == len(prefix) + 12:
            full = os.path.join(directory, name)
            try:
                if now - os.lstat(full).st_mtime > age:
                    os.unlink(full)
            except OSError:
                pass


def _member(zf, name):
    """Read member name (without .npy) as an array, refusing pickles and trailing bytes, and
    before reading any data: a compressed member (save never compresses; a few KB of zeros
    inflated to 200 MB) and a header whose shape does not fit the member's size."""
    try:
        info = zf.getinfo(name + ".npy")
    except KeyError:
        raise _Corrupt(f"array {name!r} listed in the manifest is missing") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Corrupt(f"array {name!r} is compressed, which save never does")
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(fp)
        data, need = info.file_size - fp.tell(), math.prod(shape) * dtype.itemsize
        if data < need:  # (more than needed: the read below says "trailing bytes")
            raise _Corrupt(f"array {name!r} claims shape {shape} of {dtype} in "
                           f"{max(data, 0)} bytes of data")
    with zf.open(info) as fp:
        arr = np.lib.format.read_array(fp, allow_pickle=False)
        if fp.read(1):  # reading to the end also makes zipfile check the CRC
            raise _Corrupt(f"array {name!r} has trailing bytes")
    return arr


MAX_DEPTH = 64  # nesting of a manifest (a state_dict is 3 deep; 5,000 hit the recursion limit)


def _decode(node, where, zf, depth=0):
    """Rebuild the value described by a manifest node, reading its arrays from zf."""
    at = where or "<root>"
    if depth > MAX_DEPTH:
        raise _Corrupt(f"the manifest nests deeper than {MAX_DEPTH} levels at {at}")
    t = node.get("t") if isinstance(node, dict) else None
    items = node.get("items") if t in ("dict", "list", "tuple") else None
    if t in ("dict", "list", "tuple") and not isinstance(items, list):
        raise _Corrupt(f"bad manifest node {str(node)[:80]} at {at}")
    if t == "dict":
        out = {}
        for item in items:
            if not (isinstance(item, list) and len(item) == 3):
                raise _Corrupt(f"bad dict item {str(item)[:80]} at {at}")
            kind, k, child = item
            if (kind, type(k)) not in (("s", str), ("i", int)):
                raise _Corrupt(f"bad key {k!r} of kind {kind!r} at {at}")
            if k in out:
                raise _Corrupt(f"key {k!r} twice at {at}")
            out[k] = _decode(child, f"{where}{SEP}{k}" if where else str(k), zf, depth + 1)
        return out
    if t in ("list", "tuple"):
        items = [_decode(c, f"{where}{SEP}{i}", zf, depth + 1) for i, c in enumerate(items)]
        return items if t == "list" else tuple(items)
    if t == "array" and isinstance(node.get("name"), str) and type(node.get("scalar")) is bool:
        arr = _member(zf, node["name"])
        return arr[()] if node["scalar"] else arr
    v = node.get("v") if t in ("v", "float") else None
    if t == "v" and (v is None or isinstance(v, (bool, int, float, str))):
        return v
    if t == "float" and v in ("nan", "inf", "-inf"):
        return float(v)
    raise _Corrupt(f"bad manifest node {str(node)[:80]} at {at}")


def _unique_keys(pairs):
    """json.loads' object_pairs_hook: a key given twice is refused (JSON would keep the last)."""
    out = {}
    for k, v in pairs:
        if k in out:
            raise _Corrupt(f"the manifest gives {k!r} twice in one object")
        out[k] = v
    return out


def load(path):
    """Read a checkpoint written by save(); returns the saved structure exactly.

    Raises ValueError naming the path and the reason if the file is truncated, corrupt or
    not a tinygrad_lstm checkpoint (a missing file raises FileNotFoundError as usual).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        try:
            with zipfile.ZipFile(f) as zf:
                names = zf.namelist()
                if MANIFEST + ".npy" not in names:
                    raise _Corrupt(f"no {MANIFEST!r} entry; not a tinygrad_lstm checkpoint")
                if len(set(names)) != len(names):  # zipfile reads the last of a name
                    twice = sorted({n for n in names if names.count(n) > 1})
                    raise _Corrupt(f"member {twice[0]!r} is there twice")
                text = _member(zf, MANIFEST)
                if text.shape != () or text.dtype.kind != "U":
                    raise _Corrupt(f"{MANIFEST!r} is not a 0-d unicode array")
                manifest = json.loads(str(text), object_pairs_hook=_unique_keys)
                if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                    raise _Corrupt("manifest is not a tinygrad_lstm checkpoint manifest")
                version = manifest.get("version")
                if type(version) is not int or version != VERSION:  # not True, which == 1
                    raise _Corrupt(f"format version {version!r}, expected {VERSION}")
                return _decode(manifest["root"], "", zf)
        except Exception as e:
            reason = str(e) if isinstance(e, _Corrupt) else f"{type(e).__name__}: {e}"
            raise ValueError(f"checkpoint.load: {path!r} is not a valid checkpoint: {reason}") from e


def _map(obj, fn, leaf, where=""):
    """Apply fn to every value for which leaf(value) holds, recursing into dicts, lists and tuples."""
    if isinstance(obj, dict):
        return {k: _map(v, fn, leaf, f"{where}{SEP}{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(v, fn, leaf, f"{where}{SEP}{i}") for i, v in enumerate(obj))
    return fn(obj, where or "<root>") if leaf(obj) else obj


def to_torch_state_dict(state_dict):
    """{name: np.ndarray} (nested dicts allowed) -> the same with torch tensors (copies).

    Objects with an np.ndarray ``.data`` (Tensors, Parameters) are converted too; other values
    are passed through. Needs PyTorch, imported only here.
    """
    try:
        import torch
    except ImportError as e:
        raise ImportError("to_torch_state_dict: PyTorch is not installed (pip install torch)") from e

    def convert(a, where):
        a = a if isinstance(a, np.ndarray) else a.data
        try:
            return torch.from_numpy(np.array(a, dtype=a.dtype.newbyteorder("="), copy=True))
        except TypeError as e:
            raise TypeError(f"to_torch_state_dict: {where!r} has dtype {a.dtype}, "
                            "which torch cannot hold") from e

    return _map(state_dict, convert,
                lambda v: isinstance(v, np.ndarray) or isinstance(getattr(v, "data", None), np.ndarray))


def from_torch_state_dict(sd):
    """{name: torch.Tensor} (nested dicts/lists allowed) -> the same with np.ndarray copies.

    Each tensor becomes ``t.detach().cpu().numpy().copy()``, so later changes to the tensor
    do not show through; other values are passed through. Does not import torch.
    """
    def convert(t, where):
        try:
            return t.detach().cpu().numpy().copy()
        except TypeError as e:  # e.g. bfloat16, which numpy has no dtype for
            raise TypeError(f"from_torch_state_dict: {where!r} has dtype {t.dtype}, "
                            "which numpy cannot hold; convert it first (e.g. .float())") from e

    return _map(sd, convert, lambda v: hasattr(v, "detach") and hasattr(v, "numpy"))


def _plain(v):
    """v itself if a plain value, else its name (a function's repr holds its address)."""
    return v if isinstance(v, (str, bool, int, float)) else \
        getattr(v, "__qualname__", type(v).__name__)


def _kinds(model):
    """{module path: what its recurrent cell computes}, e.g. {"rnn": "GRUCell(reset_after=False)"}:
    weights of one shape can mean other equations (a Cho GRU's and torch's, an LSTM1997's
    three gate blocks and a coupled LSTM's, a relu RNN's and a tanh one's), which the shapes
    that load_state_dict checks cannot tell apart."""
    kinds = {}
    for name, module in model.named_modules():
        cells = getattr(module, "_cells", None)  # a layer: its cells are all of one kind
        cell = cells[0] if cells else module if hasattr(module, "state_names") else None
        if cell is not None:
            options = [f"{o}={_plain(getattr(cell, o))}" for o in ("nonlinearity", "reset_after")
                       if hasattr(cell, o)]
            kinds[name] = f"{type(cell).__name__}({', '.join(options)})"
    return kinds


def _check_optimizer(who, optimizer):
    """Refuse, naming `who`, an optimizer argument that is not one: `save_model(p, model,
    model)` saved the model's weights as the optimizer's state without a word."""
    if optimizer is not None and not (hasattr(optimizer, "param_groups")
                                      and hasattr(optimizer, "load_state_dict")):
        raise TypeError(f"{who}: optimizer must be an optimizer (optim.SGD, optim.Adam, ...) or "
                        f"None, got a {type(optimizer).__name__}")


def save_model(path, model, optimizer=None, **meta):
    """Save `model.state_dict()` (and the optimizer's state and any metadata such as the step)
    atomically to path: {"model": ..., "optimizer": ..., "meta": {...}, "kinds": {...}}, where
    kinds says what each recurrent layer's cell computes, for load_model to check."""
    _check_optimizer("save_model", optimizer)
    obj = {"model": dict(model.state_dict()), "meta": meta, "kinds": _kinds(model)}
    if optimizer is not None:
        obj["optimizer"] = optimizer.state_dict()
    save(obj, path)


def load_model(path, model, optimizer=None, strict=True):
    """Load a `save_model` checkpoint into model (and optimizer); returns its metadata.

    All or nothing: a corrupt file, a missing or unexpected key, a shape that does not match or
    a recurrent layer saved with another cell (a Cho GRU's weights into torch's form, say, whose
    shapes agree) raises ValueError naming the file and the key, and leaves model and
    optimizer as they were. strict=False loads what fits whatever the cells (a peephole LSTM
    started from a plain one's weights), as torch's does.
    """
    path = os.fspath(path)
    _check_optimizer("load_model", optimizer)
    ckpt = load(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"load_model: {path!r} holds no 'model' entry (was it written by "
                         "save_model?)")
    if optimizer is not None and "optimizer" not in ckpt:
        raise ValueError(f"load_model: {path!r} holds no 'optimizer' entry")
    saved, kinds = ckpt.get("kinds", {}), _kinds(model)  # (older files have none)
    if not isinstance(saved, dict) or not all(isinstance(v, str) for v in saved.values()):
        raise ValueError(f"load_model: {path!r} does not fit: its 'kinds' is "
                         f"{str(saved)[:80]}, expected {{layer: cell}} as save_model notes them")
    for name in sorted(set(saved) & set(kinds)) if strict else ():
        if saved[name] != kinds[name]:
            what = f"the cells of {name!r}" if name else "the cells"
            raise ValueError(f"load_model: {path!r} does not fit: {what} were saved as "
                             f"{saved[name]}, this model's are {kinds[name]} (strict=False "
                             "loads the weights that fit anyway)")
    before = model.state_dict()
    try:
        keys = model.load_state_dict(ckpt["model"], strict=strict)
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
    except BaseException as e:  # a Ctrl-C between the model and the optimizer too
        model.load_state_dict(before)
        if not isinstance(e, (KeyError, ValueError, TypeError)):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise ValueError(f"load_model: {path!r} does not fit: {msg}") from None
    if keys.missing_keys or keys.unexpected_keys:  # strict=False: say what did not load
        parts = [f"kept {len(keys.missing_keys)} of this model's weights as they were "
                 f"(not in the file: {', '.join(keys.missing_keys)})"] if keys.missing_keys \
            else []
        if keys.unexpected_keys:
            parts.append(f"skipped {len(keys.unexpected_keys)} of the file's (not in this "
                         f"model: {', '.join(keys.unexpected_keys)})")
        warnings.warn(f"load_model: {path!r}: " + "; ".join(parts), UserWarning, stacklevel=2)
    return ckpt.get("meta", {})
