"""Overhead of ``cyipopt_direct`` against CasADi-native ``nlpsol('ipopt')``.

The NLP is the all-pairs screening problem of ``shared/reference/evaluator-notes.md``:
N types ``theta_i`` evenly spaced in [1, 2] with equal probabilities ``f_i``; per type
tokens ``q_i >= 0``, fine-tuning ``k_i >= 0`` and a payment ``t_i``; the value of an
offer to type i is ``theta_i u(q, k)`` with ``u = (1 - exp(-a q)) sqrt(1 + b k)``. N IR
rows ``v_i(q_i, k_i) - t_i >= 0``, N(N-1) IC rows ``v_i(q_i, k_i) - t_i >= v_i(q_j, k_j)
- t_j``, objective ``max sum_i f_i (t_i - c q_i - d k_i)``; a, b, c, d are mutable Params
(CasADi parameters on the native route).

Routes:

``cyipopt_direct``
    the Pyomo model as a user should write it, in the paper's terms: the offer quality
    ``u_j`` and type i's rent ``U_i = theta_i u_i - t_i`` are named Expressions shared
    by the rows (IR ``U_i >= 0``, IC ``U_i >= theta_i u_j - t_j``: Pyomo builds
    2N small trees plus N^2 tiny rows instead of 2N^2 large trees, and the evaluator
    walks each Expression once; Ipopt gets the same rows); *build* is the Python
    construction of the ConcreteModel, *setup* ``results.extra_info.build_time``
    (walk, kernels, sparsity), *solve* ``extra_info.solve_time``; *total* is the wall
    time from the first line of the model build to the return of ``solve()``.
``cyipopt_direct/inline``
    the same with every row spelling out ``v_i(q_j, k_j)`` (the issue's form).
``casadi_ipopt``
    the shared-Expression Pyomo model compiled by the same evaluator and solved by
    CasADi's ``nlpsol`` (its own Ipopt build); *solve* includes building the nlpsol.
``casadi-mx`` / ``casadi-sx``
    the NLP as one vectorised CasADi graph (as a CasADi user would write it);
    *setup* is the ``nlpsol`` construction (derivatives are generated there).

Fairness: every route starts from zero, gets the same Ipopt options (``IPOPT_OPTIONS``
plus ``sb=yes``; no scaling option, so Ipopt's default gradient-based scaling on both)
and sees the identical rows in the identical order and sign (``build_casadi``), and the
objective values and iteration counts are printed to show that they take the same
iterates. Both Ipopt builds run single-threaded by default (``--threads``: the script
re-executes itself with ``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set), so neither
gets more cores. The *callbacks* column is the wall time spent inside the NLP function
evaluations (``results.extra_info.callback_time``: cyipopt_direct times its callbacks,
casadi_ipopt and the native routes report CasADi's ``t_wall_nlp_*`` statistics);
``ipopt`` = solve - callbacks is Ipopt itself (linear algebra, line search, the glue
of cyipopt or CasADi; for casadi_ipopt also the nlpsol construction).

The two routes link different Ipopt builds: cyipopt's wheel has Ipopt 3.14.11 with
MUMPS 5.5.1 *without METIS*, CasADi's Ipopt 3.14.19 with MUMPS 5.8.2 and METIS. With
MUMPS's automatic ordering (Ipopt's default ``mumps_pivot_order=7``) the wheel's MUMPS
picks AMF here, which factorizes these KKT systems ~1.7x slower than PORD, AMD or QAMD
(Ipopt's ``print_timing_statistics`` at N=100, same 58 iterations, CPU seconds in
ComputeSearchDirection: wheel AMF 2.5-2.7, PORD 1.66, QAMD 1.56, AMD 1.53; CasADi's
build 1.3-1.6 with any ordering). ``cyipopt_direct`` therefore sets
``mumps_pivot_order=0`` (AMD) unless the user gives one (PORD, as fast here, is 4x
slower than AMD on the calibrated all-pairs menus). The script measures twice: with each
interface's defaults (the raw ratio) and with the same ordering (AMD) in both builds.
It also prints the ratio with Ipopt's own time of the CasADi route substituted into
ours, i.e. our overhead alone (model build, setup, callbacks, glue).

Each measurement is repeated ``--repeat`` times (fresh model every time, routes in
rotating order) and medians are reported. Ratios are ``cyipopt_direct total / fastest
casadi-native total``. Timings on a shared machine are noisy: compare the best-of ratio,
and the CPU-time ratio (single-threaded runs: CPU time is close to what a quiet
machine's wall time would be).

Run: ``python benchmarks/solver_overhead.py [--sizes 25 100] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import casadi as ca
import numpy as np
import pyomo.environ as pyo

from pyomo_llmprice.solvers.casadi_ipopt import CasadiIpopt
from pyomo_llmprice.solvers.config import coerce_option
from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect
from pyomo_llmprice.solvers.evaluator import NLPEvaluator

#: a, b, c, d of the value and cost functions
PARAMS = {"a": 1.0, "b": 1.0, "c": 0.3, "d": 0.1}
#: Ipopt options given to every route (all also set "sb": "yes", no banner)
IPOPT_OPTIONS: dict[str, Any] = {"tol": 1e-8, "print_level": 0}
#: the second pass: the same MUMPS ordering in both Ipopt builds (AMD, cyipopt_direct's
#: default; the wheel's MUMPS has no METIS, so METIS cannot be the common choice)
SAME_ORDERING: dict[str, Any] = {"mumps_pivot_order": 0}
TARGET = 1.3
CY = "cyipopt_direct"
CY_INLINE = "cyipopt_direct/inline"
CASADI_IPOPT = "casadi_ipopt"
NATIVE = ("casadi-mx", "casadi-sx")
ROUTES_ALL = (CY, CY_INLINE, CASADI_IPOPT, *NATIVE)


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

    @property
    def ipopt(self) -> float:
        """Ipopt's own time: the solve minus the time spent in the callbacks."""
        return self.solve - self.callbacks


@dataclass
class Summary:
    """Medians over repeats of one route at one size."""

    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(r, name) for r in self.runs)

    def best(self, name: str) -> float:
        return min(getattr(r, name) for r in self.runs)


def type_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Types evenly spaced in [1, 2], equal probabilities."""
    return np.linspace(1.0, 2.0, n), np.full(n, 1.0 / n)


# ---------------------------------------------------------------------- Pyomo route
#: "expression": the offer quality u_j = (1 - exp(-a q_j)) sqrt(1 + b k_j) and the rent
#: U_i = theta_i u_i - t_i are named Expressions shared by the rows (what a user should
#: write); "inline": every row spells out v_i(q_j, k_j)
PYOMO_FORMS = ("expression", "inline")


def build_pyomo(n: int, form: str = "expression") -> pyo.ConcreteModel:
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
            """Quality of offer j: built once, used by 2N rows."""
            return (1 - pyo.exp(-m.a * m.q[j])) * pyo.sqrt(1 + m.b * m.k[j])

        @m.Expression(m.I)
        def rent(m, i):
            """Type i's surplus from its own offer: the left side of its 2N - 1 rows."""
            return m.theta[i] * m.u[i] - m.t[i]

        m.IR = pyo.Constraint(m.I, rule=lambda m, i: m.rent[i] >= 0)
        m.IC = pyo.Constraint(
            [(i, j) for i in m.I for j in m.I if i != j],
            rule=lambda m, i, j: m.rent[i] >= m.theta[i] * m.u[j] - m.t[j],
        )

    elif form == "inline":

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

    else:
        raise ValueError(f"form must be one of {PYOMO_FORMS}, got {form!r}")

    m.obj = pyo.Objective(
        expr=sum(m.f[i] * (m.t[i] - m.c * m.q[i] - m.d * m.k[i]) for i in m.I),
        sense=pyo.maximize,
    )
    return m


def run_pyomo(n: int, options: dict, form: str = "expression", solver: Any = None) -> Run:
    """One solve of the Pyomo model by ``cyipopt_direct`` (or another of our solvers)."""
    solver = solver or CyIpoptDirect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    model = build_pyomo(n, form)
    t1 = time.perf_counter()
    res = solver.solve(model, solver_options=dict(options))
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    info = res.extra_info
    return Run(
        build=t1 - t0,
        setup=info.build_time,
        solve=info.solve_time,
        total=t2 - t0,
        cpu=cpu,
        callbacks=info.callback_time,
        objective=float(res.incumbent_objective),
        iterations=int(info.iteration_count),
        status=str(info.ipopt_message),
    )


# --------------------------------------------------------------------- CasADi route
def build_casadi(n: int, sym: type) -> tuple[dict, dict]:
    """The screening NLP as one vectorised CasADi graph: (nlp dict, solve arguments).

    Rows are ordered and signed as ``cyipopt_direct`` presents them to Ipopt (IR
    ``>= 0`` first, then IC ``(i, j)`` by i as ``v_i(q_j, k_j) - t_j - (v_i(q_i, k_i)
    - t_i) <= 0``, Pyomo's standard form), so that both routes present the identical
    problem; the variables are interleaved per type (q_i, k_i, t_i) in the evaluator's
    order of first appearance, so that even the KKT matrix's ordering is the same.
    """
    theta, prob = type_data(n)
    x = sym.sym("x", 3 * n)
    q, k, t = x[0::3], x[1::3], x[2::3]
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
    nlp = {"x": x, "p": p, "f": f, "g": g}
    m_ic = n * (n - 1)
    args = {
        "x0": np.zeros(3 * n),
        "p": [PARAMS[name] for name in "abcd"],
        "lbx": np.tile([0.0, 0.0, -np.inf], n),
        "ubx": np.full(3 * n, np.inf),
        "lbg": np.r_[np.zeros(n), np.full(m_ic, -np.inf)],
        "ubg": np.r_[np.full(n, np.inf), np.zeros(m_ic)],
    }
    return nlp, args


_CASADI_CALLBACK_STATS = ("nlp_f", "nlp_g", "nlp_grad_f", "nlp_jac_g", "nlp_hess_l")


def run_casadi(n: int, options: dict, sym: type) -> Run:
    c0 = time.process_time()
    t0 = time.perf_counter()
    nlp, args = build_casadi(n, sym)
    t1 = time.perf_counter()
    opts = {"ipopt." + key: val for key, val in options.items()}
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


def check_same_problem(n: int = 5) -> None:
    """Fail unless the Pyomo forms and the CasADi graph present Ipopt the same NLP:
    same variable order and bounds, same rows, signs and bounds, same values."""
    nlp, args = build_casadi(n, ca.SX)
    g_native = ca.Function("g", [nlp["x"], nlp["p"]], [nlp["g"]])
    x = np.random.default_rng(0).uniform(0.1, 2.0, 3 * n)
    for form in PYOMO_FORMS:
        ev = NLPEvaluator(build_pyomo(n, form))
        names = [v.name for v in ev.variables]
        expected = [f"{c}[{i}]" for i in range(n) for c in "qkt"]
        same = (
            names == expected
            and np.array_equal(ev.x_lb, args["lbx"])
            and np.array_equal(ev.g_lb, args["lbg"])
            and np.array_equal(ev.g_ub, args["ubg"])
            and np.allclose(ev.constraints(x), g_native(x, args["p"]).full().ravel(), atol=1e-14)
        )
        if not same:
            raise AssertionError(f"the {form} Pyomo model and the CasADi graph differ")


RUNNERS: dict[str, Callable[[int, dict], Run]] = {
    CY: lambda n, o: run_pyomo(n, o, "expression"),
    CY_INLINE: lambda n, o: run_pyomo(n, o, "inline"),
    CASADI_IPOPT: lambda n, o: run_pyomo(n, o, "expression", CasadiIpopt()),
    "casadi-mx": lambda n, o: run_casadi(n, o, ca.MX),
    "casadi-sx": lambda n, o: run_casadi(n, o, ca.SX),
}


# ------------------------------------------------------------------------ driver
def ipopt_versions() -> str:
    import cyipopt

    cy = ".".join(str(x) for x in getattr(cyipopt, "IPOPT_VERSION", ()))
    return f"cyipopt {cyipopt.__version__} (Ipopt {cy}); CasADi {ca.__version__}"


Results = dict[int, dict[str, Summary]]


def measure(sizes: list[int], repeat: int, routes: list[str], options: dict) -> Results:
    for route in routes:  # warm-up: imports, plugin loading, first-call costs
        RUNNERS[route](4, options)
    out: Results = {}
    for n in sizes:
        out[n] = {route: Summary() for route in routes}
        for r in range(repeat):
            order = routes[r % len(routes) :] + routes[: r % len(routes)]
            for route in order:
                gc.collect()
                out[n][route].runs.append(RUNNERS[route](n, options))
            print(f"  N={n}: repeat {r + 1}/{repeat} done", file=sys.stderr, flush=True)
    return out


def print_table(results: Results, title: str) -> None:
    head = (
        f"{'N':>4} {'route':<22} {'build':>7} {'setup':>7} {'solve':>7} {'callbacks':>9} "
        f"{'ipopt':>7} {'total':>7} {'cpu':>7} {'iters':>5} {'objective':>17}"
    )
    print(f"\n{title}")
    print(head)
    print("-" * len(head))
    for n, by_route in results.items():
        for route, s in by_route.items():
            obj = s.runs[0].objective
            spread = max(abs(r.objective - obj) for r in s.runs)
            cb = s.median("callbacks")
            cb_text = f"{cb:>9.3f}" if math.isfinite(cb) else f"{'-':>9}"
            ip_text = f"{s.median('ipopt'):>7.3f}" if math.isfinite(cb) else f"{'-':>7}"
            print(
                f"{n:>4} {route:<22} {s.median('build'):>7.3f} {s.median('setup'):>7.3f} "
                f"{s.median('solve'):>7.3f} {cb_text} {ip_text} {s.median('total'):>7.3f} "
                f"{s.median('cpu'):>7.3f} {s.runs[0].iterations:>5d} {obj:>17.12f}"
                + (f"  (objective varies by {spread:.1e})" if spread > 1e-12 else "")
            )
            bad = {r.status for r in s.runs} - {"Optimal Solution Found", "Solve_Succeeded"}
            if bad:
                print(f"     warning: {route} ended with {sorted(bad)}")


def fastest_native(by_route: dict[str, Summary]) -> tuple[str, Summary] | None:
    natives = {r: s for r, s in by_route.items() if r in NATIVE}
    if not natives:
        return None
    return min(natives.items(), key=lambda kv: kv[1].median("total"))


def ratios(by_route: dict[str, Summary], route: str = CY) -> dict[str, float] | None:
    """Total-time ratios of `route` to the fastest native route (medians and best-of),
    and with the native route's Ipopt time substituted for ours (our overhead only)."""
    ref = fastest_native(by_route)
    if route not in by_route or ref is None:
        return None
    ref_name, nat = ref
    cy = by_route[route]
    den = nat.median("total")
    substituted = cy.median("total") - cy.median("ipopt") + nat.median("ipopt")
    return {
        "reference": ref_name,
        "raw": cy.median("total") / den,
        "best": cy.best("total") / nat.best("total"),
        "cpu": cy.median("cpu") / nat.median("cpu"),
        "overhead_only": substituted / den if math.isfinite(substituted) else math.nan,
        "ipopt": cy.median("ipopt") / nat.median("ipopt"),
        "rel_objective": abs(cy.runs[0].objective - nat.runs[0].objective)
        / max(1.0, abs(nat.runs[0].objective)),
        "iterations": (cy.runs[0].iterations, nat.runs[0].iterations),
    }


def report(default: Results, same: Results | None) -> dict[str, bool]:
    """Print the ratios; verdicts at N=100 (or the largest N) of each measured pass."""
    verdicts: dict[str, bool] = {}
    ratio_n = 100 if 100 in default else max(default)
    print()
    for n in default:
        for route in (CY, CY_INLINE, CASADI_IPOPT):
            r = ratios(default[n], route)
            if r is None:
                continue
            line = (
                f"N={n} {route}: vs {r['reference']}: raw {r['raw']:.2f} "
                f"(best-of {r['best']:.2f}, CPU time {r['cpu']:.2f}); Ipopt itself "
                f"{r['ipopt']:.2f}x"
            )
            if math.isfinite(r["overhead_only"]):
                line += f"; with the same Ipopt time, our overhead only: {r['overhead_only']:.2f}"
            if same is not None and (s := ratios(same.get(n, {}), route)) is not None:
                line += (
                    f"; same MUMPS ordering: {s['raw']:.2f} (best-of {s['best']:.2f}, "
                    f"CPU time {s['cpu']:.2f})"
                )
            line += (
                f"\n      objective rel. diff {r['rel_objective']:.1e}, iterations "
                f"{r['iterations'][0]} vs {r['iterations'][1]}"
            )
            print(line)
    for label, res in (("raw, each interface's defaults", default), ("same MUMPS ordering", same)):
        if res is None or ratio_n not in res:
            continue
        r = ratios(res[ratio_n], CY)
        if r is None:
            continue
        verdicts[label] = r["raw"] <= TARGET
        print(
            f"ratio cyipopt_direct/casadi-native at N={ratio_n} ({label}): {r['raw']:.2f} "
            f"(target <= {TARGET}): {'MET' if verdicts[label] else 'MISSED'}; best-of "
            f"{r['best']:.2f}, CPU time {r['cpu']:.2f}"
        )
        if label.startswith("raw") and math.isfinite(r["overhead_only"]):
            ok = r["overhead_only"] <= TARGET
            print(
                f"ratio at N={ratio_n} with CasADi's Ipopt time in place of ours (our "
                f"overhead only): {r['overhead_only']:.2f}: {'MET' if ok else 'MISSED'}"
            )
    return verdicts


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
        "contended (compare the best-of ratios)"
    )


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _pin_threads(threads: int) -> None:
    """Re-execute with both Ipopt builds' thread counts set (read when they load)."""
    if threads <= 0 or all(os.environ.get(v) == str(threads) for v in _THREAD_VARS):
        return
    env = dict(os.environ, **{v: str(threads) for v in _THREAD_VARS})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 100], help="numbers of types")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per measurement (median)")
    parser.add_argument(
        "--routes",
        nargs="+",
        choices=ROUTES_ALL,
        default=list(ROUTES_ALL),
        help="routes to time (ratios use the fastest CasADi-native one)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS and OPENBLAS_NUM_THREADS for both Ipopt builds "
        "(0: leave the environment alone)",
    )
    parser.add_argument(
        "--no-same-ordering",
        action="store_true",
        help=f"skip the second pass with {SAME_ORDERING} on every route",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra Ipopt option for every route (repeatable), e.g. mumps_pivot_order=0",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 2 for n in args.sizes):
        parser.error("--repeat must be >= 1 and every size >= 2")
    if argv is None:
        _pin_threads(args.threads)
    options = dict(IPOPT_OPTIONS)
    for item in args.option:
        name, sep, val = item.partition("=")
        if not sep or not name:
            parser.error(f"--option expects NAME=VALUE, got {item!r}")
        options[name.strip()] = coerce_option(val)
    threads = {v: os.environ.get(v, "unset") for v in _THREAD_VARS}
    print(f"{ipopt_versions()}; Ipopt options (every route): {options}; threads: {threads}")
    check_same_problem()
    note = _load_note()
    default = measure(args.sizes, args.repeat, args.routes, options)
    title = f"each interface's defaults: median wall times over {args.repeat} repeat(s), s"
    print_table(default, title)
    same = None
    if not args.no_same_ordering and "mumps_pivot_order" not in options:
        # cyipopt_direct's default ordering: it is re-timed only so that both sides
        # of the ratio run under the same machine load
        routes = [r for r in args.routes if r in (CY, *NATIVE)]
        same = measure(args.sizes, args.repeat, routes, {**options, **SAME_ORDERING})
        print_table(same, f"the same MUMPS ordering in both builds ({SAME_ORDERING}), s")
    report(default, same)
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
