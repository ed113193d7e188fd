"""Compile a Pyomo NLP once into fast numpy/CasADi callbacks for Ipopt.

Screening models repeat a few row shapes thousands of times (every IC row is the
same expression with other indices and data). Walking each row once gives a
*signature* (the expression's shape with variable slots and data slots) plus the
row's variables and data. One small CasADi function per signature is built and
differentiated once, then evaluated for all rows of that signature in a single
``Function.map`` call through preallocated numpy buffers. Rows whose shape is rare
are compiled together into one graph in which every row has private copies of its
variables, so that Jacobian and Hessian stay block-diagonal and cheap to colour.
Global sparsity is recovered from index maps, so Ipopt's callbacks never touch a
Pyomo expression (measurements in shared/reference/evaluator-notes.md). A named
Expression shared by many rows is walked once and spliced into each of them; it
is still evaluated once per row (benchmarks/solver_overhead.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import casadi as ca
import numpy as np
from pyomo.common.collections import ComponentMap
from pyomo.core.base.constraint import ConstraintData
from pyomo.core.base.objective import ObjectiveData
from pyomo.core.base.var import VarData
from pyomo.core.expr import numeric_expr as ne
from pyomo.core.expr.numvalue import NumericConstant, native_numeric_types
from pyomo.core.expr.relational_expr import (
    EqualityExpression,
    InequalityExpression,
    RangedExpression,
)
from pyomo.environ import Block, Constraint, Objective, Var, maximize, value

from pyomo_llmprice._gc import collector_paused

__all__ = ["NLPEvaluator", "TriviallyInfeasibleError", "UnsupportedModelError", "compile_model"]


class UnsupportedModelError(ValueError):
    """The model contains something a smooth continuous NLP solver cannot take."""


class TriviallyInfeasibleError(UnsupportedModelError):
    """A constraint without free variables is violated: the model is proven infeasible.

    A subclass of the refusal so that callers that only compile keep their error; the
    Ipopt interfaces catch it and report ``provenInfeasible``, as Pyomo's do.
    """


#: Pyomo's tolerance for constant constraints (its NL writer's), so that a fixed
#: point is called infeasible exactly when Pyomo's own interfaces call it so
TRIVIAL_TOL = 1e-8

#: what to do with a component an NLP solver would otherwise ignore
_MIXED_INTEGER = "cannot go to a continuous NLP solver: {} need a mixed-integer solver"
_MUST_TRANSFORM = {
    "Complementarity": "must be transformed before an NLP solve "
    "(TransformationFactory('mpec.simple_nonlinear'))",
    "Disjunct": _MIXED_INTEGER.format("GDP's binary indicator variables"),
    "Disjunction": _MIXED_INTEGER.format("GDP's binary indicator variables"),
    "LogicalConstraint": _MIXED_INTEGER.format("logical constraints (binary variables)"),
    "SOSConstraint": _MIXED_INTEGER.format("SOS constraints (combinatorial)"),
    "ISOS": _MIXED_INTEGER.format("SOS constraints (combinatorial)"),
}


# Tokens of a signature: an int k >= 0 is variable slot k of the row, DATA a data
# slot, strings are operators (sums carry their arity: "+3").
DATA = -1

_UNARY = {
    "exp": ca.exp,
    "log": ca.log,
    "log10": ca.log10,
    "sqrt": ca.sqrt,
    "sin": ca.sin,
    "cos": ca.cos,
    "tan": ca.tan,
    "asin": ca.asin,
    "acos": ca.acos,
    "atan": ca.atan,
    "sinh": ca.sinh,
    "cosh": ca.cosh,
    "tanh": ca.tanh,
    "asinh": ca.asinh,
    "acosh": ca.acosh,
    "atanh": ca.atanh,
    "abs": ca.fabs,
}

_SUM = "sum"
_PROD = "*"
_DIV = "/"
_POW = "^"
_NEG = "neg"
_NAMED = "named"
_PARAM_LEAF = "param"
_VAR_LEAF = "var"
_UNARY_KIND = "unary"

_KIND_CACHE: dict[type, str] = {}
_TWO_SIDED = (InequalityExpression, EqualityExpression)


def _classify(node: Any) -> str:
    """Kind of a Pyomo node, cached per class (dispatch by type, not isinstance chains)."""
    cls = type(node)
    kind = _KIND_CACHE.get(cls)
    if kind is not None:
        return kind
    if isinstance(node, VarData) or node.is_variable_type():  # environ and kernel
        kind = _VAR_LEAF
    elif not node.is_expression_type():
        kind = _PARAM_LEAF  # params, numeric constants
    elif node.is_named_expression_type():
        kind = _NAMED
    elif not node.is_potentially_variable():
        kind = _PARAM_LEAF  # NPV_* expressions: data, evaluated once
    elif isinstance(node, ne.Expr_ifExpression):
        kind = "refuse:Expr_if (a non-smooth conditional expression)"
    elif isinstance(node, ne.ExternalFunctionExpression):
        kind = "refuse:an external function"
    elif isinstance(node, ne.SumExpression):
        kind = _SUM
    elif isinstance(node, ne.ProductExpression):
        kind = _PROD  # includes MonomialTermExpression
    elif isinstance(node, ne.DivisionExpression):
        kind = _DIV
    elif isinstance(node, ne.PowExpression):
        kind = _POW
    elif isinstance(node, ne.NegationExpression):
        kind = _NEG
    elif isinstance(node, ne.UnaryFunctionExpression):
        kind = _UNARY_KIND
    else:
        kind = f"refuse:the expression type {cls.__name__}"
    _KIND_CACHE[cls] = kind
    return kind


@dataclass
class _Row:
    """One scalar function of the NLP, walked into its signature."""

    signature: tuple
    var_ids: list[int]
    data: list[float]


class _Walker:
    """Turns Pyomo expressions into signatures; numbers the model's free variables.

    A named Expression is walked once per compilation and spliced into every row that
    uses it (models that share an offer's value across thousands of IC rows would
    otherwise re-walk it per row). Inside a walk a variable is the token ``-2 - gid``
    (its global index); :meth:`walk` renumbers them into the row's local slots.
    """

    def __init__(self) -> None:
        self.variables: list[VarData] = []
        self._var_index: dict[int, int] = {}
        self._named: dict[int, tuple[list, list[float]]] = {}

    def walk(self, expr: Any, owner: str | Callable[[], str]) -> _Row:
        """The row of `expr`; `owner` names it in errors (a callable: built only then)."""
        raw, data = self._walk_raw(expr, owner)
        local: dict[int, int] = {}
        var_ids: list[int] = []
        tokens = raw
        for pos, tok in enumerate(raw):
            if tok.__class__ is int and tok < DATA:
                slot = local.get(tok)
                if slot is None:
                    slot = local[tok] = len(var_ids)
                    var_ids.append(-2 - tok)
                tokens[pos] = slot
        return _Row(tuple(tokens), var_ids, data)

    def _walk_raw(self, expr: Any, owner: str | Callable[[], str]) -> tuple[list, list[float]]:
        tokens: list = []
        data: list[float] = []
        stack = [expr]
        while stack:
            node = stack.pop()
            if node.__class__ in native_numeric_types:
                tokens.append(DATA)
                data.append(float(node))
                continue
            kind = _classify(node)
            if kind is _VAR_LEAF:
                if node.fixed:
                    if node.value is None:
                        raise UnsupportedModelError(
                            f"{_name(owner)}: fixed variable {node.name} has no value"
                        )
                    tokens.append(DATA)
                    data.append(float(node.value))
                    continue
                key = id(node)
                gid = self._var_index.get(key)
                if gid is None:
                    if not node.is_continuous():
                        raise UnsupportedModelError(
                            f"{_name(owner)}: variable {node.name} is integer or binary; "
                            "cyipopt_direct solves continuous NLPs only"
                        )
                    gid = self._var_index[key] = len(self.variables)
                    self.variables.append(node)
                tokens.append(-2 - gid)
            elif kind is _PARAM_LEAF:
                tokens.append(DATA)
                data.append(float(value(node)))
            elif kind is _NAMED:
                cached = self._named.get(id(node))
                if cached is None:
                    cached = self._named[id(node)] = self._walk_raw(node.expr, owner)
                tokens.extend(cached[0])
                data.extend(cached[1])
            elif kind is _SUM:
                args = node.args
                tokens.append(f"+{len(args)}")
                stack.extend(reversed(args))
            elif kind is _POW:
                base, exponent = node.args
                if exponent.__class__ in native_numeric_types or isinstance(
                    exponent, NumericConstant
                ):
                    # A literal exponent is part of the shape: x**2 keeps an exact
                    # Hessian sparsity and x**1 no NaN second derivative at zero.
                    tokens.append(f"^{float(value(exponent))!r}")
                    stack.append(base)
                else:
                    tokens.append(_POW)
                    stack.append(exponent)
                    stack.append(base)
            elif kind is _UNARY_KIND:
                name = node.getname()
                if name not in _UNARY:
                    raise UnsupportedModelError(
                        f"{_name(owner)}: the function {name}() is not smooth or not supported"
                    )
                tokens.append(name)
                stack.append(node.args[0])
            elif kind in (_PROD, _DIV):
                tokens.append(kind)
                a, b = node.args
                stack.append(b)
                stack.append(a)
            elif kind is _NEG:
                tokens.append(_NEG)
                stack.append(node.args[0])
            else:
                raise UnsupportedModelError(
                    f"{_name(owner)}: {kind[len('refuse:') :]} is not supported"
                )
        return tokens, data


def _name(owner: str | Callable[[], str]) -> str:
    return owner if isinstance(owner, str) else owner()


def _build_casadi(signature: tuple, v: Any, d: Any) -> Any:
    """Rebuild a signature as a CasADi expression in slot symbols `v` and data `d`."""
    out: list = []  # operand stack, filled from the end of the prefix sequence
    data_pos = sum(1 for t in signature if t == DATA)
    for tok in reversed(signature):
        if isinstance(tok, int):
            if tok == DATA:
                data_pos -= 1
                out.append(d[data_pos])
            else:
                out.append(v[tok])
        elif tok[0] == "+":
            n = int(tok[1:])
            terms = [out.pop() for _ in range(n)]
            acc = terms[0]
            for t in terms[1:]:
                acc = acc + t
            out.append(acc)
        elif tok == _PROD:
            a = out.pop()
            b = out.pop()
            out.append(a * b)
        elif tok == _DIV:
            a = out.pop()
            b = out.pop()
            out.append(a / b)
        elif tok == _POW:
            a = out.pop()
            b = out.pop()
            out.append(a**b)
        elif tok[0] == "^":
            p = float(tok[1:])
            a = out.pop()
            out.append(ca.constpow(a, p) if p != int(p) or p < 0 else a ** int(p))
        elif tok == _NEG:
            out.append(-out.pop())
        else:
            out.append(_UNARY[tok](out.pop()))
    assert len(out) == 1
    return out[0]


@dataclass
class _Group:
    """Rows evaluated by one (possibly mapped) CasADi kernel.

    A kernel maps private variable slots `v` (nv), data `d` (nd) and row weights
    `lam` (k) to k row values, the Jacobian nonzeros and the lower-triangle nonzeros
    of `sum_r lam_r * Hessian_r`. `copies` instances of it run through Function.map.
    """

    rows: np.ndarray  # (copies, k) global row indices (-1: the objective)
    var_idx: np.ndarray  # (copies, nv) global variable indices
    data: np.ndarray  # (copies, nd)
    jac_local: tuple[np.ndarray, np.ndarray]  # (local row, local slot) per Jacobian nz
    hess_local: tuple[np.ndarray, np.ndarray]  # (slot a, slot b) per Hessian nz
    kernel_f: Any = None  # the unmapped kernels (CasADi graphs reuse them)
    kernel_j: Any = None
    kernel_h: Any = None
    f_eval: Any = None
    j_eval: Any = None
    h_eval: Any = None
    bufs: dict = field(default_factory=dict)


def _make_kernel(signatures: list[tuple], nvs: list[int], nds: list[int]) -> tuple:
    """One CasADi kernel for several rows, each with private variable copies."""
    nv, nd = sum(nvs), sum(nds)
    v = ca.SX.sym("v", nv)
    d = ca.SX.sym("d", nd)
    lam = ca.SX.sym("lam", len(signatures))
    exprs = []
    ov = od = 0
    for sig, a, b in zip(signatures, nvs, nds, strict=False):
        exprs.append(_build_casadi(sig, v[ov : ov + a], d[od : od + b]))
        ov += a
        od += b
    f = ca.vertcat(*exprs)
    jac = ca.jacobian(f, v)
    lagr = ca.dot(lam, f)
    hess = ca.tril(ca.hessian(lagr, v)[0])
    jsp = jac.sparsity()
    hsp = hess.sparsity()
    jrow, jcol = jsp.get_triplet()
    hrow, hcol = hsp.get_triplet()
    fj = ca.Function("J", [v, d], [ca.vertcat(*jac.nonzeros()) if jac.nnz() else ca.SX(0, 1)])
    fh = ca.Function(
        "H", [v, d, lam], [ca.vertcat(*hess.nonzeros()) if hess.nnz() else ca.SX(0, 1)]
    )
    ff = ca.Function("F", [v, d], [f])
    return (
        ff,
        fj,
        fh,
        (np.array(jrow, int), np.array(jcol, int)),
        (
            np.array(hrow, int),
            np.array(hcol, int),
        ),
    )


class NLPEvaluator:
    """Callbacks of one Pyomo NLP in the form cyipopt's Problem expects.

    Ipopt minimizes, so a maximized objective is negated (``obj_sign = -1``).
    """

    #: signatures shared by fewer rows than this are compiled together
    map_threshold = 4

    @collector_paused()
    def __init__(self, model: Any, feasibility: bool = False) -> None:
        """Compile `model`; with `feasibility`, a model without an active objective is
        a feasibility problem (objective 0, ``objective_data`` None) instead of refused.
        The cyclic collector waits (:func:`collector_paused`): the compiled rows live on."""
        objectives = list(model.component_data_objects(Objective, active=True, descend_into=True))
        if not objectives and not feasibility:
            raise UnsupportedModelError(f"model {model.name}: no active objective")
        if len(objectives) > 1:
            names = ", ".join(o.name for o in objectives[:4])
            raise UnsupportedModelError(
                f"model {model.name}: {len(objectives)} active objectives ({names}); "
                "activate exactly one"
            )
        self.objective_data: ObjectiveData | None = objectives[0] if objectives else None
        obj = self.objective_data
        self.obj_sign = -1.0 if obj is not None and obj.sense == maximize else 1.0
        self._check_components(model)

        walker = _Walker()
        rows: list[_Row] = []
        g_lb: list[float] = []
        g_ub: list[float] = []
        #: constraint -> its rows (a ranged constraint with variable bounds has two)
        self.constraint_rows: dict[ConstraintData, list[int]] = {}
        self.constraint_list: list[ConstraintData] = []
        #: constraints left out of the NLP, as Pyomo's NL writer leaves them out:
        #: constant ones (checked, reported with dual 0) and free rows (no finite bound)
        self.trivial_constraints: list[ConstraintData] = []
        self.free_constraints: list[ConstraintData] = []
        for con in model.component_data_objects(Constraint, active=True, descend_into=True):
            pieces = self._standardize(con)
            ids = []
            for body, lo, hi in pieces:
                row = walker.walk(body, lambda con=con: f"constraint {con.name}")
                if not row.var_ids:
                    self._check_trivial(con, row, lo, hi)
                    if con not in self.trivial_constraints:
                        self.trivial_constraints.append(con)
                    continue
                if lo == -math.inf and hi == math.inf:
                    self.free_constraints.append(con)
                    continue
                ids.append(len(rows))
                rows.append(row)
                g_lb.append(lo)
                g_ub.append(hi)
            if ids:
                self.constraint_rows[con] = ids
                self.constraint_list.append(con)
        obj_terms = _objective_terms(None if obj is None else obj.expr)
        obj_rows = [walker.walk(term, lambda: f"objective {obj.name}") for term in obj_terms]

        self.variables: list[VarData] = walker.variables
        self.variable_index = ComponentMap((v, i) for i, v in enumerate(self.variables))
        self.n = len(self.variables)
        self.m = len(rows)
        self.g_lb = np.array(g_lb, float)
        self.g_ub = np.array(g_ub, float)
        self.x_lb, self.x_ub, self.x0 = self._variable_bounds()
        self._compile(rows, obj_rows)

    # ------------------------------------------------------------------ model walk
    @staticmethod
    def _check_components(model: Any) -> None:
        """Refuse components that an NLP solver would silently ignore."""
        from pyomo.core.base.external import ExternalFunction

        for comp in model.component_objects(active=True, descend_into=True):
            ctype = comp.ctype
            if ctype in (Var, Constraint, Objective, Block, ExternalFunction):
                continue
            cname = ctype.__name__
            advice = _MUST_TRANSFORM.get(cname)
            if advice is not None:
                raise UnsupportedModelError(f"component {comp.name} ({cname}) {advice}")

    @staticmethod
    def _standardize(con: ConstraintData) -> list[tuple[Any, float, float]]:
        """(body, lower, upper) rows of a constraint; variable range bounds split in two."""
        try:
            expr = con.expr
        except AttributeError:  # matrix constraints (repn.beta, kernel) keep no expression
            expr = None
        if isinstance(expr, RangedExpression):
            lo, body, hi = expr.args
            lo_var = not _is_constant(lo)
            hi_var = not _is_constant(hi)
            if lo_var or hi_var:
                return [(lo - body, -math.inf, 0.0), (body - hi, -math.inf, 0.0)]
        elif expr.__class__ in _TWO_SIDED:
            lhs, rhs = expr.args
            if _potentially_variable(lhs) and _potentially_variable(rhs):
                # Pyomo's own standardization builds lhs - rhs by copying rhs's sum
                # with every term negated (a third of the walk time on IC rows);
                # the same body as two new nodes:
                body = ne.SumExpression([lhs, ne.NegationExpression((rhs,))])
                lo = 0.0 if expr.__class__ is EqualityExpression else -math.inf
                return [(body, lo, 0.0)]
        lo, body, hi = con.to_bounded_expression(evaluate_bounds=True)
        return [
            (
                body,
                -math.inf if lo is None else float(lo),
                math.inf if hi is None else float(hi),
            )
        ]

    @staticmethod
    def _check_trivial(con: ConstraintData, row: _Row, lo: float, hi: float) -> None:
        """A constraint without free variables is dropped, if it holds."""
        d = ca.SX.sym("d", len(row.data))
        expr = _build_casadi(row.signature, ca.SX.sym("v", 0), d)
        val = float(ca.Function("c", [d], [expr])(row.data))
        if val < lo - TRIVIAL_TOL or val > hi + TRIVIAL_TOL or math.isnan(val):
            raise TriviallyInfeasibleError(
                f"constraint {con.name} has no free variables and is violated "
                f"({lo} <= {val} <= {hi} fails)"
            )

    def _variable_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lb = np.empty(self.n)
        ub = np.empty(self.n)
        x0 = np.empty(self.n)
        for i, v in enumerate(self.variables):
            lo, hi = v.bounds
            lb[i] = -math.inf if lo is None else lo
            ub[i] = math.inf if hi is None else hi
            if lb[i] > ub[i]:
                raise UnsupportedModelError(
                    f"variable {v.name} has lower bound {lb[i]} above upper bound {ub[i]}"
                )
            val = v.value
            x0[i] = min(max(0.0 if val is None else float(val), lb[i]), ub[i])
        return lb, ub, x0

    # ------------------------------------------------------------------ compilation
    def _compile(self, rows: list[_Row], obj_rows: list[_Row]) -> None:
        self.groups = self._kernels(rows, np.arange(len(rows)))
        self.n_signatures = len({row.signature for row in rows})
        # The objective's additive terms are rows of their own, mapped by signature like
        # the constraints (one SX graph of a 10,000-term sum took 3 s to differentiate).
        # terms without free variables stay rows too: CasADi evaluates log(0) as -inf,
        # as in any other row, where Python's math raised
        self.obj_groups = self._kernels(obj_rows, np.full(len(obj_rows), -1))
        self._assemble_structure()

    def _kernels(self, rows: list[_Row], labels: np.ndarray) -> list[_Group]:
        """Groups evaluating `rows` (global row index `labels`, -1 for objective terms):
        one mapped kernel per signature shared by map_threshold rows, one for the rest."""
        by_sig: dict[tuple, list[int]] = defaultdict(list)
        for r, row in enumerate(rows):
            by_sig[row.signature].append(r)
        groups: list[_Group] = []
        rare: list[int] = []
        for sig, members in by_sig.items():
            if len(members) < self.map_threshold:
                rare.extend(members)
                continue
            nv = len(rows[members[0]].var_ids)
            nd = len(rows[members[0]].data)
            kernel = _make_kernel([sig], [nv], [nd])
            groups.append(
                self._group(
                    kernel,
                    labels[members][:, None],
                    np.array([rows[r].var_ids for r in members], int).reshape(len(members), nv),
                    np.array([rows[r].data for r in members], float).reshape(len(members), nd),
                )
            )
        if rare:
            rare.sort()
            kernel = _make_kernel(
                [rows[r].signature for r in rare],
                [len(rows[r].var_ids) for r in rare],
                [len(rows[r].data) for r in rare],
            )
            groups.append(
                self._group(
                    kernel,
                    labels[rare][None, :],
                    np.array([i for r in rare for i in rows[r].var_ids], int)[None, :],
                    np.array([x for r in rare for x in rows[r].data], float)[None, :],
                )
            )
        return groups

    def _group(
        self, kernel: tuple, rows: np.ndarray, var_idx: np.ndarray, data: np.ndarray
    ) -> _Group:
        ff, fj, fh, jl, hl = kernel
        copies = rows.shape[0]
        grp = _Group(rows, var_idx, data, jl, hl, kernel_f=ff, kernel_j=fj, kernel_h=fh)
        if copies > 1:
            ff, fj, fh = ff.map(copies), fj.map(copies), fh.map(copies)
        k = rows.shape[1]
        b = grp.bufs
        b["v"] = np.zeros(var_idx.shape)
        b["d"] = np.ascontiguousarray(data)
        b["lam"] = np.zeros((copies, k))
        b["f"] = np.zeros((copies, k))
        b["j"] = np.zeros((copies, len(jl[0])))
        b["h"] = np.zeros((copies, len(hl[0])))
        for name, fun, args, res in (
            ("f_eval", ff, ("v", "d"), "f"),
            ("j_eval", fj, ("v", "d"), "j"),
            ("h_eval", fh, ("v", "d", "lam"), "h"),
        ):
            buf, ev = fun.buffer()
            for i, a in enumerate(args):
                buf.set_arg(i, memoryview(b[a]))
            buf.set_res(0, memoryview(b[res]))
            b[name + "_buf"] = buf  # keep the buffer object alive
            setattr(grp, name, ev)
        return grp

    def _assemble_structure(self) -> None:
        """Global Jacobian and Hessian sparsity from the groups' index maps."""
        jr, jc = [], []
        for g in self.groups:
            lr, ls = g.jac_local
            jr.append(g.rows[:, lr].ravel())
            jc.append(g.var_idx[:, ls].ravel())
        self._jac_rows = np.concatenate(jr) if jr else np.zeros(0, int)
        self._jac_cols = np.concatenate(jc) if jc else np.zeros(0, int)

        hr, hc = [], []
        for g in [*self.groups, *self.obj_groups]:
            a, b = g.hess_local
            ia = g.var_idx[:, a].ravel()
            ib = g.var_idx[:, b].ravel()
            hr.append(np.maximum(ia, ib))
            hc.append(np.minimum(ia, ib))
        hr_all = np.concatenate(hr) if hr else np.zeros(0, int)
        hc_all = np.concatenate(hc) if hc else np.zeros(0, int)
        key = hr_all.astype(np.int64) * max(self.n, 1) + hc_all
        uniq, self._hess_pos = np.unique(key, return_inverse=True)
        self._hess_rows = (uniq // max(self.n, 1)).astype(int)
        self._hess_cols = (uniq % max(self.n, 1)).astype(int)
        self.nnz_jac = len(self._jac_rows)
        self.nnz_hess = len(uniq)
        cols = [g.var_idx[:, g.jac_local[1]].ravel() for g in self.obj_groups]
        self._obj_grad_cols = np.concatenate(cols) if cols else np.zeros(0, int)

    # ------------------------------------------------------------------ callbacks
    @staticmethod
    def _load_x(g: _Group, x: np.ndarray) -> None:
        np.take(x, g.var_idx, out=g.bufs["v"])

    def objective(self, x: np.ndarray) -> float:
        total = 0.0
        for g in self.obj_groups:
            self._load_x(g, x)
            g.f_eval()
            total += float(g.bufs["f"].sum())
        return self.obj_sign * total

    def gradient(self, x: np.ndarray) -> np.ndarray:
        parts = []
        for g in self.obj_groups:
            self._load_x(g, x)
            g.j_eval()
            parts.append(g.bufs["j"].ravel())
        if not parts:
            return np.zeros(self.n)
        grad = np.bincount(self._obj_grad_cols, weights=np.concatenate(parts), minlength=self.n)
        return self.obj_sign * grad

    def constraints(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(self.m)
        for g in self.groups:
            self._load_x(g, x)
            g.f_eval()
            out[g.rows] = g.bufs["f"]
        return out

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self._jac_rows, self._jac_cols

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        parts = []
        for g in self.groups:
            self._load_x(g, x)
            g.j_eval()
            parts.append(g.bufs["j"].ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self._hess_rows, self._hess_cols

    def hessian(self, x: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        parts = []
        for g in self.groups:
            self._load_x(g, x)
            g.bufs["lam"][...] = lagrange[g.rows]
            g.h_eval()
            parts.append(g.bufs["h"].ravel())
        for g in self.obj_groups:
            self._load_x(g, x)
            g.bufs["lam"][...] = self.obj_sign * obj_factor
            g.h_eval()
            parts.append(g.bufs["h"].ravel())
        weights = np.concatenate(parts) if parts else np.zeros(0)
        return np.bincount(self._hess_pos, weights=weights, minlength=self.nnz_hess)

    # ------------------------------------------------------------------ CasADi graph
    def casadi_problem(self) -> tuple[Any, Any, Any]:
        """The same NLP as one CasADi MX graph `(x, f, g)`, for `nlpsol` comparisons.

        Reuses the compiled kernels (mapped over their rows), so both routes see the
        identical problem. The constraints are a call to a Function whose Jacobian
        is the evaluator's own (mapped row Jacobians placed by the index maps):
        left to itself, CasADi colours the whole all-pairs graph, which needs about
        one sweep per variable and took 43-54 s at N = 100 types. The objective's
        gradient is the evaluator's own likewise (:meth:`_casadi_objective`). Without
        ``hess_lag`` (:meth:`casadi_hessian`, which ``casadi_ipopt`` passes), the Hessian
        of the Lagrangian is CasADi's derivative of those Jacobians.
        """
        x = ca.MX.sym("x", self.n)
        f = self._casadi_objective()(x)
        if not self.groups:
            return x, f, ca.MX(0, 1)
        constraints, _ = self._casadi_constraints()
        return x, f, constraints(x)

    def casadi_jacobian(self) -> Any:
        """The constraints and their Jacobian as the Function ``nlpsol`` takes for its
        ``jac_g`` option (inputs x, p; outputs g, jac_g_x), from the evaluator's own
        Jacobian. Left to build it, ``nlpsol`` first finds the Jacobian's sparsity by
        sweeps through the mapped graph, whose number grows with the rows: 1.4 s at
        30,000 Token Packages types, 25 s at 100,000, where the evaluator knows the
        pattern already."""
        x = ca.MX.sym("x", self.n)
        if self.groups:
            constraints, jac = self._casadi_constraints()
            g, jac_x = constraints(x), jac(x, ca.MX(self.m, 1))
        else:
            g, jac_x = ca.MX(0, 1), ca.MX(0, self.n)
        return ca.Function(
            "nlp_jac_g", [x, ca.MX.sym("p", 0, 1)], [g, jac_x], ["x", "p"], ["g", "jac_g_x"]
        )

    def _casadi_constraints(self) -> tuple[Any, Any]:
        """The constraints as a Function of x (the mapped kernels' rows in row order)
        whose ``custom_jacobian`` is the second Function returned, of (x, g): the mapped
        row Jacobians placed by the index maps."""
        xg = ca.MX.sym("x", self.n)
        g_parts: list[tuple[np.ndarray, Any]] = []
        j_parts: list[Any] = []
        for grp in self.groups:
            values, jac_nz = _mapped_rows(xg, grp)  # jac_nz as _jac_rows/_jac_cols
            g_parts.append((grp.rows.T.ravel(), ca.vec(values)))
            j_parts.append(jac_nz)
        order = np.argsort(np.concatenate([r for r, _ in g_parts]), kind="stable")
        g = ca.vertcat(*[e for _, e in g_parts])[order.tolist()]
        sp, ccs_to_triplet = ca.Sparsity.triplet(
            self.m, self.n, self._jac_rows.tolist(), self._jac_cols.tolist(), False
        )
        nz = ca.vertcat(*j_parts)
        jac = ca.sparsity_cast(nz[ccs_to_triplet], sp) if self.nnz_jac else ca.MX(self.m, self.n)
        jac_fun = ca.Function("jac_constraints", [xg, ca.MX.sym("g", self.m)], [jac])
        opts = {"custom_jacobian": jac_fun, "jac_penalty": 0}
        return ca.Function("constraints", [xg], [g], opts), jac_fun

    def _casadi_objective(self) -> Any:
        """The objective as a Function of x whose gradient is the evaluator's own (the
        mapped term gradients summed by column), as the constraints' Jacobian is: CasADi's
        reverse sweep over 300,000 mapped terms took 104 ms per gradient at 100,000 Token
        Packages types, and the gradient's graph 5 s of nlpsol's construction."""
        x = ca.MX.sym("x", self.n)
        f = ca.MX(0.0)
        j_parts = []
        for grp in self.obj_groups:
            values, grad_nz = _mapped_rows(x, grp)  # grad_nz as _obj_grad_cols
            f += ca.sum2(ca.sum1(values))
            j_parts.append(grad_nz)
        f = ca.densify(f * self.obj_sign)  # a constant objective is a structural zero
        cols, where = np.unique(self._obj_grad_cols, return_inverse=True)
        if not len(cols):
            return ca.Function("objective", [x], [f])
        total = len(self._obj_grad_cols)
        spread = ca.Sparsity.triplet(len(cols), total, where.tolist(), list(range(total)))
        place = ca.DM(spread, 1.0)
        grad = ca.mtimes(place, ca.vertcat(*j_parts)) * self.obj_sign
        row = ca.Sparsity.triplet(1, self.n, [0] * len(cols), cols.tolist())  # sorted: in order
        jac = ca.Function("jac_objective", [x, ca.MX.sym("f")], [ca.sparsity_cast(grad, row)])
        return ca.Function("objective", [x], [f], {"custom_jacobian": jac, "jac_penalty": 0})

    def casadi_hessian(self) -> Any:
        """The Hessian of the Lagrangian as the Function ``nlpsol`` takes for its
        ``hess_lag`` option (inputs x, p, lam_f, lam_g; the upper triangle): the mapped
        kernels' own Hessians, placed and summed by the index maps, as Ipopt gets them
        from :meth:`hessian`. Left to CasADi, the Hessian is the derivative of the whole
        graph (10,000 Token Packages types: 3.4 s of function evaluations, 2.2 with this)."""
        x = ca.MX.sym("x", self.n)
        lam_f = ca.MX.sym("lam_f")
        lam_g = ca.MX.sym("lam_g", self.m)
        parts = []
        for grp in [*self.groups, *self.obj_groups]:
            copies, k = grp.rows.shape
            fh = grp.kernel_h.map(copies) if copies > 1 else grp.kernel_h
            vmat = _slot_matrix(x, grp)
            if grp.rows[0, 0] < 0:  # objective terms: the objective's weight
                lam = ca.repmat(lam_f * self.obj_sign, k, copies)
            else:
                lam = ca.reshape(lam_g[grp.rows.ravel().tolist()], k, copies)
            parts.append(ca.vec(fh(vmat, ca.DM(grp.data.T), lam)))  # copy-major
        total = int(sum(p.numel() for p in parts))
        place = ca.DM(
            ca.Sparsity.triplet(self.nnz_hess, total, self._hess_pos.tolist(), list(range(total))),
            1.0,
        )
        nz = ca.mtimes(place, ca.vertcat(*parts)) if parts else ca.MX(0, 1)
        # upper triangle: (col, row) of the evaluator's lower-triangle entries
        sp, ccs_to_triplet = ca.Sparsity.triplet(
            self.n, self.n, self._hess_cols.tolist(), self._hess_rows.tolist(), False
        )
        hess = ca.sparsity_cast(nz[ccs_to_triplet], sp) if self.nnz_hess else ca.MX(self.n, self.n)
        return ca.Function(
            "nlp_hess_l",
            [x, ca.MX.sym("p", 0, 1), lam_f, lam_g],
            [hess],
            ["x", "p", "lam_f", "lam_g"],
            ["triu_hess_gamma_x_x"],
        )


def _mapped_rows(x: Any, grp: _Group) -> tuple[Any, Any]:
    """The group's rows at the symbol `x` through its mapped kernels: their values (one
    column per copy) and their Jacobian entries, copy-major as the index maps hold them."""
    copies = grp.rows.shape[0]
    ff, fj = grp.kernel_f, grp.kernel_j
    if copies > 1:
        ff, fj = ff.map(copies), fj.map(copies)
    vmat = _slot_matrix(x, grp)
    dmat = ca.DM(grp.data.T)
    return ff(vmat, dmat), ca.vec(fj(vmat, dmat))


def _slot_matrix(x: Any, grp: _Group) -> Any:
    """The group's variable slots taken from the symbol `x`: one column per copy, the
    layout its mapped kernels take."""
    copies, nv = grp.var_idx.shape
    return ca.reshape(x[grp.var_idx.ravel().tolist()], nv, copies)


def _objective_terms(expr: Any) -> list[Any]:
    """The additive terms of an objective, each compiled as a row: sums are flattened
    through named Expressions and nested sums (``expected_profit - penalty`` is the
    profit's terms and the penalty's); anything else is one term."""
    if expr is None:
        return []
    terms: list[Any] = []
    stack: list[tuple[Any, Any]] = [(expr, None)]  # (node, constant factor or None)
    while stack:
        node, factor = stack.pop()
        kind = None if node.__class__ in native_numeric_types else _classify(node)
        if kind is _NAMED:
            stack.append((node.expr, factor))
        elif kind is _SUM:
            stack.extend((arg, factor) for arg in reversed(node.args))
        elif kind is _NEG:  # -(a + b): -a, -b
            stack.append((node.args[0], -1 if factor is None else -factor))
        elif kind is _PROD and _is_data(node.args[0]) and _is_sum(node.args[1]):  # c (a + b)
            c = node.args[0]
            stack.append((node.args[1], c if factor is None else factor * c))
        else:
            terms.append(node if factor is None else factor * node)
    return terms


def _is_sum(node: Any) -> bool:
    """A sum, or a name or negation over one (a constant factor distributes over it)."""
    return node.__class__ not in native_numeric_types and _classify(node) in (_SUM, _NAMED, _NEG)


def _is_data(node: Any) -> bool:
    """A leaf or expression without free variables (a number, a Param, an NPV term)."""
    return node.__class__ in native_numeric_types or _classify(node) is _PARAM_LEAF


def _is_constant(expr: Any) -> bool:
    if expr is None or expr.__class__ in native_numeric_types:
        return True
    return not expr.is_potentially_variable() or expr.is_fixed()


def _potentially_variable(expr: Any) -> bool:
    """Pyomo's own test in ``to_bounded_expression`` (no tree walk, unlike is_fixed)."""
    return expr.__class__ not in native_numeric_types and expr.is_potentially_variable()


def compile_model(model: Any) -> NLPEvaluator:
    """Compile `model` (any BlockData) into Ipopt callbacks."""
    return NLPEvaluator(model)
