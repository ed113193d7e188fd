"""Finite type sets: the buyers' private information, discretized for computation.

The paper's type spaces are continua; the numerical models screen N discrete types
with probabilities `f_i`. A :class:`TypeSet` keeps the *description* of each type
(a bare index `theta`, a vector of task values, or a value-scale pair) rather than
only `theta`, because Token Allocations needs the full description while Token
Packages only needs the one-dimensional index (docs/model.md section 2).

The discretizers below build the grids used by the shipped instances; all of them
are deterministic (sampling takes an explicit seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from pyomo_llmprice.technology import CobbDouglas, Technology

__all__ = [
    "KINDS",
    "ContinuousDistribution",
    "Distribution",
    "Kind",
    "TypeSet",
    "discretize",
    "labeled_tasks",
    "paper_theta_cdf",
    "sample_value_scale",
    "theta_grid_from_cdf",
    "theta_types",
    "uniform_grid",
    "value_scale_grid",
    "value_scale_types",
]

Kind = Literal["theta", "tasks", "value_scale"]
KINDS: tuple[str, ...] = ("theta", "tasks", "value_scale")

# Which optional fields each kind of description uses; the others must stay None.
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "theta": ("theta",),
    "tasks": ("tasks", "task_measure", "value"),
    "value_scale": ("value_per_task", "scale"),
}
_ALL_FIELDS = ("theta", "tasks", "task_measure", "value", "value_per_task", "scale")

PROB_TOL = 1e-9
"""Tolerance on `sum(prob) == 1`; looser sums are an input error, not rounding."""


def _frozen_array(x: Any, name: str, ndim: int) -> np.ndarray:
    """A read-only float copy, so a frozen TypeSet cannot be changed through its arrays."""
    try:
        arr = np.array(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    arr.setflags(write=False)
    return arr


def _labels(x: Sequence[Any], name: str) -> tuple[str, ...]:
    """Labels as unique, non-empty strings (they become Pyomo set members)."""
    if isinstance(x, str):
        raise ValueError(f"{name} must be a sequence of strings, not one string")
    labels = tuple(str(v) for v in x)
    if any(not lab for lab in labels):
        raise ValueError(f"{name} must be non-empty strings")
    seen: set[str] = set()
    for lab in labels:
        if lab in seen:
            raise ValueError(f"{name} must be unique; {lab!r} appears twice")
        seen.add(lab)
    return labels


@dataclass(frozen=True, eq=False)
class TypeSet:
    """N buyer types with probabilities and one kind of description.

    - ``kind='theta'``: ``theta`` (N,), the one-dimensional index itself.
    - ``kind='tasks'``: ``tasks`` (J labels), ``task_measure`` (J,), ``value`` (N, J).
    - ``kind='value_scale'``: ``value_per_task`` (N,) = w and ``scale`` (N,) = s.

    Identical descriptions for two labels are allowed (a mass point split in two);
    the reader warns about them because their menu bundles are not unique.
    """

    labels: tuple[str, ...]
    prob: np.ndarray
    kind: Kind
    theta: np.ndarray | None = None
    tasks: tuple[str, ...] | None = None
    task_measure: np.ndarray | None = None
    value: np.ndarray | None = None
    value_per_task: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        def put(name: str, val: Any) -> None:
            object.__setattr__(self, name, val)

        if self.kind not in _KIND_FIELDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        labels = _labels(self.labels, "labels")
        if not labels:
            raise ValueError("a type set needs at least one type")
        put("labels", labels)
        n = len(labels)

        prob = _frozen_array(self.prob, "prob", 1)
        if prob.shape != (n,):
            raise ValueError(f"prob must have one entry per type ({n}), got {prob.shape[0]}")
        if np.any(prob < 0):
            raise ValueError("prob must be nonnegative")
        if abs(prob.sum() - 1.0) > PROB_TOL:
            raise ValueError(f"prob must sum to 1, sums to {prob.sum()!r}")
        put("prob", prob)

        needed = _KIND_FIELDS[self.kind]
        for name in _ALL_FIELDS:
            given = getattr(self, name) is not None
            if name in needed and not given:
                raise ValueError(f"kind {self.kind!r} needs {name}")
            if name not in needed and given:
                raise ValueError(f"kind {self.kind!r} takes no {name} (it is for another kind)")

        if self.kind == "theta":
            put("theta", self._nonneg_vector("theta", n))
        elif self.kind == "value_scale":
            put("value_per_task", self._nonneg_vector("value_per_task", n))
            put("scale", self._nonneg_vector("scale", n))
        else:
            tasks = _labels(self.tasks, "tasks")  # type: ignore[arg-type]
            if not tasks:
                raise ValueError("kind 'tasks' needs at least one task")
            put("tasks", tasks)
            j = len(tasks)
            measure = self._nonneg_vector("task_measure", j)
            if not measure.sum() > 0:
                raise ValueError("task_measure must have a positive entry")
            put("task_measure", measure)
            value = _frozen_array(self.value, "value", 2)
            if value.shape != (n, j):
                raise ValueError(
                    f"value must have shape (types, tasks) = {(n, j)}, got {value.shape}"
                )
            if np.any(value < 0):
                raise ValueError("value must be nonnegative")
            put("value", value)

    def subset(self, keep: np.ndarray) -> TypeSet:
        """The types where `keep` is true, same kind (probabilities kept as they are)."""
        keep = np.asarray(keep, bool)
        per_type = ("prob", "theta", "value", "value_per_task", "scale")
        fields = {f: getattr(self, f) for f in (*per_type, "tasks", "task_measure")}
        for f in per_type:
            if fields[f] is not None:
                fields[f] = np.asarray(fields[f])[keep]
        labels = tuple(lab for lab, k in zip(self.labels, keep, strict=True) if k)
        return TypeSet(labels=labels, kind=self.kind, **fields)

    def _nonneg_vector(self, name: str, size: int) -> np.ndarray:
        arr = _frozen_array(getattr(self, name), name, 1)
        if arr.shape != (size,):
            raise ValueError(f"{name} must have {size} entries, got {arr.shape[0]}")
        if np.any(arr < 0):
            raise ValueError(f"{name} must be nonnegative")
        return arr

    # -- comparisons: arrays make the dataclass defaults unusable ------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypeSet):
            return NotImplemented
        if (self.kind, self.labels, self.tasks) != (other.kind, other.labels, other.tasks):
            return False
        for name in ("prob", "theta", "task_measure", "value", "value_per_task", "scale"):
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return False
        return True

    def __hash__(self) -> int:
        return hash((self.kind, self.labels, self.prob.tobytes()))

    def __len__(self) -> int:
        return len(self.labels)

    def index(self, precision: CobbDouglas | Technology | None = None) -> np.ndarray:
        """The one-dimensional type index theta that Token Packages screens on.

        Tasks: the CES aggregate `(sum_j mu_j w_j^kappa)^(1-alpha-beta)` with
        `kappa = 1/(1-alpha-beta)`; value-scale: `w * s^(1-alpha-beta)` (docs/model.md
        section 2). Both need the precision exponents; a bare theta does not.
        """
        if self.kind == "theta":
            assert self.theta is not None
            return self.theta.copy()
        if precision is None:
            raise ValueError(f"the index of {self.kind!r} types needs the Cobb-Douglas exponents")
        cd = precision.cobb_douglas_precision if isinstance(precision, Technology) else precision
        expo = 1.0 - cd.alpha - cd.beta
        if self.kind == "value_scale":
            assert self.value_per_task is not None and self.scale is not None
            return self.value_per_task * self.scale**expo
        assert self.value is not None and self.task_measure is not None
        return (self.value**cd.kappa @ self.task_measure) ** expo

    def to_frame(self, precision: CobbDouglas | Technology | None = None) -> pd.DataFrame:
        """One row per type (for reports); adds a ``theta`` column when it can be computed."""
        cols: dict[str, Any] = {"prob": self.prob}
        if self.kind == "value_scale":
            cols["value_per_task"] = self.value_per_task
            cols["scale"] = self.scale
        elif self.kind == "tasks":
            assert self.value is not None and self.tasks is not None
            for j, task in enumerate(self.tasks):
                cols[f"value[{task}]"] = self.value[:, j]
        if self.kind == "theta" or precision is not None:
            cols["theta"] = self.index(precision)
        frame = pd.DataFrame(cols, index=pd.Index(self.labels, name="type"))
        if self.kind == "tasks":
            assert self.tasks is not None and self.task_measure is not None
            measure = self.task_measure.tolist()
            frame.attrs["task_measure"] = dict(zip(self.tasks, measure, strict=True))
        return frame


# -- constructors ----------------------------------------------------------------


def _default_labels(prefix: str, n: int) -> tuple[str, ...]:
    """Zero-padded labels so that they sort in grid order."""
    width = len(str(n))
    return tuple(f"{prefix}{k:0{width}d}" for k in range(1, n + 1))


def _uniform_prob(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def theta_types(
    theta: Sequence[float] | np.ndarray,
    prob: Sequence[float] | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
) -> TypeSet:
    """Types described by the index alone (equal probabilities unless given)."""
    n = len(theta)
    return TypeSet(
        labels=tuple(labels) if labels is not None else _default_labels("t", n),
        prob=_uniform_prob(n) if prob is None else np.asarray(prob, dtype=float),
        kind="theta",
        theta=np.asarray(theta, dtype=float),
    )


def value_scale_types(
    value_per_task: Sequence[float] | np.ndarray,
    scale: Sequence[float] | np.ndarray,
    prob: Sequence[float] | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
) -> TypeSet:
    """Value-scale types `(w, s)` (equal probabilities unless given)."""
    n = len(value_per_task)
    return TypeSet(
        labels=tuple(labels) if labels is not None else _default_labels("v", n),
        prob=_uniform_prob(n) if prob is None else np.asarray(prob, dtype=float),
        kind="value_scale",
        value_per_task=np.asarray(value_per_task, dtype=float),
        scale=np.asarray(scale, dtype=float),
    )


def labeled_tasks(
    tasks: Sequence[str],
    task_measure: Sequence[float] | np.ndarray,
    value: Sequence[Sequence[float]] | np.ndarray,
    prob: Sequence[float] | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
) -> TypeSet:
    """Labeled-task types: row i of `value` is type i's value of precision per task."""
    value_arr = np.asarray(value, dtype=float)
    n = value_arr.shape[0] if value_arr.ndim else 0
    return TypeSet(
        labels=tuple(labels) if labels is not None else _default_labels("i", n),
        prob=_uniform_prob(n) if prob is None else np.asarray(prob, dtype=float),
        kind="tasks",
        tasks=tuple(tasks),
        task_measure=np.asarray(task_measure, dtype=float),
        value=value_arr,
    )


# -- distributions and discretization ---------------------------------------------


@runtime_checkable
class ContinuousDistribution(Protocol):
    """What we use of a scipy.stats frozen distribution."""

    def cdf(self, x: Any) -> Any: ...

    def ppf(self, q: Any) -> Any: ...


Distribution = tuple[float, float] | ContinuousDistribution
"""A uniform `(lo, hi)` or a scipy.stats-like frozen distribution."""

Bins = Literal["auto", "width", "prob"]


def _as_uniform(dist: Any) -> tuple[float, float] | None:
    if isinstance(dist, (tuple, list)) and len(dist) == 2:
        lo, hi = float(dist[0]), float(dist[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError(f"a uniform (lo, hi) needs finite lo < hi, got {dist!r}")
        return lo, hi
    return None


def _midpoints(n: int, lo: float, hi: float) -> np.ndarray:
    # (2k+1)/(2n) keeps paper grids exact in decimal (0.05, 0.15, ...).
    k = np.arange(n)
    return lo + (hi - lo) * (2 * k + 1) / (2 * n)


def discretize(dist: Distribution, n: int, bins: Bins = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Points and probabilities of an n-point midpoint rule for one distribution.

    ``'width'``: n equal-width bins on the support, point = bin midpoint, probability =
    the bin's mass. ``'prob'``: n equal-probability bins, point = the bin's median
    `ppf((k + 1/2)/n)`, probability 1/n (works for unbounded supports). ``'auto'``
    picks equal width when the support is bounded. A uniform `(lo, hi)` gives the
    same grid either way.
    """
    if n < 1:
        raise ValueError(f"need at least one point, got n={n}")
    uniform = _as_uniform(dist)
    if uniform is not None:
        return _midpoints(n, *uniform), _uniform_prob(n)
    if not isinstance(dist, ContinuousDistribution):
        raise TypeError(f"expected (lo, hi) or an object with cdf and ppf, got {dist!r}")
    if hasattr(dist, "support"):
        lo, hi = (float(v) for v in dist.support())
    else:
        lo, hi = float(dist.ppf(0.0)), float(dist.ppf(1.0))
    bounded = bool(np.isfinite(lo) and np.isfinite(hi))
    if bins == "auto":
        bins = "width" if bounded else "prob"
    if bins == "prob":
        k = np.arange(n)
        return np.asarray(dist.ppf((2 * k + 1) / (2 * n)), dtype=float), _uniform_prob(n)
    if bins != "width":
        raise ValueError(f"bins must be 'auto', 'width' or 'prob', got {bins!r}")
    if not bounded:
        raise ValueError("equal-width bins need a bounded support; use bins='prob'")
    return _width_bins(n, dist.cdf, lo, hi)


def _width_bins(
    n: int, cdf: Callable[[Any], Any], lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    edges = np.linspace(lo, hi, n + 1)
    mass = np.diff(np.asarray([float(cdf(e)) for e in edges]))
    total = mass.sum()
    if np.any(mass < -1e-12) or abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"the cdf puts mass {total!r} on [{lo}, {hi}]; "
            "the interval must carry the whole distribution"
        )
    # Only rounding is removed here: the total is already 1 within 1e-6.
    return _midpoints(n, lo, hi), np.clip(mass, 0.0, None) / np.clip(mass, 0.0, None).sum()


def uniform_grid(n: int, lo: float = 0.0, hi: float = 1.0) -> TypeSet:
    """n equally likely theta types at the midpoints of equal bins of [lo, hi]."""
    theta, prob = discretize((lo, hi), n)
    return theta_types(theta, prob)


def paper_theta_cdf(exponent: float) -> Callable[[float], float]:
    """Cdf of ``theta = w * s^e`` for independent ``w, s ~ U[0, 1]`` (the paper's types).

    ``P(w s^e <= t) = t^(1/e) + (t - t^(1/e)) / (1 - e)`` on ``[0, 1]``; with
    ``e = 1/2`` this is the paper's ``2 t - t^2``.
    """
    if not 0 < exponent < 1:
        raise ValueError(f"the exponent 1 - alpha - beta must be in (0, 1), got {exponent}")

    def cdf(t: float) -> float:
        t = min(max(float(t), 0.0), 1.0)
        corner = t ** (1.0 / exponent)
        return corner + (t - corner) / (1.0 - exponent)

    return cdf


def theta_grid_from_cdf(
    n: int, cdf: Callable[[float], float], lo: float = 0.0, hi: float = 1.0
) -> TypeSet:
    """n theta types at the midpoints of equal-width bins of [lo, hi], each with its cdf mass.

    The paper's example uses `F(theta) = 2 theta - theta^2` on [0, 1], the law of
    `w sqrt(s)` for independent uniform w and s.
    """
    if n < 1:
        raise ValueError(f"need at least one point, got n={n}")
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"need finite lo < hi, got {lo}, {hi}")
    theta, prob = _width_bins(n, cdf, float(lo), float(hi))
    return theta_types(theta, prob)


def value_scale_grid(
    n_w: int,
    n_s: int,
    w_dist: Distribution = (0.0, 1.0),
    s_dist: Distribution = (0.0, 1.0),
    bins: Bins = "auto",
) -> TypeSet:
    """Product grid of independent w and s, each by the midpoint rule of :func:`discretize`.

    Defaults are the paper's U[0,1] x U[0,1], every type with probability 1/(n_w n_s).
    Types are ordered w-major; labels are ``w03_s07`` (1-based grid positions).
    """
    w, pw = discretize(w_dist, n_w, bins)
    s, ps = discretize(s_dist, n_s, bins)
    wd, sd = len(str(n_w)), len(str(n_s))
    labels = tuple(f"w{i + 1:0{wd}d}_s{j + 1:0{sd}d}" for i in range(n_w) for j in range(n_s))
    if _as_uniform(w_dist) is not None and _as_uniform(s_dist) is not None:
        prob = _uniform_prob(n_w * n_s)  # exactly 1/(n_w n_s), not (1/n_w)(1/n_s)
    else:
        prob = np.outer(pw, ps).ravel()
    return value_scale_types(np.repeat(w, n_s), np.tile(s, n_w), prob, labels)


def _sample(dist: Distribution, n: int, rng: np.random.Generator) -> np.ndarray:
    uniform = _as_uniform(dist)
    if uniform is not None:
        return rng.uniform(uniform[0], uniform[1], n)
    if not isinstance(dist, ContinuousDistribution):
        raise TypeError(f"expected (lo, hi) or an object with cdf and ppf, got {dist!r}")
    # Inverse transform: reproducible from the Generator alone.
    return np.asarray(dist.ppf(rng.random(n)), dtype=float)


def sample_value_scale(
    n: int,
    seed: int,
    w_dist: Distribution = (0.0, 1.0),
    s_dist: Distribution = (0.0, 1.0),
) -> TypeSet:
    """n equally likely value-scale types drawn independently (Monte Carlo instead of a grid)."""
    if n < 1:
        raise ValueError(f"need at least one type, got n={n}")
    rng = np.random.default_rng(seed)
    w = _sample(w_dist, n, rng)
    s = _sample(s_dist, n, rng)
    return value_scale_types(w, s)
