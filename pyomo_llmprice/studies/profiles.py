"""Dolan-More performance profiles: which solver is fastest on how many problems.

For problem p and solver s with cost t(p, s) (wall time, iterations), the ratio
r(p, s) = t(p, s) / min_s t(p, s) is infinite when s failed on p. The profile
rho_s(tau) is the fraction of problems with r(p, s) <= tau: rho_s(1) is how often s
is the fastest, rho_s(large tau) how often it solves at all (Dolan and More, Math.
Program. 91 (2002) 201-213).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["performance_profile", "performance_ratios", "plot_performance_profile"]


def performance_ratios(
    table: pd.DataFrame,
    problem: Sequence[str],
    solver: str = "solver",
    metric: str = "wall_time",
    solved: str = "solved",
) -> pd.DataFrame:
    """Problems x solvers matrix of r(p, s); a failed run (``solved`` false) is inf.

    Problems that no solver solved keep all-inf rows: they count against everyone.
    """
    cost = table[metric].astype(float).where(table[solved].astype(bool), np.inf)
    frame = table.assign(_cost=cost)
    wide = frame.pivot_table(
        index=list(problem), columns=solver, values="_cost", aggfunc="min", dropna=False
    )
    wide = wide.fillna(np.inf)
    best = wide.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = wide.div(best.where(np.isfinite(best) & (best > 0), np.nan), axis=0)
    # all-failed rows (best inf) and zero-cost rows: inf for failures, 1 for the rest
    ratios = ratios.where(np.isfinite(wide), np.inf).fillna(1.0)
    ratios.columns.name = solver
    return ratios


def performance_profile(ratios: pd.DataFrame, taus: Sequence[float] | None = None) -> pd.DataFrame:
    """rho_s(tau) for each solver (columns) at the given taus (index, >= 1).

    By default the taus are 1 and every finite ratio that occurs, so the step
    function is exact.
    """
    values = ratios.to_numpy(float)
    if taus is None:
        finite = values[np.isfinite(values)]
        taus = np.unique(np.concatenate([[1.0], finite]))
    taus = np.asarray(taus, float)
    n = max(len(ratios), 1)
    rho = (values[None, :, :] <= taus[:, None, None]).sum(axis=1) / n
    return pd.DataFrame(rho, index=pd.Index(taus, name="tau"), columns=ratios.columns)


def plot_performance_profile(
    ratios: pd.DataFrame, path: str | Path, title: str = "Performance profile (wall time)"
) -> Path:
    """Write the profile as a step plot on a log2 tau axis (Agg canvas, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    profile = performance_profile(ratios)
    finite = ratios.to_numpy(float)
    finite = finite[np.isfinite(finite)]
    tau_max = max(2.0, float(finite.max(initial=1.0)) * 1.5)
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    styles = ["-", "--", "-.", ":"]  # solvers often coincide: keep every line visible
    for k, solver in enumerate(profile.columns):
        taus = np.append(profile.index.to_numpy(float), tau_max)
        rho = np.append(profile[solver].to_numpy(float), profile[solver].iloc[-1])
        ax.step(
            taus,
            rho,
            where="post",
            label=str(solver),
            linewidth=2.4 - 0.3 * (k % 4),
            linestyle=styles[k % len(styles)],
        )
    ax.set_xscale("log", base=2)
    ax.set_xlim(1.0, tau_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(r"$\tau$ (within a factor $\tau$ of the best)")
    ax.set_ylabel(r"fraction of problems solved, $\rho_s(\tau)$")
    ax.set_title(f"{title}, {len(ratios)} problems")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
