"""Shared body of the ``pyomo solve`` model files (not itself a model file)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import pyomo.environ as pyo

from pyomo_llmprice.cli._common import exit_code, is_user_error
from pyomo_llmprice.io import SCHEMA_READERS
from pyomo_llmprice.io import validated_dataportal as _validated_dataportal
from pyomo_llmprice.pipeline import read_menu
from pyomo_llmprice.settings import get_setting


def one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake ends ``pyomo solve`` as it ends ``llmprice``: one line naming the
    file and the entry, exit code 2 (Pyomo would print a multi-line 'Unexpected
    exception' and exit 1). SystemExit passes through Pyomo's handler."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwds: Any) -> Any:
        try:
            return fn(*args, **kwds)
        except Exception as err:
            if not is_user_error(err):
                raise
            print(f"pyomo solve: error: {' '.join(str(err).split())}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapped


validated_dataportal = one_line_errors(_validated_dataportal)


def abstract_menu_model(setting: str) -> pyo.AbstractModel:
    """The setting's ``.dat`` schema plus its menu block, for ``pyomo solve``."""
    entry = get_setting(setting)
    declare, from_model = SCHEMA_READERS[entry.schema]
    model = pyo.AbstractModel(name=setting if entry.schema == "screening" else f"token_{setting}")
    declare(model)
    model.menu = entry.block(instance=one_line_errors(from_model))
    return model


@one_line_errors
def settle_chain(options: Any = None, model: Any = None, instance: Any = None) -> None:
    """Before ``pyomo solve`` solves (its ``pyomo_modify_instance`` hook): the envelope
    chain only where it is exact, relaxed or refused as ``solve_model`` does it."""
    from pyomo_llmprice.blocks.menu import menu_block

    menu_block(instance).settle_chain()


def print_menu(options: Any, instance: Any, results: Any) -> None:
    """After ``pyomo solve``: the verified menu, its profit and its largest violations.

    The status is the one ``llmprice solve`` would give (:func:`legacy_outcome`). A
    solve that lost its way (``infeasible``, ``not_converged``) is re-solved as
    ``llmprice solve`` does it, with its regularized retry (Ipopt can stop on a
    degenerate, bunched menu; see :func:`pyomo_llmprice.generation.solve_menu`),
    and the report says so.
    """
    from pyomo.contrib.solver.common.factory import SolverFactory

    from pyomo_llmprice.generation import RETRY_OUTCOMES
    from pyomo_llmprice.outcomes import iteration_count, legacy_outcome
    from pyomo_llmprice.pipeline import solve_model
    from pyomo_llmprice.solvers.config import parse_option_string

    outcome = legacy_outcome(results)
    solver = options.solvers[0]
    name = solver.solver_name
    if (
        outcome in RETRY_OUTCOMES
        and instance.menu.component("profit_objective") is not None
        and name in SolverFactory
    ):
        opts = dict(solver.options or {})
        opts.update(parse_option_string(solver.options_string or ""))
        print(f"pyomo solve: the solve ended {outcome}; re-solving as 'llmprice solve' does")
        retried = solve_model(instance, solver=name, options=opts)
        print(retried.report())
        _exit_unless_optimal(retried.status)
        return
    menu = read_menu(
        instance.menu,
        outcome=outcome,
        termination=str(results.solver.termination_condition),
        solver=f"{name} (pyomo solve)",
        iterations=iteration_count(results),
    )
    menu.ic = instance.menu.ic_set
    print(menu.report())
    _exit_unless_optimal(menu.status)


def _exit_unless_optimal(status: str) -> None:
    """A menu that is not optimal ends ``pyomo solve`` with its status's exit code (the
    table of ``llmprice``), so scripts see it; Pyomo alone would exit 0."""
    if status != "optimal":
        sys.stdout.flush()
        raise SystemExit(exit_code(status))
