"""What a buyer of each type is worth from each *published* bundle, recomputed.

The certificate of a menu must check what users read, not what the model
believed: the tokens (or goods) and payments of the published table, their
precision recomputed from the technology, every type against every bundle and
against the null bundle. Nothing here reads a Pyomo variable; each function
takes the published columns and the instance's own description of the types
(theta, task values, scales) and returns a :class:`PublishedValues`, which
:func:`pyomo_llmprice.verify.verify_menu` checks on all IC and IR pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from pyomo_llmprice.instance import Instance
from pyomo_llmprice.technology import Technology

__all__ = [
    "Publication",
    "PublishedValues",
    "allocations_publication",
    "allocations_task_values",
    "allocations_value_scale_values",
    "bundle_groups",
    "package_numbers",
    "package_publication",
    "package_values",
    "precision_of_tokens",
    "screening_values",
    "served_types",
]

FloatArray = np.ndarray


@dataclass(frozen=True)
class PublishedValues:
    """Gross values of published bundles: ``rows(sl)`` is the (rows, N) block V[i, k],
    ``own[i]`` = V[i, i] and ``null[i]`` the value of buying nothing (0 unless the
    precision function is positive at zero tokens). ``linear`` is ``(theta, u)`` when
    every value is ``theta_i * u_k`` (one-dimensional types): the check then reads the
    upper envelope in O(N log N) instead of all N^2 pairs
    (:func:`pyomo_llmprice.verify.best_bundles_one_dimensional`)."""

    rows: Callable[[slice], FloatArray]
    own: FloatArray
    null: FloatArray
    linear: tuple[FloatArray, FloatArray] | None = None


@dataclass(frozen=True)
class Publication:
    """What the certificate reads of a published menu, recomputed from the instance:
    every type's values of every bundle, each bundle's cost, the columns describing the
    types (``theta`` where one index orders them) and their coordinates (``description``,
    (N, D): the type largest on each coordinate is a probe buyer telling packages apart).
    """

    values: PublishedValues
    cost: FloatArray
    description: FloatArray
    type_columns: dict[str, FloatArray] = field(default_factory=dict)


def served_types(net_value: FloatArray, tolerance: float | FloatArray) -> np.ndarray:
    """Who is served: a bundle worth more than the type's tolerance over buying nothing.

    Anything at or below it is the null bundle (solver dust, or a type the optimum
    excludes at an exact tie of zero virtual value) and is never priced.
    """
    return np.asarray(net_value, float) > np.asarray(tolerance, float)


def precision_of_tokens(
    technology: Technology, x: FloatArray, y: FloatArray, z: FloatArray
) -> FloatArray:
    """Precision per task of per-task tokens (x, y) and fine-tuning z, from the technology."""
    prec = technology.precision
    a_in, a_out = prec.factors(np.asarray(x, float), np.asarray(y, float))
    out = prec.precision(a_in, a_out, np.asarray(z, float))
    return np.broadcast_to(np.asarray(out, float), np.shape(x)).astype(float)


def _null_precision(technology: Technology) -> float:
    """Precision of no tokens at all: 0 for Cobb-Douglas, maybe not for a user's function."""
    zero = np.zeros(1)
    return float(precision_of_tokens(technology, zero, zero, zero)[0])


def package_values(
    theta: FloatArray, x: FloatArray, y: FloatArray, z: FloatArray, technology: Technology
) -> PublishedValues:
    """Token Packages: type i values package k at ``theta_i * precision(X_k, Y_k, Z_k)``
    (a buyer spreads a package over its tasks; theta is the CES index)."""
    theta = np.asarray(theta, float)
    u = precision_of_tokens(technology, x, y, z)
    null = theta * _null_precision(technology)
    return PublishedValues(
        lambda sl: np.multiply.outer(theta[sl], u), theta * u, null, linear=(theta, u)
    )


def allocations_task_values(
    task_value: FloatArray,
    task_measure: FloatArray,
    x: FloatArray,
    y: FloatArray,
    z: FloatArray,
    technology: Technology,
) -> PublishedValues:
    """Token Allocations, labeled tasks: bundle k sets per-task tokens ``x[k, j]``,
    ``y[k, j]`` for every task category j and one fine-tuning level ``z[k]``; type i
    values it at ``sum_j mu_j w_i[j] precision(x[k, j], y[k, j], z[k])``."""
    w = np.asarray(task_value, float)
    mu = np.asarray(task_measure, float)
    u = precision_of_tokens(technology, x, y, np.asarray(z, float)[:, None])  # (N, J)
    coef = w * mu  # (N, J)
    null = coef.sum(axis=1) * _null_precision(technology)
    return PublishedValues(lambda sl: coef[sl] @ u.T, np.einsum("ij,ij->i", coef, u), null)


def allocations_value_scale_values(
    value_per_task: FloatArray,
    scale: FloatArray,
    covered: FloatArray,
    x: FloatArray,
    y: FloatArray,
    z: FloatArray,
    technology: Technology,
) -> PublishedValues:
    """Token Allocations, value-scale types with the scale constraint: bundle k covers
    tasks of measure ``covered[k]`` with per-task tokens; type ``(w, s)`` values it at
    ``w * min(s, covered[k]) * precision(x[k], y[k], z[k])``."""
    w = np.asarray(value_per_task, float)
    s = np.asarray(scale, float)
    cov = np.asarray(covered, float)
    u = precision_of_tokens(technology, x, y, z)

    def rows(sl: slice) -> FloatArray:
        return w[sl, None] * np.minimum.outer(s[sl], cov) * u[None, :]

    null = w * s * _null_precision(technology)
    return PublishedValues(rows, w * np.minimum(s, cov) * u, null)


def screening_values(
    theta: FloatArray, quality: FloatArray, null_quality: FloatArray | None = None
) -> PublishedValues:
    """Generic screening: type i values bundle k at ``sum_d theta[i, d] h(y[k, d])``;
    ``quality`` holds h of the published goods (recomputed by the value form)."""
    theta = np.asarray(theta, float)
    q = np.asarray(quality, float)
    q0 = np.zeros(q.shape[1]) if null_quality is None else np.asarray(null_quality, float)
    linear = (theta[:, 0], q[:, 0]) if theta.shape[1] == 1 else None
    return PublishedValues(
        lambda sl: theta[sl] @ q.T, np.einsum("ig,ig->i", theta, q), theta @ q0, linear
    )


def bundle_groups(
    key: np.ndarray, order: np.ndarray, atol: float | np.ndarray = 0.0
) -> list[list[int]]:
    """Consecutive runs (in `order`) of bundles that are the same package.

    `key` holds money columns per bundle: its payment and its value to probe buyers
    (for one-dimensional types the top type, whose value differences bound every
    other type's). Two bundles are the same package when every column agrees to
    `atol` (the verification tolerance, one number or one per bundle, the smaller of the
    two bundles' then: no buyer can tell them apart by more) or to rounding (1e-12 of
    the column's scale).
    """
    key = np.asarray(key, float)
    if key.ndim == 1:
        key = key[:, None]
    groups: list[list[int]] = []
    if not len(order):
        return groups
    atol = np.broadcast_to(np.asarray(atol, float), (len(key),))
    rounding = (1e-12 * np.abs(key[order]).max(axis=0)).tolist()
    # plain Python floats: a million bundles in about a second (numpy per row: 20 s)
    rows, tols = key[order].tolist(), atol[order].tolist()
    lead_row: list[float] = []
    lead_tol = 0.0
    for i, row, tol in zip(np.asarray(order).tolist(), rows, tols, strict=True):
        if groups:
            lim = min(tol, lead_tol)
            if all(abs(a - b) <= lim + r for a, b, r in zip(row, lead_row, rounding, strict=True)):
                groups[-1].append(i)
                continue
        groups.append([i])
        lead_row, lead_tol = row, tol
    return groups


def _token_totals(columns: Mapping[str, FloatArray]) -> tuple[FloatArray, FloatArray, FloatArray]:
    return tuple(  # type: ignore[return-value]
        np.asarray(columns[k], float) for k in ("input_tokens", "output_tokens", "finetune_tokens")
    )


def _index_columns(instance: Instance) -> dict[str, FloatArray]:
    """The CES type index theta, where the technology defines one (a bare theta, or any
    types under Cobb-Douglas precision)."""
    try:
        return {"theta": np.asarray(instance.types.index(instance.technology), float)}
    except (TypeError, ValueError):  # a user precision function on task or value-scale types
        return {}


def package_publication(instance: Instance, columns: Mapping[str, FloatArray]) -> Publication:
    """Token Packages: token totals per bundle, valued at ``theta * precision``."""
    x, y, z = _token_totals(columns)
    types = _index_columns(instance)
    theta = types["theta"]
    return Publication(
        package_values(theta, x, y, z, instance.technology),
        np.asarray(instance.technology.cost(x, y, z), float),
        theta[:, None],
        types,
    )


def allocations_publication(instance: Instance, columns: Mapping[str, FloatArray]) -> Publication:
    """Token Allocations: labeled tasks publish ``input_per_task_<task>`` and
    ``output_per_task_<task>``; value-scale types ``covered_scale``, ``input_per_task`` and
    ``output_per_task``; both also the token totals (the cost) and ``finetune_tokens``."""
    types, tech = instance.types, instance.technology
    x_total, y_total, z = _token_totals(columns)
    cost = np.asarray(tech.cost(x_total, y_total, z), float)
    if types.kind == "tasks":
        x = np.column_stack([columns[f"input_per_task_{t}"] for t in types.tasks])
        y = np.column_stack([columns[f"output_per_task_{t}"] for t in types.tasks])
        values = allocations_task_values(types.value, types.task_measure, x, y, z, tech)
        description = np.asarray(types.value, float)
    else:
        values = allocations_value_scale_values(
            types.value_per_task,
            types.scale,
            columns["covered_scale"],
            columns["input_per_task"],
            columns["output_per_task"],
            z,
            tech,
        )
        description = np.column_stack([types.value_per_task, types.scale])
    return Publication(values, cost, description, _index_columns(instance))


def package_numbers(
    values: PublishedValues,
    payment: FloatArray,
    served: np.ndarray,
    tolerance: float | FloatArray,
    description: FloatArray,
    index: FloatArray | None = None,
) -> np.ndarray:
    """Each type's package number (1, 2, ... in increasing type index; 0: nothing).

    Types whose bundles no probe buyer (the type with the largest value of each
    coordinate of `description`; for one-dimensional types the top type, which bounds
    every other type's difference) values differently by more than the tolerance, at
    payments equal to it, hold one package: bunched types are grouped, solver noise is
    not a package of its own. `index` orders the packages (default: by payment).
    """
    payment = np.asarray(payment, float)
    served = np.asarray(served, bool)
    desc = np.asarray(description, float).reshape(len(payment), -1)
    probes = sorted({int(j) for j in np.argmax(desc, axis=0)}) if len(payment) else []
    key = np.column_stack([payment, *(values.rows(slice(p, p + 1))[0] for p in probes)])
    order = np.lexsort((payment, index)) if index is not None else np.argsort(payment)
    package = np.zeros(len(payment), dtype=int)
    for number, members in enumerate(bundle_groups(key, order[served[order]], tolerance), 1):
        package[members] = number
    return package
