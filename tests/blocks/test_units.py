"""Pin pyomo_llmprice.units: an exact change of variables into the instance's own units.

Payoffs and costs are recomputed here from the model's formulas (model.md sections 1-2,
the screening forms), never through the blocks; copies of an instance in other units are
built here from the constructors, not by units.rescale.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from user_precision import ShiftedCobbDouglas

from pyomo_llmprice.instance import Instance, ScreeningInstance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.technology import CobbDouglas, Technology
from pyomo_llmprice.theory import (
    allocations_value_scale_discrete,
    discrete_optimal_menu,
    discrete_optimal_menu_generic,
    pointwise_bundle,
    pointwise_precision,
)
from pyomo_llmprice.types import TypeSet, labeled_tasks, theta_types, value_scale_types
from pyomo_llmprice.units import Units, normalize, rescale, units_of, value_scale

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
SCALES = [1e-6, 1e-3, 1e3, 1e6]
EXACT = 1e-12
UNEQUAL = Technology.cobb_douglas(0.2, 0.35, 0.15, 1.5, 0.3, 1.7, 0.6)


def _read(name: str) -> Instance:
    inst = read_instance(INSTANCES / name)
    assert isinstance(inst, Instance)
    return inst


def _token_instances() -> dict[str, Instance]:
    rng = np.random.default_rng(7)
    return {
        "paper_theta_20": _read("paper_theta_20.dat"),
        "paper_vs_5x5": _read("paper_vs_5x5.dat"),
        "tasks": _read("tasks_coding_chat_translation.dat"),
        "calibrated": _read("calibrated_gpt4o_mini.dat"),
        "unequal_theta": Instance("u", None, theta_types(rng.uniform(0, 3, 9)), UNEQUAL),
        "unequal_vs": Instance(
            "v", None, value_scale_types(rng.uniform(0, 2, 8), rng.uniform(0.1, 3, 8)), UNEQUAL
        ),
        # the top type does not fine-tune here (c_z high): c~_z > gamma
        "no_finetune": Instance(
            "n", None, theta_types([0.2, 0.5, 0.9]), Technology.cobb_douglas(cost_finetune=50.0)
        ),
    }


TOKEN_INSTANCES = _token_instances()


def _cd(tech: Technology, x, y, z):
    p = tech.cobb_douglas_precision
    return x**p.alpha * y**p.beta * (p.base_quality + z) ** p.gamma


def _cost(tech: Technology, x, y, z):
    return tech.cost_input * x + tech.cost_output * y + tech.cost_finetune * z


def _close(a, b, rtol: float = EXACT) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


# --------------------------------------------------------------------------------------
# Closed-form identities of the normalized instance (module docstring)
# --------------------------------------------------------------------------------------


def _expected_welfare(inst: Instance) -> float:
    """sum_i f_i (theta_i u - cost) at every type's first best (prices = marginal costs)."""
    x, y, z = pointwise_bundle(inst.theta, inst.technology)
    surplus = inst.theta * _cd(inst.technology, x, y, z) - _cost(inst.technology, x, y, z)
    return float(inst.types.prob @ surplus)


@pytest.mark.parametrize("name", sorted(TOKEN_INSTANCES))
def test_units_are_the_first_best(name):
    """Tokens: the top type's first best; money: the expected first-best welfare; value
    scale: the top type's first-best gross value."""
    inst = TOKEN_INSTANCES[name]
    tech, p = inst.technology, inst.technology.cobb_douglas_precision
    top = inst.theta[inst.types.prob > 0].max()
    x, y, z = (float(v) for v in pointwise_bundle(top, tech))
    new, units = normalize(inst)
    assert units.reason == ""
    # fine-tuning's unit: b + Z, or when the first best buys none, the amount worth the
    # money unit at cost if that is less (its normalized cost is then 1)
    unit_z = (
        p.base_quality + z
        if z > 0
        else min(p.base_quality, _expected_welfare(inst) / tech.cost_finetune)
    )
    _close([units.input, units.output, units.finetune], [x, y, unit_z])
    # the precision unit the change of variables implies: x^a y^b (unit of b + z)^g, the
    # top first best's precision when fine-tuning's unit is b + Z
    _close(units.characteristic, x**p.alpha * y**p.beta * unit_z**p.gamma)
    if unit_z == p.base_quality + z:
        _close(units.characteristic, _cd(tech, x, y, z))
    _close(units.money, _expected_welfare(inst))
    _close(units.value_scale, top * float(pointwise_precision(top, tech)))
    _close(value_scale(inst), units.value_scale)
    # normalized: expected welfare 1, top theta rho = V / M, top first best (1, 1, 1 - b~)
    # of precision 1 and value rho
    rho = units.value_scale / units.money
    q = new.technology.cobb_douglas_precision
    _close(_expected_welfare(new), 1.0)
    # the top's normalized precision is ((b + Z) / unit)^g (1 with the unit b + Z)
    top_precision = ((p.base_quality + z) / unit_z) ** p.gamma
    _close(new.theta[new.types.prob > 0].max() * top_precision, rho)
    _close(value_scale(new), rho)
    _close(q.base_quality, p.base_quality / unit_z)
    xn, yn, zn = pointwise_bundle(new.theta[new.types.prob > 0].max(), new.technology)
    _close([xn, yn, q.base_quality + zn], [1.0, 1.0, (p.base_quality + z) / unit_z])
    # FOCs of the first best: c~_x = alpha rho, c~_y = beta rho, c~_z = gamma rho iff it
    # fine-tunes (above otherwise)
    _close([new.technology.cost_input, new.technology.cost_output], [p.alpha * rho, p.beta * rho])
    if z > 0:
        _close(new.technology.cost_finetune, p.gamma * rho)
    else:  # the marginal value of fine-tuning at the first best, gamma rho / b~, is no more
        assert new.technology.cost_finetune >= p.gamma * rho / q.base_quality * (1 - 1e-12)
    assert (q.alpha, q.beta, q.gamma) == (p.alpha, p.beta, p.gamma)
    assert new.types.labels == inst.types.labels and new.types.kind == inst.types.kind
    np.testing.assert_array_equal(new.types.prob, inst.types.prob)
    assert (new.name, new.path, new.notes) == (inst.name, inst.path, inst.notes)


def test_no_finetune_case_is_exercised():
    inst = TOKEN_INSTANCES["no_finetune"]
    assert float(pointwise_bundle(0.9, inst.technology)[2]) == 0.0
    new, units = normalize(inst)
    b = new.technology.cobb_douglas_precision.base_quality
    assert new.technology.cost_finetune > 0.25 * units.value_scale / units.money / b


@pytest.mark.parametrize("name", ["paper_theta_20", "tasks", "calibrated"])
def test_a_normalized_instance_is_its_own_units(name):
    new, units = normalize(TOKEN_INSTANCES[name])
    again, same = normalize(new)
    _close([same.money, same.input, same.output, same.finetune, same.characteristic], 1.0)
    _close(same.value_scale, units.value_scale / units.money)
    _same_numbers(again, new)


# --------------------------------------------------------------------------------------
# Exactness: every payoff and cost is the original one over M
# --------------------------------------------------------------------------------------


def _random_bundles(rng: np.random.Generator, shape: tuple[int, ...]):
    return (
        rng.lognormal(0, 2, shape),
        rng.lognormal(0, 2, shape),
        np.where(rng.random(shape) < 0.3, 0.0, rng.lognormal(0, 2, shape)),
    )


@pytest.mark.parametrize("name", sorted(TOKEN_INSTANCES))
def test_packages_values_and_costs_are_exact(name):
    """Token Packages: type i values package k at theta_i X^a Y^b (b+Z)^g (theta: the CES
    index the block screens on, recomputed from the normalized types)."""
    inst = TOKEN_INSTANCES[name]
    new, u = normalize(inst)
    xn, yn, zn = _random_bundles(np.random.default_rng(1), (25,))
    x, y, z = u.tokens_to_instance(xn, yn, zn)
    value = np.multiply.outer(inst.theta, _cd(inst.technology, x, y, z))
    value_n = np.multiply.outer(new.theta, _cd(new.technology, xn, yn, zn))
    _close(value / u.money, value_n)
    _close(u.money_to_instance(value_n), value)
    _close(_cost(inst.technology, x, y, z) / u.money, _cost(new.technology, xn, yn, zn))
    _close(
        u.characteristic_to_instance(_cd(new.technology, xn, yn, zn)), _cd(inst.technology, x, y, z)
    )
    _close(u.type_values_to_instance(new.theta), inst.theta)


@pytest.mark.parametrize("name", ["paper_vs_5x5", "unequal_vs"])
def test_value_scale_allocations_values_and_costs_are_exact(name):
    """Type (w, s) values the bundle (x', y', z') covering s' tasks at w min(s, s') u(x', y',
    z'); it costs c_x s' x' + c_y s' y' + c_z z' (per-task tokens, model.md section 2)."""
    inst = TOKEN_INSTANCES[name]
    new, u = normalize(inst)
    rng = np.random.default_rng(2)
    xn, yn, zn = _random_bundles(rng, (len(inst.types),))
    x, y, z = u.tokens_to_instance(xn, yn, zn)
    t, tn = inst.types, new.types
    np.testing.assert_array_equal(tn.scale, t.scale)
    cover = np.minimum.outer(t.scale, t.scale)  # [i, k]: min(s_i, s'_k)
    value = t.value_per_task[:, None] * cover * _cd(inst.technology, x, y, z)[None, :]
    value_n = tn.value_per_task[:, None] * cover * _cd(new.technology, xn, yn, zn)[None, :]
    _close(value / u.money, value_n)
    s = t.scale
    cost = _cost(inst.technology, s * x, s * y, z)
    _close(cost / u.money, _cost(new.technology, s * xn, s * yn, zn))
    _close(u.type_values_to_instance(tn.value_per_task), t.value_per_task)


def test_labeled_tasks_allocations_values_and_costs_are_exact():
    """Type i values per-task tokens (x_j, y_j) and z at sum_j mu_j w_ij u(x_j, y_j, z);
    they cost sum_j mu_j (c_x x_j + c_y y_j) + c_z z."""
    inst = TOKEN_INSTANCES["tasks"]
    new, u = normalize(inst)
    rng = np.random.default_rng(3)
    n, j = inst.types.value.shape
    xn, yn, _ = _random_bundles(rng, (n, j))
    zn = _random_bundles(rng, (n,))[2]
    x, y, z = u.tokens_to_instance(xn, yn, zn)
    mu = inst.types.task_measure
    np.testing.assert_array_equal(new.types.task_measure, mu)
    prec = _cd(inst.technology, x, y, z[:, None])  # [k, j]
    prec_n = _cd(new.technology, xn, yn, zn[:, None])
    value = np.einsum("ij,kj->ik", inst.types.value * mu, prec)
    value_n = np.einsum("ij,kj->ik", new.types.value * mu, prec_n)
    _close(value / u.money, value_n)
    cost = _cost(inst.technology, x @ mu, y @ mu, z)
    _close(cost / u.money, _cost(new.technology, xn @ mu, yn @ mu, zn))
    # the CES index of the normalized task values is the normalized index
    _close(new.theta, inst.theta / u.type_value)


# --------------------------------------------------------------------------------------
# Equivariance: the same instance in other units normalizes to the same numbers
# --------------------------------------------------------------------------------------


def _types_times(types: TypeSet, factor: float) -> TypeSet:
    if types.kind == "theta":
        return theta_types(types.theta * factor, types.prob, types.labels)
    if types.kind == "value_scale":
        return value_scale_types(
            types.value_per_task * factor, types.scale, types.prob, types.labels
        )
    return labeled_tasks(
        types.tasks, types.task_measure, types.value * factor, types.prob, types.labels
    )


def _in_money(inst: Instance, k: float) -> Instance:
    """The instance with money counted in units k times smaller: values and costs times k."""
    t = inst.technology
    tech = Technology(t.cost_input * k, t.cost_output * k, t.cost_finetune * k, t.precision)
    return Instance(inst.name, inst.path, _types_times(inst.types, k), tech, inst.scale_constraint)


def _in_tokens(inst: Instance, ux: float, uy: float, uz: float) -> Instance:
    """Tokens counted in new units of u_j old tokens (x_old = u_x x_new): the value
    theta x^a y^b (b+z)^g = theta u_x^a u_y^b u_z^g x_new^a y_new^b (b/u_z + z_new)^g, and
    the cost c_x x_old = (c_x u_x) x_new. Exponents fixed."""
    t, p = inst.technology, inst.technology.cobb_douglas_precision
    tech = Technology(
        t.cost_input * ux,
        t.cost_output * uy,
        t.cost_finetune * uz,
        CobbDouglas(p.alpha, p.beta, p.gamma, p.base_quality / uz),
    )
    factor = ux**p.alpha * uy**p.beta * uz**p.gamma
    return Instance(
        inst.name, inst.path, _types_times(inst.types, factor), tech, inst.scale_constraint
    )


def _same_numbers(a: Instance, b: Instance, rtol: float = EXACT) -> None:
    ta, tb = a.technology, b.technology
    _close(
        [ta.cost_input, ta.cost_output, ta.cost_finetune],
        [tb.cost_input, tb.cost_output, tb.cost_finetune],
        rtol,
    )
    _close(ta.cobb_douglas_precision.base_quality, tb.cobb_douglas_precision.base_quality, rtol)
    for field in ("theta", "value_per_task", "scale", "value", "task_measure", "prob"):
        va, vb = getattr(a.types, field), getattr(b.types, field)
        assert (va is None) == (vb is None)
        if va is not None:
            _close(va, vb, rtol)


@pytest.mark.parametrize("name", sorted(TOKEN_INSTANCES))
@pytest.mark.parametrize("k", SCALES)
def test_money_copies_normalize_to_the_same_numbers(name, k):
    inst = TOKEN_INSTANCES[name]
    new, units = normalize(inst)
    new_k, units_k = normalize(_in_money(inst, k))
    _same_numbers(new_k, new)
    _close(units_k.money, k * units.money)
    _close(units_k.value_scale, k * units.value_scale)
    _close(value_scale(_in_money(inst, k)), k * value_scale(inst))
    _close(
        [units_k.input, units_k.output, units_k.finetune, units_k.characteristic],
        [units.input, units.output, units.finetune, units.characteristic],
    )


@pytest.mark.parametrize("name", sorted(TOKEN_INSTANCES))
@pytest.mark.parametrize("u", [(1e-6, 1e-6, 1e-6), (1e6, 1e3, 1e-3), (1e-3, 1e6, 1e3)])
def test_token_redenominations_normalize_to_the_same_numbers(name, u):
    inst = TOKEN_INSTANCES[name]
    new, units = normalize(inst)
    other = _in_tokens(inst, *u)
    new_u, units_u = normalize(other)
    _same_numbers(new_u, new)
    _close(
        [units_u.input, units_u.output, units_u.finetune],
        np.divide([units.input, units.output, units.finetune], u),
    )
    _close(units_u.money, units.money)  # money is money: the value scale does not move
    _close(value_scale(other), value_scale(inst))


def test_rescale_builds_the_copies_in_other_units():
    inst = TOKEN_INSTANCES["unequal_vs"]
    _same_numbers(rescale(inst, money=1e-3)[0], _in_money(inst, 1e3))
    moved, units = rescale(inst, input=1e6, output=1e3, finetune=1e-3)
    _same_numbers(moved, _in_tokens(inst, 1e6, 1e3, 1e-3))
    p = inst.technology.cobb_douglas_precision
    _close(units.characteristic, 1e6**p.alpha * 1e3**p.beta * 1e-3**p.gamma)
    same, identity = rescale(inst)
    assert same is inst and identity.is_identity


# --------------------------------------------------------------------------------------
# The exact discrete optimum of the normalized instance, mapped back
# --------------------------------------------------------------------------------------


def _packages_menu(inst: Instance):
    return discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)


def _assert_same_menu(menu, ref, u: Units, rtol: float = 1e-9) -> None:
    """`menu` (normalized units) mapped back equals `ref`; entries that are 0 in one are
    0 up to rtol of the scale of their column."""

    def close(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)))

    fine = "Z" if hasattr(menu, "Z") else "z"  # DiscreteMenu.Z, ValueScaleMenu.z
    x, y, z = u.tokens_to_instance(menu.X, menu.Y, getattr(menu, fine))
    close(x, ref.X)
    close(y, ref.Y)
    close(z, getattr(ref, fine))
    close(u.money_to_instance(menu.payment), ref.payment)
    close(u.money_to_instance(menu.rent), ref.rent)
    close(u.money_to_instance(menu.seller_cost), ref.seller_cost)
    np.testing.assert_array_equal(menu.served, ref.served)
    _close(u.money_to_instance(menu.profit), ref.profit, rtol)


@pytest.mark.parametrize("name", ["paper_theta_20", "paper_vs_5x5", "unequal_theta", "calibrated"])
def test_exact_packages_optimum_maps_back(name):
    inst = TOKEN_INSTANCES[name]
    ref = _packages_menu(inst)
    new, u = normalize(inst)
    _assert_same_menu(_packages_menu(new), ref, u)
    for k in SCALES:  # a copy in other money units, normalized, mapped back to its units
        copy = _in_money(inst, k)
        new_k, u_k = normalize(copy)
        _assert_same_menu(_packages_menu(new_k), _packages_menu(copy), u_k)
        _close(u_k.money_to_instance(_packages_menu(new_k).profit), k * ref.profit, 1e-9)


def test_paper_theta_20_optimum_is_unchanged_by_token_units():
    inst = TOKEN_INSTANCES["paper_theta_20"]
    ref = _packages_menu(inst)
    copy = _in_tokens(inst, 1e-6, 1e3, 1e6)  # x_old = u x_new: x_new = x_old / u
    new, u = normalize(copy)
    menu = _packages_menu(new)
    x, y, z = u.tokens_to_instance(menu.X, menu.Y, menu.Z)
    _close(u.money_to_instance(menu.profit), ref.profit, 1e-9)
    np.testing.assert_allclose(x * 1e-6, ref.X, rtol=1e-9, atol=1e-9 * ref.X.max())
    np.testing.assert_allclose(z * 1e6, ref.Z, rtol=1e-9, atol=1e-9 * ref.Z.max())
    np.testing.assert_allclose(y * 1e3, ref.Y, rtol=1e-9, atol=1e-9 * ref.Y.max())


@pytest.mark.parametrize("name", ["paper_vs_5x5", "unequal_vs"])
def test_exact_value_scale_allocations_optimum_maps_back(name):
    inst = TOKEN_INSTANCES[name]
    t = inst.types

    def solve(i: Instance):
        return allocations_value_scale_discrete(
            i.types.value_per_task, i.types.scale, i.types.prob, i.technology
        )

    ref = solve(inst)
    new, u = normalize(inst)
    menu = solve(new)
    _assert_same_menu(menu, ref, u)
    x, y, _ = u.tokens_to_instance(menu.x, menu.y, 0.0)  # per-task tokens
    np.testing.assert_allclose(x, ref.x, rtol=1e-9, atol=1e-9 * ref.x.max())
    np.testing.assert_allclose(y, ref.y, rtol=1e-9, atol=1e-9 * ref.y.max())
    np.testing.assert_array_equal(new.types.scale, t.scale)


# --------------------------------------------------------------------------------------
# Generic screening: each value and cost form
# --------------------------------------------------------------------------------------


def _screening(
    theta,
    value_form: str,
    cost_form: str,
    cost_coef: float = 1.0,
    prob=None,
    exponent: float | None = None,
    rate: float | None = None,
    nonnegative: bool = True,
) -> ScreeningInstance:
    th = np.array(theta, float, ndmin=2)
    th = th.T if np.ndim(theta) == 1 else th
    n, d = th.shape
    return ScreeningInstance(
        name="s",
        path=None,
        labels=tuple(f"t{i}" for i in range(n)),
        prob=np.full(n, 1 / n) if prob is None else np.asarray(prob, float),
        dims=tuple(f"d{j}" for j in range(d)),
        theta=th,
        value_form=value_form,
        value_exponent=exponent,
        value_rate=rate,
        cost_form=cost_form,
        cost_coef=cost_coef,
        nonnegative=nonnegative,
    )


def _h(inst: ScreeningInstance, y):
    if inst.value_form == "linear":
        return y
    if inst.value_form == "power":
        return y**inst.value_exponent
    return 1 - np.exp(-inst.value_rate * y)


def _screening_cost(inst: ScreeningInstance, y):
    if inst.cost_form == "linear":
        return inst.cost_coef * y.sum(axis=-1)
    return inst.cost_coef / 2 * (y**2).sum(axis=-1)


SCREENING = {
    "mussa_rosen": read_instance(INSTANCES / "screening" / "mussa_rosen_10.dat"),
    "saturating_linear": read_instance(INSTANCES / "screening" / "two_type_saturating.dat"),
    "rochet_chone": read_instance(INSTANCES / "screening" / "rochet_chone_5x5.dat"),
    "linear_free_sign": _screening(
        [[-2.0, 0.5], [1.0, -0.3], [0.2, 0.1]], "linear", "quadratic", 0.7, nonnegative=False
    ),
    "power_linear": _screening([0.3, 0.8, 1.7], "power", "linear", 0.4, exponent=0.6),
    "power_quadratic": _screening(
        [[0.3, 2.0], [0.8, 0.1]], "power", "quadratic", 2.5, exponent=0.3
    ),
    "saturating_quadratic": _screening([0.5, 1.0, 4.0], "saturating", "quadratic", 0.2, rate=1.5),
}


def _first_best(inst: ScreeningInstance):
    """Per type and good, the closed-form first best (FOC theta h'(y) = C'(y))."""
    th, c = np.maximum(inst.theta, 0), inst.cost_coef
    if inst.value_form == "linear":
        return (inst.theta if not inst.nonnegative else th) / c
    if inst.value_form == "power":
        e = inst.value_exponent
        return (e * th / c) ** (1 / ((1 if inst.cost_form == "linear" else 2) - e))
    r = inst.value_rate
    if inst.cost_form == "linear":
        return np.where(th * r > c, np.log(np.maximum(th * r / c, 1)) / r, 0.0)
    # theta r exp(-r y) = c y: solve by bisection, independently of the Lambert W
    lo, hi = np.zeros_like(th), np.full_like(th, 1e3)
    for _ in range(200):
        mid = (lo + hi) / 2
        up = th * r * np.exp(-r * mid) > c * mid
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return lo


@pytest.mark.parametrize("name", sorted(SCREENING))
def test_screening_values_and_costs_are_exact(name):
    inst = SCREENING[name]
    new, u = normalize(inst)
    assert u.reason == "" and len(u.goods) == len(inst.dims)
    assert (new.value_form, new.cost_form, new.nonnegative) == (
        inst.value_form,
        inst.cost_form,
        inst.nonnegative,
    )
    assert new.cost_coef > 0 and new.value_exponent == inst.value_exponent
    assert new.value_rate is None or new.value_rate > 0
    rng = np.random.default_rng(4)
    yn = rng.lognormal(0, 1.5, (30, len(inst.dims)))
    if not inst.nonnegative:
        yn *= rng.choice([-1.0, 1.0], yn.shape)
    y = u.goods_to_instance(yn)
    value = np.einsum("id,kd->ik", inst.theta, _h(inst, y))
    value_n = np.einsum("id,kd->ik", new.theta, _h(new, yn))
    _close(value / u.money, value_n)
    _close(_screening_cost(inst, y) / u.money, _screening_cost(new, yn))
    _close(u.characteristic_to_instance(_h(new, yn)), _h(inst, y))
    _close(u.type_values_to_instance(new.theta), inst.theta)
    _close(u.goods_from_instance(y), yn)


@pytest.mark.parametrize("name", sorted(SCREENING))
def test_screening_units_are_the_first_best(name):
    inst = SCREENING[name]
    fb = _first_best(inst)
    gross = np.einsum("id,id->i", inst.theta, _h(inst, fb))
    top = int(np.argmax(np.where(inst.prob > 0, gross, -np.inf)))
    u = units_of(inst)
    rtol = 1e-12 if name != "saturating_quadratic" else 1e-10  # bisection vs Lambert W
    _close(u.value_scale, gross[top], rtol)
    _close(u.money, inst.prob @ (gross - _screening_cost(inst, fb)), rtol)
    _close(u.goods, np.full(len(inst.dims), np.abs(fb[top]).max()), rtol)
    _close(value_scale(inst), u.value_scale)


@pytest.mark.parametrize(
    ("name", "theta_top", "cost"),
    [
        ("mussa_rosen", 1.0, 1.0),  # theta y - y^2/2: y = theta, value theta^2
        ("power_linear", 1.0, 0.6),  # c y = e theta y^e at the FOC: c~ = e
        ("saturating_linear", None, None),
    ],
)
def test_screening_normalized_closed_forms(name, theta_top, cost):
    """In units of rho = V / M (top value over expected welfare), the top type's first best
    is y~ = 1 with value rho."""
    new, u = normalize(SCREENING[name])
    rho = u.value_scale / u.money
    if theta_top is not None:
        _close(new.theta.max(), theta_top * rho)
        _close(new.cost_coef, cost * rho)
    else:  # theta r e^(-r y) = c at y~ = 1: c~ = theta~ r~ e^(-r~); theta~ (1 - e^(-r~)) = rho
        th, r = new.theta.max(), new.value_rate
        _close(new.cost_coef, th * r * np.exp(-r))
        _close(th * -np.expm1(-r), rho)
    _close(value_scale(new), rho)


def _screening_in(inst: ScreeningInstance, money: float, q: float) -> ScreeningInstance:
    """The instance with money values times `money` and goods counted in units 1/q of the
    old ones (y_new = q y_old), built from the formulas of each form."""
    theta, changes = inst.theta * money, {}
    if inst.value_form == "linear":  # theta y_old = (theta / q) y_new
        theta = theta / q
    elif inst.value_form == "power":
        theta = theta / q**inst.value_exponent
    else:
        changes["value_rate"] = inst.value_rate / q
    scale = q if inst.cost_form == "linear" else q * q
    return replace(inst, theta=theta, cost_coef=inst.cost_coef * money / scale, **changes)


@pytest.mark.parametrize("name", sorted(SCREENING))
@pytest.mark.parametrize(("k", "q"), [(1e-6, 1.0), (1e6, 1.0), (1e-3, 1e3), (1e3, 1e-6)])
def test_screening_copies_normalize_to_the_same_numbers(name, k, q):
    inst = SCREENING[name]
    new, u = normalize(inst)
    copy = _screening_in(inst, k, q)
    new_c, u_c = normalize(copy)
    rtol = 1e-12 if name != "saturating_quadratic" else 1e-10
    _close(new_c.theta, new.theta, rtol)
    _close(new_c.cost_coef, new.cost_coef, rtol)
    if new.value_rate is not None:
        _close(new_c.value_rate, new.value_rate, rtol)
    _close(u_c.money, k * u.money, rtol)
    _close(u_c.value_scale, k * u.value_scale, rtol)
    _close(u_c.goods, np.asarray(u.goods) * q, rtol)
    _close(value_scale(copy), k * value_scale(inst), rtol)


@pytest.mark.parametrize(
    "name", ["mussa_rosen", "saturating_linear", "power_linear", "saturating_quadratic"]
)
def test_exact_screening_optimum_maps_back(name):
    """One-dimensional screening in quality q = h(y): value theta q, cost C(h^-1(q))."""
    inst = SCREENING[name]

    def solve(i: ScreeningInstance):
        th = i.theta[:, 0]
        if i.value_form == "linear":  # q = y, C = c q^2 / 2: argmax phi/c
            return discrete_optimal_menu_generic(
                th,
                i.prob,
                lambda p: np.maximum(p, 0) / i.cost_coef,
                lambda q: i.cost_coef * q**2 / 2,
            )
        if i.value_form == "power":  # q = y^e, C = c q^(1/e): phi = (c/e) q^(1/e - 1)
            e, c = i.value_exponent, i.cost_coef
            return discrete_optimal_menu_generic(
                th,
                i.prob,
                lambda p: (np.maximum(p, 0) * e / c) ** (e / (1 - e)),
                lambda q: c * q ** (1 / e),
            )
        r, c = i.value_rate, i.cost_coef
        if i.cost_form == "linear":  # q = 1 - e^(-r y), C = -(c/r) ln(1 - q): q = 1 - c/(r phi)
            return discrete_optimal_menu_generic(
                th,
                i.prob,
                lambda p: np.where(p * r > c, 1 - c / (r * np.where(p * r > c, p, 1)), 0.0),
                lambda q: -(c / r) * np.log1p(-q),
            )

        # quadratic: C = (c/2) (ln(1 - q) / r)^2, C'(q) = -c ln(1 - q) / (r^2 (1 - q)) = phi
        # in y: phi r e^(-r y) = c y, by bisection
        def argmax(p):
            fb = _first_best(replace(i, theta=np.maximum(p, 0)[:, None]))[:, 0]
            return -np.expm1(-r * fb)

        return discrete_optimal_menu_generic(
            th, i.prob, argmax, lambda q: (c / 2) * (np.log1p(-q) / r) ** 2
        )

    ref = solve(inst)
    new, u = normalize(inst)
    menu = solve(new)
    rtol = 1e-9
    np.testing.assert_allclose(
        u.characteristic_to_instance(menu.u), ref.u, rtol=rtol, atol=rtol * ref.u.max()
    )
    np.testing.assert_allclose(
        u.money_to_instance(menu.payment), ref.payment, rtol=rtol, atol=rtol * ref.payment.max()
    )
    _close(u.money_to_instance(menu.profit), ref.profit, rtol)


# --------------------------------------------------------------------------------------
# Precision functions that are not Cobb-Douglas: money only
# --------------------------------------------------------------------------------------


def _user(inst: Instance) -> Instance:
    t, p = inst.technology, inst.technology.cobb_douglas_precision
    user = ShiftedCobbDouglas(p.alpha, p.beta, p.gamma, p.base_quality)
    return replace(inst, technology=replace(t, precision=user))


@pytest.mark.parametrize("name", ["paper_theta_20", "unequal_theta", "no_finetune"])
def test_user_precision_money_scale_is_the_numerical_first_best(name):
    """Same function as Cobb-Douglas: the numerical M matches the closed form."""
    inst = TOKEN_INSTANCES[name]
    user = _user(inst)
    new, u = normalize(user)
    assert "only money" in u.reason
    assert (u.input, u.output, u.finetune, u.characteristic) == (1.0, 1.0, 1.0, 1.0)
    _close(u.money, value_scale(inst), 1e-6)
    assert new.technology.precision is user.technology.precision
    # exact: every payoff and cost over M, tokens unchanged
    xn, yn, zn = _random_bundles(np.random.default_rng(5), (12,))
    p = user.technology.precision
    prec = p.precision(*p.factors(xn, yn), zn)
    _close(
        np.multiply.outer(user.types.theta, prec) / u.money,
        np.multiply.outer(new.types.theta, prec),
    )
    _close(_cost(user.technology, xn, yn, zn) / u.money, _cost(new.technology, xn, yn, zn))


@pytest.mark.parametrize("k", SCALES)
def test_user_precision_money_copies(k):
    user = _user(TOKEN_INSTANCES["unequal_theta"])
    new, u = normalize(user)
    copy = replace(
        user,
        types=_types_times(user.types, k),
        technology=replace(
            user.technology,
            cost_input=user.technology.cost_input * k,
            cost_output=user.technology.cost_output * k,
            cost_finetune=user.technology.cost_finetune * k,
        ),
    )
    new_k, u_k = normalize(copy)
    # numerical: equivariant to the accuracy of the inner solve, not to rounding
    _close(u_k.money, k * u.money, 1e-7)
    _close(new_k.types.theta, new.types.theta, 1e-7)


def test_user_precision_value_scale_allocations_use_per_task_tokens():
    """Type (w, s): first best of s tasks, w s P(x, y, z) - s (c_x x + c_y y) - c_z z; for
    the Cobb-Douglas formula it is the packages first best of theta = w s^(1-a-b)."""
    inst = TOKEN_INSTANCES["unequal_vs"]
    user = _user(inst)
    w, s = inst.types.value_per_task, inst.types.scale
    top = int(np.argmax(w * s))  # the numerical route's top type: most value per precision
    x, y, z = (float(v) for v in pointwise_bundle(inst.theta[top], inst.technology))
    expected = inst.theta[top] * _cd(inst.technology, x, y, z)
    _close(units_of(user).money, expected, 1e-6)


def test_user_precision_labeled_tasks_share_fine_tuning():
    inst = TOKEN_INSTANCES["tasks"]
    user = _user(inst)
    vals = inst.types.value
    mu = inst.types.task_measure
    top = int(np.argmax(vals @ mu))
    x, y, z = (float(v) for v in pointwise_bundle(inst.theta[top], inst.technology))
    _close(units_of(user).money, inst.theta[top] * _cd(inst.technology, x, y, z), 1e-6)


# --------------------------------------------------------------------------------------
# Instances that cannot be normalized: identity units with a reason, never an error
# --------------------------------------------------------------------------------------


def test_nobody_values_precision_gives_identity_units_and_a_reason():
    inst = Instance("zero", None, theta_types([0.0, 0.0]), Technology())
    new, u = normalize(inst)
    assert new is inst and u.is_identity and "null menu" in u.reason
    assert value_scale(inst) == 1.0


def test_zero_probability_top_type_does_not_set_the_scale():
    inst = Instance("z", None, theta_types([0.5, 1.0, 50.0], [0.5, 0.5, 0.0]), Technology())
    ref = Instance("r", None, theta_types([0.5, 1.0], [0.5, 0.5]), Technology())
    _close(value_scale(inst), value_scale(ref))
    new, units = normalize(inst)
    _close(units.money, units_of(ref).money)  # a zero-mass type adds no expected welfare
    rho = units.value_scale / units.money
    _close(new.types.theta, np.array([0.5, 1.0, 50.0]) * rho)  # theta_max = 1 becomes rho


@pytest.mark.parametrize(
    ("inst", "words"),
    [
        (_screening([0.05, 0.1], "saturating", "linear", 1.0, rate=2.0), "nobody gains"),
        (_screening([0.5, 1.0], "linear", "linear"), "unbounded"),
        (_screening([0.5, 1.0], "custom", "custom"), "not built-in"),
        (_screening([0.0, -1.0], "power", "quadratic", exponent=0.5), "nobody gains"),
    ],
)
def test_screening_without_a_first_best_gives_identity_units(inst, words):
    new, u = normalize(inst)
    assert new is inst and u.is_identity and words in u.reason
    assert u.goods == (1.0,) and value_scale(inst) == 1.0


# --------------------------------------------------------------------------------------
# Units and rescale: the API
# --------------------------------------------------------------------------------------


def test_units_round_trip_and_shapes():
    u = Units(money=3.0, input=5.0, output=7.0, finetune=11.0, characteristic=2.0)
    assert isinstance(u.money_to_instance(2.0), float) and u.money_to_instance(2.0) == 6.0
    x, y, z = u.tokens_to_instance([1.0, 2.0], [1.0, 2.0], [0.0, 1.0])
    np.testing.assert_array_equal(x, [5.0, 10.0])
    _close(u.tokens_from_instance(x, y, z), ([1.0, 2.0], [1.0, 2.0], [0.0, 1.0]))
    assert u.type_value == 1.5 and u.type_values_to_instance(2.0) == 3.0
    _close(u.type_values_from_instance(3.0), 2.0)
    _close(u.characteristic_from_instance(u.characteristic_to_instance(0.7)), 0.7)
    _close(u.money_from_instance(6.0), 2.0)
    g = Units(money=2.0, goods=(3.0, 3.0))
    np.testing.assert_array_equal(g.goods_to_instance([[1.0, 2.0]]), [[3.0, 6.0]])
    with pytest.raises(ValueError, match="2 goods"):
        g.goods_to_instance([1.0, 2.0, 3.0])
    assert Units().is_identity and not u.is_identity
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive and finite"):
            Units(money=bad)
        with pytest.raises(ValueError, match="positive and finite"):
            rescale(TOKEN_INSTANCES["paper_theta_20"], input=bad)
    with pytest.raises(ValueError, match="positive and finite"):
        Units(goods=(1.0, 0.0))


def test_rescale_refuses_what_it_cannot_express():
    with pytest.raises(ValueError, match="not Cobb-Douglas"):
        rescale(_user(TOKEN_INSTANCES["paper_theta_20"]), input=2.0)
    assert rescale(_user(TOKEN_INSTANCES["paper_theta_20"]), money=2.0)[1].money == 2.0
    with pytest.raises(ValueError, match="share one"):
        rescale(SCREENING["rochet_chone"], goods=(1.0, 2.0))
    with pytest.raises(ValueError, match="goods, not tokens"):
        rescale(SCREENING["mussa_rosen"], input=2.0)
    with pytest.raises(ValueError, match="tokens, not goods"):
        rescale(TOKEN_INSTANCES["paper_theta_20"], goods=2.0)
    with pytest.raises(ValueError, match="built-in"):
        rescale(_screening([1.0], "custom", "custom"), money=2.0)
    with pytest.raises(TypeError, match="Instance"):
        units_of("paper_theta_20.dat")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Issue #15 part 2, end to end: Ipopt on the normalized copies gives one menu
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", SCALES)
def test_ipopt_on_normalized_copies_reproduces_the_exact_menu(k):
    """The copy with theta and costs times k, normalized, solved by Ipopt and mapped
    back, is the exact discrete optimum of the copy to 1e-7 (tokens, payments, profit),
    which the copies solved in their own units were not (issue #15)."""
    from pyomo_llmprice.pipeline import build_model, solve_model

    copy = _in_money(TOKEN_INSTANCES["paper_theta_20"], k)
    ref = _packages_menu(copy)
    new, u = normalize(copy)
    res = solve_model(build_model(new, "packages"))
    assert res.status == "optimal"
    menu = res.menu
    x, y, z = u.tokens_to_instance(
        menu["input_tokens"].to_numpy(),
        menu["output_tokens"].to_numpy(),
        menu["finetune_tokens"].to_numpy(),
    )
    for got, want in ((x, ref.X), (y, ref.Y), (z, ref.Z)):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7 * want.max())
    pay = u.money_to_instance(menu["payment"].to_numpy())
    np.testing.assert_allclose(pay, ref.payment, rtol=1e-7, atol=1e-7 * ref.payment.max())
    _close(u.money_to_instance(res.profit), ref.profit, 1e-7)
