"""For which sizes is a proven-optimal K-plan pricing page within reach? (issue #18)

    python benchmarks/certify_plans.py                        # N = 6 10 15 20, K = 2 3 4
    python benchmarks/certify_plans.py --types 6 10 --plans 2 3 --time-limit 60
    python benchmarks/certify_plans.py --solver gurobi_direct_minlp

Types: the paper's worked example (theta = w sqrt(s), F(theta) = 2 theta - theta^2 on
[0, 1]) in N equal-width bins, as instances/paper_theta_20.dat. For each N and K the
local design (:func:`~pyomo_llmprice.tariffs.design.design_plans`, the reference
measured in the same run) and the global certificate
(:func:`~pyomo_llmprice.global_certificates.plans.certify_plans`, with a time limit) are timed;
printed: status (``optimal`` = proven), the gap reached, nodes, seconds, and the
certificate's time as a multiple of the local design's. Times are from a shared
2-core machine: read them as orders of magnitude and as ratios within one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pyomo_llmprice.global_certificates.plans import certify_plans  # noqa: E402
from pyomo_llmprice.tariffs import design_plans  # noqa: E402
from pyomo_llmprice.technology import Technology  # noqa: E402


def paper_types(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin midpoints of theta on [0, 1] and the F-mass of each bin, F = 2t - t^2."""
    edges = np.linspace(0.0, 1.0, n + 1)
    cdf = 2 * edges - edges**2
    return (edges[:-1] + edges[1:]) / 2, np.diff(cdf)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--types", type=int, nargs="+", default=[6, 10, 15, 20])
    parser.add_argument("--plans", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--solver", default="scip_direct")
    parser.add_argument("--csv", help="also write the table here")
    args = parser.parse_args(argv)
    tech = Technology.cobb_douglas()
    rows = []
    for n in args.types:
        types = paper_types(n)
        for k in args.plans:
            if k > n:
                continue
            start = time.perf_counter()
            local = design_plans(types, k, technology=tech, progress=False)
            local_time = time.perf_counter() - start
            cert = certify_plans(
                types, k, local=local, solver=args.solver, time_limit=args.time_limit,
                technology=tech, progress=False,
            )  # fmt: skip
            rows.append(
                {
                    "types": n,
                    "plans": k,
                    "status": cert.status,
                    "global_gap": cert.global_gap,
                    "nodes": cert.nodes,
                    "certify_s": round(cert.wall_time, 1),
                    "local_s": round(local_time, 2),
                    "ratio": round(cert.wall_time / local_time, 1),
                    "local_profit": cert.local_profit,
                    "global_bound": cert.global_bound,
                    "local_shortfall": cert.shortfall,
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1))
            sys.stdout.flush()
    table = pd.DataFrame(rows)
    print()
    print(table.to_markdown(index=False, floatfmt=".3g"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
