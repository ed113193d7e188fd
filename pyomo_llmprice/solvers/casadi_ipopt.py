"""``casadi_ipopt``: the same compiled model solved by CasADi's ``nlpsol('ipopt')``.

It shares the expression compilation of ``cyipopt_direct`` (the kernels are
assembled into one CasADi graph), so comparisons of the two see the identical
problem and differ only in who drives Ipopt and computes derivatives.
"""

from __future__ import annotations

import ctypes
import functools
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import casadi as ca
import numpy as np
from pyomo.common.tee import TeeStream, capture_output
from pyomo.contrib.solver.common.base import Availability

from pyomo_llmprice import limits

from .config import CyIpoptConfig
from .cyipopt_direct import CyIpoptDirect, LegacyCyIpoptDirect, effective_options
from .evaluator import NLPEvaluator
from .status import IPOPT_STATUS

__all__ = ["CasadiIpopt", "LegacyCasadiIpopt"]

_CODE_OF_NAME = {row.name: code for code, row in IPOPT_STATUS.items()}
#: CasADi's statistics t_wall_<name>: the NLP function evaluations during a solve
_NLP_FUNCTIONS = ("nlp_f", "nlp_g", "nlp_grad_f", "nlp_jac_g", "nlp_hess_l")


class CasadiIpopt(CyIpoptDirect):
    """Ipopt driven by CasADi's ``nlpsol`` on the compiled model."""

    CONFIG = CyIpoptConfig()

    #: CasADi's MUMPS has METIS; its automatic ordering needs no help
    default_options: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def available(self) -> Availability:
        return Availability.FullLicense if ca.has_nlpsol("ipopt") else Availability.NotFound

    def version(self) -> tuple:
        return tuple(int(p) for p in ca.__version__.split(".")[:3])

    def _run_ipopt(self, model: Any, ev: NLPEvaluator, config: CyIpoptConfig) -> dict:
        x, f, g = ev.casadi_problem()
        opts = {
            "ipopt." + k: v for k, v in effective_options(config, ev, self.default_options).items()
        }
        opts.setdefault("ipopt.sb", "yes")
        opts["error_on_fail"] = False
        if ev.m or ev.obj_groups:  # the evaluator's own Hessian, not CasADi's derivative
            opts["hess_lag"] = ev.casadi_hessian()
        if ev.m:  # and its own Jacobian, whose pattern nlpsol would otherwise search for
            opts["jac_g"] = ev.casadi_jacobian()
        stop = _StopCheck(ev.n, ev.m)
        opts["iteration_callback"] = stop
        args: dict[str, Any] = {
            "x0": ev.x0,
            "lbx": ev.x_lb,
            "ubx": ev.x_ub,
            "lbg": ev.g_lb,
            "ubg": ev.g_ub,
        }
        if config.warm_start_multipliers:
            # before nlpsol: it reads warm_start_init_point from opts when built
            lam, zl, zu = self._warm_start(model, ev, config, _OptionSink(opts))
            args["lam_g0"] = lam
            args["lam_x0"] = np.asarray(zu) - np.asarray(zl)
        solver = ca.nlpsol("solver", "ipopt", {"x": x, "f": f, "g": g}, opts)
        log = io.StringIO()
        with (
            limits.solving(),
            capture_output(TeeStream(log, *config.tee), capture_fd=True),
            _one_blas_thread(),
        ):
            out = solver(**args)
        stats = solver.stats()
        lam_x = np.asarray(out["lam_x"]).ravel()
        return {
            "x": np.asarray(out["x"]).ravel(),
            "g": np.asarray(out["g"]).ravel(),
            "obj_val": float(out["f"]),
            "mult_g": np.asarray(out["lam_g"]).ravel(),
            "mult_x_L": np.maximum(-lam_x, 0.0),
            "mult_x_U": np.maximum(lam_x, 0.0),
            "status": _CODE_OF_NAME.get(stats.get("return_status"), -199),
            "iterations": int(stats.get("iter_count", 0)),
            "inf_du": float("nan"),
            "callback_time": sum(float(stats.get("t_wall_" + k, 0.0)) for k in _NLP_FUNCTIONS),
            "stop_reason": stop.stop_reason,
            "log": log.getvalue(),
        }


@functools.cache
def _casadi_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS that CasADi's wheel ships for its MUMPS (Linux), or None."""
    path = Path(ca.__file__).parent / "libcasadi-tp-openblas.so.0"
    try:
        lib = ctypes.CDLL(str(path))
        lib.openblas_get_num_threads.restype = ctypes.c_int
        lib.openblas_set_num_threads.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return lib


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """CasADi's OpenBLAS on one thread during a solve, then as it was. MUMPS's fronts
    on these problems are small (at most 23 at 100,000 Token Packages types), so BLAS
    threads only wait, spinning in sched_yield: 17.8 s of system time in a 26.9 s
    solve at 30,000 types, and 12% more wall time than on one thread (30,000 types:
    26.9 s against 24.0 s in Ipopt)."""
    lib = _casadi_openblas()
    if lib is None:
        yield
        return
    before = lib.openblas_get_num_threads()
    lib.openblas_set_num_threads(1)
    try:
        yield
    finally:
        lib.openblas_set_num_threads(before)


class _StopCheck(ca.Callback):
    """nlpsol's ``iteration_callback``: Ctrl-C and the command's deadline, once per
    iteration (nonzero is Ipopt's User_Requested_Stop, with the point so far), as
    ``cyipopt_direct``'s intermediate callback does it."""

    def __init__(self, n: int, m: int) -> None:
        ca.Callback.__init__(self)
        self._sizes = {"x": n, "lam_x": n, "g": m, "lam_g": m, "f": 1}
        self.stop_reason: str | None = None
        self.construct("stop_check", {})

    def get_n_in(self) -> int:
        return ca.nlpsol_n_out()

    def get_n_out(self) -> int:
        return 1

    def get_name_in(self, i: int) -> str:
        return ca.nlpsol_out(i)

    def get_name_out(self, i: int) -> str:
        return "ret"

    def get_sparsity_in(self, i: int) -> Any:
        size = self._sizes.get(ca.nlpsol_out(i))
        return ca.Sparsity(0, 0) if size is None else ca.Sparsity.dense(size)

    def eval(self, arg: Any) -> list[int]:
        self.stop_reason = limits.stop_reason()
        return [0 if self.stop_reason is None else 1]


class _OptionSink:
    """Lets the shared warm-start code set ``warm_start_init_point`` on nlpsol options."""

    def __init__(self, opts: dict) -> None:
        self._opts = opts

    def add_option(self, name: str, val: Any) -> None:
        self._opts["ipopt." + name] = val


class LegacyCasadiIpopt(LegacyCyIpoptDirect, CasadiIpopt):
    """``SolverFactory('casadi_ipopt')`` and ``pyomo solve --solver=casadi_ipopt``."""
