"""The domain objects every layer shares: a validated instance and its errors.

An :class:`Instance` (LLM token menus) or :class:`ScreeningInstance` (generic
screening) is what a file, a Python caller or a calibration produces and what the
blocks, the tariff layer and the studies consume; nothing here knows a file format
(``pyomo_llmprice.io`` reads and writes those) or a model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import TypeSet

__all__ = [
    "NO_FILE",
    "Instance",
    "InstanceError",
    "InstanceWarning",
    "ScreeningInstance",
    "without_zero_probability",
]

NO_FILE = "<instance data>"


def _printable(text: str) -> str:
    """Escape line breaks and other control characters, as repr() would."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InstanceError(ValueError):
    """A bad instance, reported as the single line ``<file>: <entry>: <problem>``."""

    def __init__(self, path: str | Path | None, entry: str, message: str) -> None:
        self.path = _printable(str(path)) if path is not None else NO_FILE
        self.entry = _printable(entry)
        self.problem = " ".join(str(message).split())  # always one line
        super().__init__(f"{self.path}: {self.entry}: {self.problem}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (parallel studies)
        return (type(self), (self.path, self.entry, self.problem))


class InstanceWarning(UserWarning):
    """Something allowed but suspicious in an instance (e.g. identical types)."""


@dataclass(frozen=True)
class Instance:
    """A validated screening instance: types, technology and the contract setting."""

    name: str
    path: str | None
    types: TypeSet
    technology: Technology
    scale_constraint: bool = True
    notes: str = ""

    @property
    def theta(self) -> np.ndarray:
        """The one-dimensional type index under this instance's technology: a bare theta
        as given (any precision function), the CES index of task or value-scale types
        (which needs the Cobb-Douglas exponents, a TypeError otherwise)."""
        return self.types.index(self.technology)


@dataclass(frozen=True)
class ScreeningInstance:
    """A validated generic screening instance: types of D dimensions, one good per dimension.

    Type i values goods ``y`` at ``sum_d theta[i, d] h(y_d)`` with ``h`` given by
    `value_form` (``y``, ``y^value_exponent`` or ``1 - exp(-value_rate y)``); the
    seller's cost is ``cost_coef sum_d y_d`` or ``cost_coef/2 sum_d y_d^2``.
    """

    name: str
    path: str | None
    labels: tuple[str, ...]
    prob: np.ndarray
    dims: tuple[str, ...]
    theta: np.ndarray  # (N, D)
    value_form: str = "linear"
    value_exponent: float | None = None
    value_rate: float | None = None
    cost_form: str = "quadratic"
    cost_coef: float = 1.0
    nonnegative: bool = True
    notes: str = ""

    def __post_init__(self) -> None:
        theta = np.array(self.theta, float, ndmin=2)
        prob = np.array(self.prob, float)
        if theta.shape != (len(self.labels), len(self.dims)):
            raise ValueError(
                f"theta has shape {theta.shape}, expected ({len(self.labels)}, {len(self.dims)})"
            )
        if prob.shape != (len(self.labels),):
            raise ValueError(f"prob has shape {prob.shape}, expected ({len(self.labels)},)")
        theta.setflags(write=False)
        prob.setflags(write=False)
        object.__setattr__(self, "theta", theta)
        object.__setattr__(self, "prob", prob)


def without_zero_probability(
    instance: Instance | ScreeningInstance,
) -> Instance | ScreeningInstance:
    """`instance` without its types of probability 0, with a warning naming them.

    Such a type weighs nothing in profit, so the optimum leaves its bundle free: Ipopt
    could publish any bundle for it (an absurd one, at any price). It is dropped from
    the menu instead; it would buy what it likes best among the published packages.
    """
    prob = np.asarray(instance.types.prob if isinstance(instance, Instance) else instance.prob)
    keep = prob > 0
    if keep.all():
        return instance
    labels = instance.types.labels if isinstance(instance, Instance) else instance.labels
    dropped = [lab for lab, k in zip(labels, keep, strict=True) if not k]
    warnings.warn(
        f"{instance.path or instance.name}: prob: {len(dropped)} type(s) with probability 0 "
        f"dropped from the menu ({', '.join(dropped[:5])}{', ...' if len(dropped) > 5 else ''})",
        InstanceWarning,
        stacklevel=3,
    )
    if isinstance(instance, Instance):
        return replace(instance, types=instance.types.subset(keep))
    return replace(
        instance,
        labels=tuple(lab for lab, k in zip(labels, keep, strict=True) if k),
        prob=prob[keep],
        theta=np.asarray(instance.theta)[keep],
    )
