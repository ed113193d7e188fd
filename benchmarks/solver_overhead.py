"""Overhead of ``cyipopt_direct`` against CasADi-native ``nlpsol('ipopt')``.

The NLP is the all-pairs screening problem of ``shared/reference/evaluator-notes.md``:
N types ``theta_i`` evenly spaced in [1, 2] with equal probabilities ``f_i``; per type
tokens ``q_i >= 0``, fine-tuning ``k_i >= 0`` and a payment ``t_i``; the value of an
offer to type i is ``theta_i (1 - exp(-a q)) sqrt(1 + b k)``. N IR rows
``v_i(q_i, k_i) - t_i >= 0``, N(N-1) IC rows ``v_i(q_i, k_i) - t_i >= v_i(q_j, k_j) - t_j``,
objective ``max sum_i f_i (t_i - c q_i - d k_i)``; a, b, c, d are mutable Params (CasADi
parameters on the native route).

Phases timed per route:

``cyipopt_direct``
    model build (Python construction of the Pyomo ConcreteModel), derivative setup
    (``results.extra_info.build_time``: walk, kernels, sparsity), Ipopt solve
    (``results.extra_info.solve_time``); *total* is the wall time from the first line
    of the model build to the return of ``solve()`` (it includes loading the solution).
``casadi-mx`` / ``casadi-sx``
    graph build (vectorised CasADi expressions, as a CasADi user would write them),
    ``nlpsol`` construction (derivatives are generated there), solve call.

The *callbacks* column is the wall time spent inside the NLP function evaluations
during the solve (CasADi's ``t_wall_nlp_*`` statistics; for ``cyipopt_direct`` the
evaluator's callback methods are wrapped by a timer, which costs < 1 us per call);
``solve - callbacks`` is Ipopt itself. Note that the two routes link different Ipopt
builds (cyipopt's wheel: Ipopt 3.14.11, MUMPS 5.5.1 without METIS; CasADi's: Ipopt 3.14.19,
MUMPS 5.8.2 with METIS and OpenMP). The *cpu* column is process CPU time over all threads;
CasADi's OpenMP threads spin while waiting, so its CPU time can exceed its wall time
without any speed-up. ``--option NAME=VALUE`` adds an Ipopt option to both routes.

Each measurement is repeated ``--repeat`` times (fresh model every time, routes in
rotating order) and medians are reported. The ratio is
``cyipopt_direct total / fastest casadi-native total``.

Run: ``python benchmarks/solver_overhead.py [--sizes 25 100] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import casadi as ca
import numpy as np
import pyomo.environ as pyo

from pyomo_llmprice.solvers.config import coerce_option
from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect
from pyomo_llmprice.solvers.evaluator import NLPEvaluator

#: a, b, c, d of the value and cost functions
PARAMS = {"a": 1.0, "b": 1.0, "c": 0.3, "d": 0.1}
#: Ipopt options given to both routes (both also set "sb": "yes", no banner)
IPOPT_OPTIONS: dict[str, Any] = {"tol": 1e-8, "print_level": 0}
TARGET = 1.3
CY = "cyipopt_direct"
ROUTES_ALL = (CY, "casadi-mx", "casadi-sx")


@dataclass
class Run:
    """One timed solve of one route."""

    build: float
    setup: float
    solve: float
    total: float
    cpu: float
    callbacks: float
    objective: float
    iterations: int
    status: str


@dataclass
class Summary:
    """Medians over repeats of one route at one size."""

    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(r, name) for r in self.runs)


def type_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Types evenly spaced in [1, 2], equal probabilities."""
    return np.linspace(1.0, 2.0, n), np.full(n, 1.0 / n)


# ---------------------------------------------------------------------- Pyomo route
#: "inline": every row spells out v_i(q_j, k_j) (the issue's form); "expression": the
#: offer quality (1 - exp(-a q_j)) sqrt(1 + b k_j) is a named Expression u_j, shared by rows
PYOMO_FORMS = ("inline", "expression")
PYOMO_FORM = "inline"


def build_pyomo(n: int, form: str | None = None) -> pyo.ConcreteModel:
    form = form or PYOMO_FORM
    theta, prob = type_data(n)
    m = pyo.ConcreteModel(name=f"screening_{n}")
    m.I = pyo.RangeSet(0, n - 1)
    m.theta = pyo.Param(m.I, initialize=dict(enumerate(theta.tolist())))
    m.f = pyo.Param(m.I, initialize=dict(enumerate(prob.tolist())))
    for name, val in PARAMS.items():
        m.add_component(name, pyo.Param(mutable=True, initialize=val))
    m.q = pyo.Var(m.I, domain=pyo.NonNegativeReals)
    m.k = pyo.Var(m.I, domain=pyo.NonNegativeReals)
    m.t = pyo.Var(m.I)

    if form == "expression":

        @m.Expression(m.I)
        def u(m, j):
            return (1 - pyo.exp(-m.a * m.q[j])) * pyo.sqrt(1 + m.b * m.k[j])

        def v(m: pyo.ConcreteModel, i: int, j: int) -> Any:
            return m.theta[i] * m.u[j]

    else:

        def v(m: pyo.ConcreteModel, i: int, j: int) -> Any:
            """Value to type i of the offer (q_j, k_j)."""
            return m.theta[i] * (1 - pyo.exp(-m.a * m.q[j])) * pyo.sqrt(1 + m.b * m.k[j])

    @m.Constraint(m.I)
    def IR(m, i):
        return v(m, i, i) - m.t[i] >= 0

    @m.Constraint(m.I, m.I)
    def IC(m, i, j):
        if i == j:
            return pyo.Constraint.Skip
        return v(m, i, i) - m.t[i] >= v(m, i, j) - m.t[j]

    m.obj = pyo.Objective(
        expr=sum(m.f[i] * (m.t[i] - m.c * m.q[i] - m.d * m.k[i]) for i in m.I),
        sense=pyo.maximize,
    )
    return m


_CALLBACKS = ("objective", "gradient", "constraints", "jacobian", "hessian")


@contextlib.contextmanager
def timed_callbacks() -> Iterator[list[float]]:
    """Accumulate the wall time of NLPEvaluator's Ipopt callbacks into ``acc[0]``."""
    acc = [0.0]
    saved = {name: NLPEvaluator.__dict__[name] for name in _CALLBACKS}

    def wrap(fun: Callable) -> Callable:
        def timed(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fun(*args)
            finally:
                acc[0] += time.perf_counter() - t0

        return timed

    for name, fun in saved.items():
        setattr(NLPEvaluator, name, wrap(fun))
    try:
        yield acc
    finally:
        for name, fun in saved.items():
            setattr(NLPEvaluator, name, fun)


def run_cyipopt(n: int) -> Run:
    solver = CyIpoptDirect()
    with timed_callbacks() as acc:
        c0 = time.process_time()
        t0 = time.perf_counter()
        model = build_pyomo(n)
        t1 = time.perf_counter()
        res = solver.solve(model, solver_options=dict(IPOPT_OPTIONS))
        t2 = time.perf_counter()
        cpu = time.process_time() - c0
    info = res.extra_info
    return Run(
        build=t1 - t0,
        setup=info.build_time,
        solve=info.solve_time,
        total=t2 - t0,
        cpu=cpu,
        callbacks=acc[0],
        objective=float(res.incumbent_objective),
        iterations=int(res.iteration_count),
        status=str(info.ipopt_message),
    )


# --------------------------------------------------------------------- CasADi route
def build_casadi(n: int, sym: type) -> tuple[dict, dict]:
    """The screening NLP as one vectorised CasADi graph: (nlp dict, solve arguments).

    Rows are ordered and signed as Pyomo standardizes them (IR ``>= 0`` first, then
    IC ``(i, j)`` by i as ``v_i(q_j, k_j) - t_j - (v_i(q_i, k_i) - t_i) <= 0``), so
    that both routes present the identical problem to Ipopt.
    """
    theta, prob = type_data(n)
    q = sym.sym("q", n)
    k = sym.sym("k", n)
    t = sym.sym("t", n)
    p = sym.sym("p", 4)
    a, b, c, d = p[0], p[1], p[2], p[3]
    th = ca.DM(theta)
    u = (1 - ca.exp(-a * q)) * ca.sqrt(1 + b * k)  # quality of offer j
    surplus = th * u - t  # type i taking its own offer
    mimic = ca.mtimes(th, u.T) - ca.repmat(t.T, n, 1)  # [i, j]: type i taking offer j
    ic = mimic - ca.repmat(surplus, 1, n)
    rows = np.arange(n * n).reshape(n, n)  # i-major positions in vec(ic.T)
    off_diag = rows[~np.eye(n, dtype=bool)]
    g = ca.vertcat(surplus, ca.vec(ic.T)[off_diag.tolist()])
    f = -ca.dot(ca.DM(prob), t - c * q - d * k)  # Ipopt minimizes
    nlp = {"x": ca.vertcat(q, k, t), "p": p, "f": f, "g": g}
    m_ic = n * (n - 1)
    args = {
        "x0": np.zeros(3 * n),
        "p": [PARAMS[name] for name in "abcd"],
        "lbx": np.r_[np.zeros(2 * n), np.full(n, -np.inf)],
        "ubx": np.full(3 * n, np.inf),
        "lbg": np.r_[np.zeros(n), np.full(m_ic, -np.inf)],
        "ubg": np.r_[np.full(n, np.inf), np.zeros(m_ic)],
    }
    return nlp, args


_CASADI_CALLBACK_STATS = ("nlp_f", "nlp_g", "nlp_grad_f", "nlp_jac_g", "nlp_hess_l")


def run_casadi(n: int, sym: type) -> Run:
    c0 = time.process_time()
    t0 = time.perf_counter()
    nlp, args = build_casadi(n, sym)
    t1 = time.perf_counter()
    opts = {"ipopt." + key: val for key, val in IPOPT_OPTIONS.items()}
    opts.update({"ipopt.sb": "yes", "print_time": False, "error_on_fail": False})
    solver = ca.nlpsol("screening", "ipopt", nlp, opts)
    t2 = time.perf_counter()
    sol = solver(**args)
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    stats = solver.stats()
    return Run(
        build=t1 - t0,
        setup=t2 - t1,
        solve=t3 - t2,
        total=t3 - t0,
        cpu=cpu,
        callbacks=sum(float(stats.get("t_wall_" + key, 0.0)) for key in _CASADI_CALLBACK_STATS),
        objective=-float(sol["f"]),
        iterations=int(stats.get("iter_count", -1)),
        status=str(stats.get("return_status")),
    )


RUNNERS: dict[str, Callable[[int], Run]] = {
    CY: run_cyipopt,
    "casadi-mx": lambda n: run_casadi(n, ca.MX),
    "casadi-sx": lambda n: run_casadi(n, ca.SX),
}


# ------------------------------------------------------------------------ driver
def ipopt_versions() -> str:
    import cyipopt

    cy = ".".join(str(x) for x in getattr(cyipopt, "IPOPT_VERSION", ()))
    return f"cyipopt {cyipopt.__version__} (Ipopt {cy}); CasADi {ca.__version__}"


def measure(sizes: list[int], repeat: int, routes: list[str]) -> dict[int, dict[str, Summary]]:
    for route in routes:  # warm-up: imports, plugin loading, first-call costs
        RUNNERS[route](4)
    out: dict[int, dict[str, Summary]] = {}
    for n in sizes:
        out[n] = {route: Summary() for route in routes}
        for r in range(repeat):
            order = routes[r % len(routes) :] + routes[: r % len(routes)]
            for route in order:
                gc.collect()
                out[n][route].runs.append(RUNNERS[route](n))
            print(f"  N={n}: repeat {r + 1}/{repeat} done", file=sys.stderr, flush=True)
    return out


def _ratio(cy: Summary, ref: Summary, phase: str, how: Callable = statistics.median) -> float:
    den = how(getattr(r, phase) for r in ref.runs)
    return how(getattr(r, phase) for r in cy.runs) / max(den, 1e-9)


def report(results: dict[int, dict[str, Summary]], repeat: int) -> bool | None:
    """Print the table and the ratios; True/False: target met at N=100 (or the largest N)."""
    head = (
        f"{'N':>4} {'route':<15} {'model build':>11} {'deriv setup':>11} {'Ipopt solve':>11} "
        f"{'(callbacks)':>11} {'total':>8} {'cpu':>7} {'iters':>5} {'objective':>17}"
    )
    print(f"\nmedian wall times over {repeat} repeat(s), seconds; {ipopt_versions()}")
    print(head)
    print("-" * len(head))
    for n, by_route in results.items():
        for route, s in by_route.items():
            obj = s.runs[0].objective
            spread = max(abs(r.objective - obj) for r in s.runs)
            print(
                f"{n:>4} {route:<15} {s.median('build'):>11.3f} {s.median('setup'):>11.3f} "
                f"{s.median('solve'):>11.3f} {s.median('callbacks'):>11.3f} "
                f"{s.median('total'):>8.3f} {s.median('cpu'):>7.3f} {s.runs[0].iterations:>5d} "
                f"{obj:>17.12f}"
                + (f"  (objective varies by {spread:.1e})" if spread > 1e-12 else "")
            )
            bad = {r.status for r in s.runs} - {"Optimal Solution Found", "Solve_Succeeded"}
            if bad:
                print(f"     warning: {route} ended with {sorted(bad)}")

    verdict: bool | None = None
    final = ""
    ratio_n = 100 if 100 in results else max(results)
    print()
    for n, by_route in results.items():
        natives = {r: s for r, s in by_route.items() if r != CY}
        if CY not in by_route or not natives:
            continue
        cy = by_route[CY]
        ref_name, ref = min(natives.items(), key=lambda kv: kv[1].median("total"))
        ratio = _ratio(cy, ref, "total")
        rel = abs(cy.runs[0].objective - ref.runs[0].objective) / max(
            1.0, abs(ref.runs[0].objective)
        )
        phases = ", ".join(
            f"{ph} {_ratio(cy, ref, ph):.1f}x" for ph in ("build", "setup", "solve", "callbacks")
        )
        print(
            f"N={n}: cyipopt_direct {cy.median('total'):.3f} s vs {ref_name} "
            f"{ref.median('total'):.3f} s: ratio {ratio:.2f} (best-of-{repeat} "
            f"{_ratio(cy, ref, 'total', min):.2f}); "
            f"objective rel. diff {rel:.1e}; iterations {cy.runs[0].iterations} vs "
            f"{ref.runs[0].iterations}\n      phase ratios: {phases}"
        )
        if n == ratio_n:
            verdict = math.isfinite(ratio) and ratio <= TARGET
            final = (
                f"ratio cyipopt_direct/casadi-native at N={n}: {ratio:.2f} "
                f"(target <= {TARGET}): {'MET' if verdict else 'MISSED'}"
            )
    if final:
        print(final)
    return verdict


def _load_note() -> str:
    """A warning when other processes compete for the cores (timings are then noisy)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return ""
    cores = os.cpu_count() or 1
    if load < 0.5 * cores:
        return ""
    return (
        f"note: load average {load:.1f} on {cores} core(s) before the run; wall times are "
        "contended (compare the best-of ratio)"
    )


def main(argv: list[str] | None = None) -> int:
    global PYOMO_FORM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 100], help="numbers of types")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per measurement (median)")
    parser.add_argument(
        "--routes",
        nargs="+",
        choices=ROUTES_ALL,
        default=list(ROUTES_ALL),
        help="routes to time (the ratio uses the fastest CasADi one)",
    )
    parser.add_argument(
        "--pyomo-form",
        choices=PYOMO_FORMS,
        default=PYOMO_FORM,
        help="inline: rows spell out v_i(q_j,k_j); expression: shared Expression u_j",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra Ipopt option for both routes (repeatable), e.g. mumps_pivot_order=0",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 2 for n in args.sizes):
        parser.error("--repeat must be >= 1 and every size >= 2")
    for item in args.option:
        name, sep, val = item.partition("=")
        if not sep or not name:
            parser.error(f"--option expects NAME=VALUE, got {item!r}")
        IPOPT_OPTIONS[name.strip()] = coerce_option(val)
    if args.option:
        print(f"Ipopt options (both routes): {IPOPT_OPTIONS}")
    PYOMO_FORM = args.pyomo_form
    if PYOMO_FORM != "inline":
        print(f"Pyomo model form: {PYOMO_FORM}")
    note = _load_note()
    results = measure(args.sizes, args.repeat, args.routes)
    report(results, args.repeat)
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
