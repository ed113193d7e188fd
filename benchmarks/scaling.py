"""Build, solve and verification time against the number of types, both settings.

    python benchmarks/scaling.py            # full sizes
    python benchmarks/scaling.py --quick    # small sizes (a few seconds)

Token Packages on the paper's theta grids (F = 2 theta - theta^2, midpoint rule),
N = 20, 100, 500, 1000, 2000 (adjacent IC). Token Allocations on the paper's
value-scale n x n grids, n = 3, 5, 7, 10, 14, with ALL IC pairs (N (N-1) rows).
Every row also reports the gap to theory's exact discrete optimum.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from pyomo_llmprice import theory
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.pipeline import build_model, read_menu, solve_model
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_grid_from_cdf, value_scale_grid

TECH = Technology.cobb_douglas()
FULL = {"packages": [20, 100, 500, 1000, 2000], "allocations": [3, 5, 7, 10, 14]}
QUICK = {"packages": [20, 100, 500], "allocations": [3, 5, 7]}


def instance(setting: str, size: int) -> tuple[Instance, float]:
    if setting == "packages":
        types = theta_grid_from_cdf(size, lambda t: 2 * t - t * t)
        ref = theory.discrete_optimal_menu(types.theta, types.prob, TECH).profit
    else:
        types = value_scale_grid(size, size)
        ref = theory.allocations_value_scale_discrete(
            types.value_per_task, types.scale, types.prob, TECH
        ).profit
    return Instance(f"{setting}_{size}", None, types, TECH), ref


def run(setting: str, size: int) -> dict:
    inst, ref = instance(setting, size)
    ic = "adjacent" if setting == "packages" else "all_pairs"
    t0 = time.perf_counter()
    model = build_model(inst, setting, ic=ic)
    t1 = time.perf_counter()
    res = solve_model(model)  # includes one read-back + verification
    t2 = time.perf_counter()
    again = read_menu(model.menu)  # time read-back + all-pairs verification alone
    t3 = time.perf_counter()
    n = len(inst.types)
    return {
        "setting": setting,
        "grid": size if setting == "packages" else f"{size}x{size}",
        "N": n,
        "IC rows": len(model.menu.incentive),
        "build s": t1 - t0,
        "solve s": (t2 - t1) - (t3 - t2),
        "verify s": t3 - t2,
        "iterations": res.iterations,
        "status": res.status,
        "profit": res.profit,
        "rel gap to theory": (res.profit - ref) / ref,
        "max violation": max(again.verification.max_violation, 0.0),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--setting", choices=["packages", "allocations", "both"], default="both")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    settings = ["packages", "allocations"] if args.setting == "both" else [args.setting]
    rows = []
    for setting in settings:
        for size in sizes[setting]:
            row = run(setting, size)
            rows.append(row)
            print(
                f"{setting:11s} N={row['N']:5d} solve {row['solve s']:.2f}s {row['status']}",
                flush=True,
            )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200):
        print(
            table.to_string(
                index=False,
                formatters={
                    "build s": "{:.2f}".format,
                    "solve s": "{:.2f}".format,
                    "verify s": "{:.3f}".format,
                    "profit": "{:.8f}".format,
                    "rel gap to theory": "{:.1e}".format,
                    "max violation": "{:.1e}".format,
                },
            )
        )
    assert np.isfinite(table["profit"]).all()
    return table


if __name__ == "__main__":
    main()
