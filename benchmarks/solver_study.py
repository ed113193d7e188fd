"""The shipped solver study: every shipped instance with every solver, one table, one profile.

    python benchmarks/solver_study.py                    # writes to a new temporary folder
    python benchmarks/solver_study.py --update           # rewrites the committed results
    python benchmarks/solver_study.py --max-types 100 --time-limit 20 --out DIR

The committed table and profile (benchmarks/results/solver_study/) change only with
``--update``: an ordinary run writes where it says, so trying the study never leaves
tracked files modified.

Token Packages in two formulations. All IC pairs: every solver, on the instances
with at most ``--max-types`` types (all pairs of 1000 types are 10^6 rows). IC
generated on demand: the Ipopt-based solvers on the instances with at most
``--max-types-generated`` types (SciPy's methods would re-solve each round from
scratch, minutes per instance). Every solve has a time limit; SLSQP holds its
Jacobian dense and is skipped when variables x rows exceed ``--dense-limit``.
Solvers not installed here (an ``ipopt`` executable, Knitro, CONOPT, ...) appear
as ``unavailable``. SCIP, Gurobi and HiGHS (the ``solvers`` extra, through Pyomo's
``scip_direct``, ``gurobi_direct_minlp`` and ``highs``) run on the instances with at
most ``--max-types-global`` types, with columns ``bound`` and ``global_gap``; Gurobi
beyond its pip licence is "skipped: size limit", HiGHS on a nonlinear model "skipped:
problem class". A last pass solves the quadratic-cost screening instances
(instances/screening: Mussa-Rosen, Rochet-Chone), the class HiGHS takes. Wall times are
the median of ``--repeat`` runs on a shared machine: compare them within one run, not
across machines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from pyomo_llmprice.io import read_instance  # noqa: E402
from pyomo_llmprice.studies.compare import (  # noqa: E402
    DEFAULT_SOLVERS,
    EXTERNAL_SOLVERS,
    PACKAGE_SOLVERS,
    compare,
    to_markdown,
    write_comparison,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--out", help="folder for the results (default: a new temporary folder)")
    out.add_argument(
        "--update",
        action="store_true",
        help="write into the committed benchmarks/results/solver_study/",
    )
    parser.add_argument("--max-types", type=int, default=100)
    parser.add_argument("--max-types-generated", type=int, default=1000)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--dense-limit", type=float, default=2e6)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--max-types-global",
        type=int,
        default=20,
        help="SCIP, Gurobi and HiGHS run on instances up to this many types (their "
        "spatial branch and bound on a menu NLP rarely proves optimality beyond)",
    )
    args = parser.parse_args(argv)
    if args.update:
        args.out = str(HERE / "results" / "solver_study")
    elif args.out is None:
        args.out = tempfile.mkdtemp(prefix="solver_study-")
    print(f"results go to {args.out}")

    instances = [read_instance(p) for p in sorted((REPO / "instances").glob("*.dat"))]
    screening = [read_instance(p) for p in sorted((REPO / "instances" / "screening").glob("*.dat"))]
    start = time.perf_counter()
    tables = []
    for formulation, solvers, cap in (
        ("all-pairs", [*DEFAULT_SOLVERS, *EXTERNAL_SOLVERS], args.max_types),
        ("all-pairs", list(PACKAGE_SOLVERS), args.max_types_global),
        (
            "generated",
            ["cyipopt_direct", "casadi_ipopt", *EXTERNAL_SOLVERS],
            args.max_types_generated,
        ),
    ):
        chosen = [i for i in instances if len(i.types) <= cap]
        left_out = [f"{i.name} ({len(i.types)} types)" for i in instances if len(i.types) > cap]
        if left_out:
            print(f"{formulation}: left out (more than {cap} types): {', '.join(left_out)}")
        tables.append(
            compare(
                chosen,
                solvers=solvers,
                setting="packages",
                formulation=formulation,
                repeat=args.repeat,
                time_limit=args.time_limit,
                dense_limit=args.dense_limit,
                progress=lambda msg, f=formulation: print(
                    f"solving {msg} ({f})", file=sys.stderr, flush=True
                ),
            )
        )
    # quadratic-cost screening (Mussa-Rosen, Rochet-Chone): the class HiGHS can take
    chosen = [i for i in screening if len(i.prob) <= args.max_types_global]
    tables.append(
        compare(
            chosen,
            solvers=["cyipopt_direct", *PACKAGE_SOLVERS],
            setting="screening",
            repeat=args.repeat,
            time_limit=args.time_limit,
            progress=lambda msg: print(f"solving {msg} (screening)", file=sys.stderr, flush=True),
        )
    )
    table = pd.concat(tables, ignore_index=True)
    paths = write_comparison(table, args.out)
    print(to_markdown(table))
    print(f"{len(table)} rows in {time.perf_counter() - start:.0f} s (shared 2-core machine)")
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
