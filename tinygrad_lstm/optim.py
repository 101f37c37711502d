"""Optimizers (SGD, Adam, Adagrad, RMSprop) and gradient clipping with torch.optim's update rules.

A parameter is any object with ``.data`` (a float np.ndarray, updated in place, dtype kept)
and ``.grad`` (an np.ndarray, or None to skip the parameter). Only numpy is needed.
"""

import math
import numbers

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "Adagrad", "RMSprop", "clip_grad_norm_", "clip_grad_value_"]


def _need(op, name, value, ok, what):
    """Raise ValueError("op: name must be what, got value") unless ok."""
    if not ok:
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")


def _real(op, name, value):
    """Raise TypeError unless value is a real number (not a bool), before any comparison."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {value!r} "
                        f"({type(value).__name__})")


def _collect(params, op):
    """The parameters as a list, each once (by identity), each with float np.ndarray .data."""
    if isinstance(getattr(params, "data", None), np.ndarray):
        raise TypeError(f"{op}: params must be an iterable of parameters, got a single "
                        f"{type(params).__name__}; wrap it in a list")
    if hasattr(params, "named_parameters"):  # a Module: "'LSTM' object is not iterable"
        raise TypeError(f"{op}: params must be an iterable of parameters, got a "
                        f"{type(params).__name__} module; pass model.parameters()")
    out, seen = [], set()
    for i, p in enumerate(params):
        if type(p) is tuple and len(p) == 2 and isinstance(p[0], str):
            p = p[1]  # a (name, parameter) pair: torch 2 takes model.named_parameters() too
        if id(p) in seen:
            continue
        if isinstance(p, dict):  # torch's parameter groups
            raise TypeError(f"{op}: params[{i}] is a dict: parameter groups are not supported; "
                            "pass the parameters (one optimizer per group, if their "
                            "hyperparameters differ)")
        data = getattr(p, "data", None)
        if not isinstance(data, np.ndarray):
            raise TypeError(f"{op}: params[{i}] ({type(p).__name__}) has no np.ndarray .data")
        if data.dtype.kind != "f":
            raise ValueError(f"{op}: params[{i}] has dtype {data.dtype}, expected a floating-point dtype")
        # a computed tensor gets no .grad (unless it retains one, which torch takes too)
        if getattr(p, "is_leaf", True) is False and not getattr(p, "_retain", False):
            raise ValueError(f"{op}: params[{i}] is computed by an op ({p.op}), not a leaf: "
                             "optimize the tensors it is made from (torch: can't optimize a "
                             "non-leaf Tensor)")
        seen.add(id(p))
        out.append(p)
    if not out:
        raise ValueError(f"{op}: params is an empty list")
    return out


def _zero_grads(params, set_to_none, op):
    """Module.zero_grad's and Optimizer.zero_grad's work (see there)."""
    if not isinstance(set_to_none, (bool, np.bool_)):  # 'no' would read as True
        raise TypeError(f"{op}: set_to_none must be True or False, got {set_to_none!r}")
    for p in params:
        if set_to_none:
            p.grad = None
        elif p.grad is not None:
            g = p.grad
            if isinstance(g, np.ndarray) and g.flags.writeable:
                g[...] = 0  # in place, as torch's zero_()
            else:  # a read-only or broadcast array (one a user set): new zeros instead
                p.grad = np.zeros(np.shape(g), getattr(g, "dtype", p.data.dtype))


class ParamGroup:
    """An optimizer's one parameter group, as torch's dict: "params" (the parameters, a
    tuple: they are fixed when the optimizer is made), each hyperparameter, read from and
    written to the optimizer (a write is validated before it is made), and "initial_lr", which
    torch's LR schedulers keep there (saved in the optimizer's state_dict, as torch's). Any
    other key is refused: a typo ("lR") would otherwise set nothing without a word."""

    def __init__(self, opt):
        self._opt = opt

    def _extra(self):
        opt = self._opt
        if "_group_extra" not in vars(opt):
            opt._group_extra = {}
        return opt._group_extra

    def keys(self):
        return ["params", *self._opt._hyper, *self._extra()]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __contains__(self, key):
        return key in self.keys()

    def __getitem__(self, key):
        opt = self._opt
        if key == "params":
            return tuple(opt.params)
        if key in opt._hyper:
            return getattr(opt, key)
        if key in self._extra():
            return self._extra()[key]
        raise KeyError(f"{type(opt).__name__}: the param group has no {key!r} "
                       f"(it has {', '.join(map(str, self.keys()))})")

    def __setitem__(self, key, value):
        opt, cls = self._opt, type(self._opt).__name__
        if key == "params":
            raise KeyError(f"{cls}: the param group's 'params' cannot be set; the parameters "
                           "are fixed when the optimizer is made")
        if key not in opt._hyper:
            self._extra_key(key)
            _real(f"{cls}.param_groups", key, value)
            self._extra()[key] = value
            return
        hyper = {k: getattr(opt, k) for k in opt._hyper}
        hyper[key] = _as_hyper(key, value)
        opt._check(hyper, f"{cls}.param_groups")
        setattr(opt, key, hyper[key])

    def _extra_key(self, key):
        if key != "initial_lr":
            opt = self._opt
            raise KeyError(f"{type(opt).__name__}: the param group has no {key!r} to set (its "
                           f"hyperparameters: {', '.join(opt._hyper)}; and 'initial_lr' for a "
                           "scheduler)")

    def __delitem__(self, key):
        if key not in self._extra():
            raise KeyError(f"{type(self._opt).__name__}: the param group's {key!r} cannot be "
                           "removed" + ("" if key in self else " (there is none)"))
        del self._extra()[key]

    def get(self, key, default=None):
        return self[key] if key in self else default

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, other=(), **more):
        """Every key set as `group[key] = value` would: hyperparameters validated together
        first, so a bad one leaves the optimizer unchanged."""
        new = {**dict(other), **more}
        opt = self._opt
        if "params" in new:
            self["params"] = new["params"]  # refused, naming it
        for k, v in new.items():
            if k not in opt._hyper:
                self._extra_key(k)
                _real(f"{type(opt).__name__}.param_groups", k, v)
        hyper = {k: getattr(opt, k) for k in opt._hyper}
        hyper.update({k: _as_hyper(k, v) for k, v in new.items() if k in opt._hyper})
        opt._check(hyper, f"{type(opt).__name__}.param_groups")
        for k, v in new.items():
            if k in opt._hyper:
                setattr(opt, k, hyper[k])
            else:
                self._extra()[k] = v

    def pop(self, key, *default):
        if key in self._extra():
            return self._extra().pop(key)
        if key not in self and default:
            return default[0]
        del self[key]  # refused, naming it

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]

    def copy(self):
        return dict(self.items())

    def __eq__(self, other):  # the parameters by identity (Tensors compare elementwise)
        if isinstance(other, ParamGroup):
            other = dict(other.items())
        if not isinstance(other, dict) or set(other) != set(self.keys()):
            return False
        mine, theirs = list(self["params"]), list(other["params"])
        return (len(mine) == len(theirs) and all(a is b for a, b in zip(mine, theirs))
                and all(self[k] == other[k] for k in self.keys() if k != "params"))

    __hash__ = None

    def __repr__(self):
        return repr(dict(self.items()))


def _as_hyper(key, value):
    """A hyperparameter as the optimizer keeps it: betas as a tuple (from a list, an array)."""
    if key == "betas" and not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
        return tuple(value)
    return value


def _buf(st, key, data):
    """The state array st[key], created as zeros shaped and typed like data on first use."""
    if key not in st:
        st[key] = np.zeros_like(data)
    return st[key]


def _state_value(op, key, name, v, j, data):
    """A validated copy of a loaded state entry: an int step, or an array shaped and typed like data."""
    a = np.asarray(v)
    if a.dtype.kind not in "iuf" or isinstance(v, bool):  # not True for a step, nor strings
        raise TypeError(f"{op}: state[{key!r}][{name!r}] holds {a.dtype} "  # or complex
                        f"{'data' if a.shape else repr(v)}; expected real numbers")
    if name == "step":
        _need(op, f"state[{key!r}]['step']", v, a.shape == () and 0 <= a < 2**62 and a == int(a),
              "a non-negative integer")
        return int(a)
    if a.shape != data.shape:
        raise ValueError(f"{op}: state[{key!r}][{name!r}] has shape {a.shape}, "
                         f"but params[{j}] has shape {data.shape}")
    return np.array(a, dtype=data.dtype)


# Keys of a torch.optim param group that we have no hyperparameter for. A state_dict from torch
# (through checkpoint.from_torch_state_dict) loads when they leave the arithmetic ours: the
# switches for how torch schedules the work (None: any value), the others only when off.
TORCH_SWITCHES = {"foreach": None, "fused": None, "capturable": None, "differentiable": None,
                  "initial_lr": None,  # an LR scheduler's record of the starting lr
                  "maximize": False, "amsgrad": False, "decoupled_weight_decay": False}


class Optimizer:
    """Base class: the parameter list, per-parameter state and the hyperparameters.

    Subclasses list their hyperparameters in ``_hyper`` (signature order), the state entries a
    step may create in ``_state_keys``, and implement ``_update(data, grad, state)`` (grad
    already includes weight decay). ``lr`` may be reassigned between steps (for schedules).
    """

    _hyper = ()
    _state_keys = ()

    def __init__(self, params, **hyper):
        self.params = _collect(params, type(self).__name__)
        self._check(hyper)
        for k, v in hyper.items():
            setattr(self, k, v)
        self.state = {}  # {index into self.params: {name: np.ndarray or number}}

    @property
    def lr(self):
        """The learning rate; assigning validates it (0 or more, as torch: a warm-up from 0 or
        a decay to 0 sets it to 0)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        _real(type(self).__name__, "lr", value)
        _need(type(self).__name__, "lr", value, value >= 0, "0 or more")
        self._lr = value

    def _check(self, h, op=None):
        """Validate a dict of hyperparameters, raising ValueError or TypeError naming the bad
        one (and `op`: the class, or its load_state_dict)."""
        op = op or type(self).__name__
        for name in ("nesterov", "centered"):  # a switch: 'no' would have read as True
            if name in h and not isinstance(h[name], (bool, np.bool_)):
                raise TypeError(f"{op}: {name} must be True or False, got {h[name]!r}")
        _real(op, "lr", h["lr"])
        _need(op, "lr", h["lr"], h["lr"] >= 0, "0 or more")
        for name in ("momentum", "dampening", "weight_decay", "eps", "lr_decay",
                     "initial_accumulator_value", "alpha"):
            if name in h:
                _real(op, name, h[name])
                if name != "dampening":
                    _need(op, name, h[name], h[name] >= 0, "non-negative")
        if "betas" in h:
            _need(op, "betas", h["betas"], isinstance(h["betas"], (tuple, list))
                  and len(h["betas"]) == 2, "a pair (beta1, beta2)")
            for k, b in enumerate(h["betas"]):
                _real(op, f"betas[{k}]", b)
                _need(op, f"betas[{k}]", b, 0 <= b < 1, "in [0, 1)")
        if h.get("nesterov") and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError(f"{op}: nesterov requires momentum > 0 and dampening = 0, "
                             f"got momentum={h['momentum']!r}, dampening={h['dampening']!r}")

    def zero_grad(self, set_to_none=True):
        """Set every parameter's .grad to None, as torch does by default; with
        set_to_none=False, fill the grads there are with zeros in place."""
        _zero_grads(self.params, set_to_none, f"{type(self).__name__}.zero_grad")

    @property
    def param_groups(self):
        """torch's view of the hyperparameters, one group here: `for g in opt.param_groups:
        g["lr"] *= 0.5` sets `opt.lr`, validated as assigning it is."""
        return [ParamGroup(self)]

    def step(self):
        """Update, in place, every parameter whose .grad is not None."""
        todo = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = np.asarray(p.grad)
            if g.shape != p.data.shape:
                raise ValueError(f"{type(self).__name__}.step: params[{i}] has grad shape {g.shape} "
                                 f"but data shape {p.data.shape}")
            _float_grad(f"{type(self).__name__}.step", i, g)  # before any parameter moves
            if not p.data.flags.writeable:  # else the parameters before it had moved
                raise ValueError(f"{type(self).__name__}.step: params[{i}].data is read-only; "
                                 "no parameter was updated")
            todo.append((i, p.data, g))
        for i, data, g in todo:
            if self.weight_decay:  # L2 penalty added to the gradient (never written back to .grad)
                g = g + self.weight_decay * data
            self._update(data, g, self.state.setdefault(i, {}))

    def state_dict(self):
        """{"state": {index: {name: array copy or int}}, "param_groups": [{hyper..., "params": [indices]}]}."""
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.state[i].items()}
                 for i in sorted(self.state) if self.state[i]}
        group = {k: getattr(self, k) for k in self._hyper}
        group.update(vars(self).get("_group_extra", {}))  # a scheduler's initial_lr, as torch's
        group["params"] = list(range(len(self.params)))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, sd):
        """Load a state_dict() result, ours or torch.optim's (its tensors made arrays by
        checkpoint.from_torch_state_dict; TORCH_SWITCHES says which of its extra keys are
        accepted); everything is validated before anything changes."""
        op = f"{type(self).__name__}.load_state_dict"
        if not isinstance(sd, dict) or set(sd) != {"state", "param_groups"}:
            got = sorted(map(str, sd)) if isinstance(sd, dict) else type(sd).__name__
            raise ValueError(f"{op}: expected a dict with keys 'param_groups' and 'state', got {got}")
        groups = sd["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != 1:
            raise ValueError(f"{op}: expected a list of 1 param group, got {groups!r}")
        if not isinstance(groups[0], dict):
            raise ValueError(f"{op}: param_groups[0] must be a dict of hyperparameters and "
                             f"'params', got a {type(groups[0]).__name__}")
        if not isinstance(sd["state"], dict):
            raise ValueError(f"{op}: state must be a dict of param index -> state, got a "
                             f"{type(sd['state']).__name__}")
        group = dict(groups[0])
        ids = list(group.pop("params", []))
        if len(ids) != len(self.params):
            raise ValueError(f"{op}: state_dict has {len(ids)} params, optimizer has {len(self.params)}")
        extra = {}
        if "initial_lr" in group and "initial_lr" not in self._hyper:
            extra["initial_lr"] = group.pop("initial_lr")
            _real(op, "initial_lr", extra["initial_lr"])
        for k in set(group) - set(self._hyper) & set(TORCH_SWITCHES):
            v = group.pop(k)
            if TORCH_SWITCHES[k] is not None and v not in (False, None):
                raise ValueError(f"{op}: param group has {k}={v!r}, which {type(self).__name__} "
                                 "does not implement")
        if set(group) != set(self._hyper):
            raise ValueError(f"{op}: param group keys {sorted(group)} differ from {type(self).__name__}'s "
                             f"{sorted(self._hyper)}")
        hyper = {k: group[k] for k in self._hyper}
        if "betas" in hyper:
            hyper["betas"] = tuple(hyper["betas"])
        self._check(hyper, op)
        pos = {s: j for j, s in enumerate(ids)}
        new_state = {}
        for key, st in dict(sd["state"]).items():
            if key not in pos:
                raise ValueError(f"{op}: state index {key!r} is not among the group's params {ids}")
            if not isinstance(st, dict) or not set(st) <= set(self._state_keys):
                got = sorted(st) if isinstance(st, dict) else type(st).__name__
                raise ValueError(f"{op}: state[{key!r}] has keys {got}, expected some of {list(self._state_keys)}")
            if st.get("step", 0) is None:  # the moments without their count: inconsistent
                raise ValueError(f"{op}: state[{key!r}]['step'] is None")
            new_state[pos[key]] = {k: _state_value(op, key, k, v, pos[key], self.params[pos[key]].data)
                                   for k, v in st.items() if v is not None}  # torch: momentum_buffer=None
        for k, v in hyper.items():
            setattr(self, k, v)
        self._group_extra = extra
        self.state = new_state


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD).

    ``g = grad + weight_decay * p``; with momentum, ``b = g`` on the first step, then
    ``b = momentum * b + (1 - dampening) * g``, and ``g = g + momentum * b`` (nesterov) or
    ``g = b``; finally ``p -= lr * g``. nesterov needs momentum > 0 and dampening = 0.
    """

    _hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    _state_keys = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def _update(self, data, g, st):
        if self.momentum:
            if "momentum_buffer" not in st:
                b = st["momentum_buffer"] = np.array(g, dtype=data.dtype)
            else:
                b = st["momentum_buffer"]
                b *= self.momentum
                b += (1 - self.dampening) * g
            g = g + self.momentum * b if self.nesterov else b
        data -= self.lr * g


class Adam(Optimizer):
    """Adam (torch.optim.Adam, L2 weight decay added to the gradient, no amsgrad).

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    _hyper = ("lr", "betas", "eps", "weight_decay")
    _state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _update(self, data, g, st):
        b1, b2 = self.betas
        t = st["step"] = st.get("step", 0) + 1
        m, v = _buf(st, "exp_avg", data), _buf(st, "exp_avg_sq", data)
        m += (1 - b1) * (g - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
        v *= b2
        v += (1 - b2) * g * g
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps
        data -= (self.lr / (1 - b1 ** t)) * m / denom


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad).

    ``s += g^2`` (s starts at initial_accumulator_value);
    ``p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)``.
    """

    _hyper = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _state_keys = ("step", "sum")

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps)

    def _update(self, data, g, st):
        t = st["step"] = st.get("step", 0) + 1
        if "sum" not in st:
            st["sum"] = np.full_like(data, self.initial_accumulator_value)
        s = st["sum"]
        s += g * g
        data -= (self.lr / (1 + (t - 1) * self.lr_decay)) * g / (np.sqrt(s) + self.eps)


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop).

    ``a = alpha a + (1 - alpha) g^2``; centered: ``ga = alpha ga + (1 - alpha) g`` and
    ``d = sqrt(a - ga^2) + eps``, else ``d = sqrt(a) + eps``; with momentum
    ``b = momentum b + g / d`` and ``p -= lr b``, else ``p -= lr g / d``.
    """

    _hyper = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")
    _state_keys = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered)

    def _update(self, data, g, st):
        st["step"] = st.get("step", 0) + 1
        a = _buf(st, "square_avg", data)
        a *= self.alpha
        a += (1 - self.alpha) * g * g
        if self.centered:
            ga = _buf(st, "grad_avg", data)
            ga += (1 - self.alpha) * (g - ga)  # torch: grad_avg.lerp_(grad, 1 - alpha)
            d = np.sqrt(a - ga * ga) + self.eps
        else:
            d = np.sqrt(a) + self.eps
        if self.momentum > 0:
            b = _buf(st, "momentum_buffer", data)
            b *= self.momentum
            b += g / d
            data -= self.lr * b
        else:
            data -= self.lr * g / d


def _float_grad(op, i, g):
    """A TypeError naming `op` and the parameter unless g holds floats (torch refuses other
    gradient dtypes when they are assigned)."""
    if g.dtype.kind != "f":
        raise TypeError(f"{op}: params[{i}].grad is {g.dtype}; gradients must be float arrays")


def _grads(params, op):
    """The non-None .grad arrays of params (one parameter or an iterable), each parameter once."""
    if hasattr(params, "grad"):
        params = [params]
    out, seen = [], set()
    for i, p in enumerate(params):
        if id(p) in seen or p.grad is None:
            continue
        if not isinstance(p.grad, np.ndarray):
            raise TypeError(f"{op}: params[{i}].grad is a {type(p.grad).__name__}, expected np.ndarray")
        _float_grad(op, i, p.grad)  # checked for all before any grad is scaled
        if not p.grad.flags.writeable:  # e.g. np.broadcast_to's, assigned by hand
            raise ValueError(f"{op}: params[{i}].grad is read-only; no grad was changed")
        if p.grad.shape != p.data.shape:  # step() would refuse it, after the clip rescaled it
            raise ValueError(f"{op}: params[{i}] has grad shape {p.grad.shape} but data shape "
                             f"{p.data.shape}")
        seen.add(id(p))
        out.append(p.grad)
    return out


def _pnorm(x, p):
    """(sum |x|^p)^(1/p) in float64."""
    return float(np.sum(np.abs(np.asarray(x, dtype=np.float64)) ** p) ** (1.0 / p))


def clip_grad_norm_(params, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all grads in place so their joint norm is at most max_norm; return the norm before
    (a numpy float64: a float with torch's `.item()`).

    The total is the norm_type-norm of the per-parameter norms (``inf``: the largest |g|),
    taken in float64: float32 grads of 2e19 or more, whose norm torch's float32 sum makes
    inf (and so zeroes them), are scaled down here as any others.
    Grads are multiplied by ``max_norm / (total + 1e-6)`` only when that is < 1, as in torch.
    A non-finite total is returned as is and scales the grads as in torch: an inf total
    zeroes the finite grads, a NaN total makes every grad NaN (the step that follows is then
    visibly broken, not silently unclipped).
    With error_if_nonfinite=True such a total raises instead, before any grad changes, as
    torch's. `foreach` (how torch schedules its kernels) is taken and has no effect.
    Parameters with grad None are skipped; 0.0 is returned when none have a grad.
    """
    _real("clip_grad_norm_", "max_norm", max_norm)
    if norm_type != "inf":  # torch takes the string 'inf' too
        _real("clip_grad_norm_", "norm_type", norm_type)
    max_norm, norm_type = float(max_norm), float(norm_type)
    _need("clip_grad_norm_", "max_norm", max_norm, max_norm >= 0, "non-negative")
    _need("clip_grad_norm_", "norm_type", norm_type, norm_type > 0, "positive (or inf)")
    if not isinstance(error_if_nonfinite, (bool, np.bool_)):
        raise TypeError(f"clip_grad_norm_: error_if_nonfinite must be True or False, got "
                        f"{error_if_nonfinite!r}")
    grads = _grads(params, "clip_grad_norm_")
    if not grads:
        return np.float64(0.0)
    if math.isinf(norm_type):
        # np.max, not max(): the builtin keeps 3.0 over a NaN that comes after it
        total = float(np.max([np.max(np.abs(g)) if g.size else 0.0 for g in grads]))
    else:
        total = _pnorm([_pnorm(g, norm_type) for g in grads], norm_type)
    total = np.float64(total)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}, so they cannot be clipped (the grads are "
                           "unchanged); pass error_if_nonfinite=False to scale them anyway")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1:  # NaN included
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(params, clip_value):
    """Clamp every grad in place to [-clip_value, clip_value]; grad None is skipped."""
    _real("clip_grad_value_", "clip_value", clip_value)
    c = float(clip_value)
    _need("clip_grad_value_", "clip_value", clip_value, c >= 0, "non-negative")
    for g in _grads(params, "clip_grad_value_"):
        np.clip(g, -c, c, out=g)
