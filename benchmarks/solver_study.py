"""The shipped solver study: every shipped instance with every solver, one table, one profile.

    python benchmarks/solver_study.py                    # writes benchmarks/results/solver_study/
    python benchmarks/solver_study.py --max-types 100 --time-limit 20 --out DIR

Token Packages, all IC pairs. Instances with more than ``--max-types`` types are
left out (all pairs of 1000 or 2500 types are 10^6 rows: ``llmprice compare
--formulation generated`` is the way to compare on those). Every solve has a time
limit; SLSQP holds its Jacobian dense and is skipped when variables x rows exceed
``--dense-limit``. Solvers not installed here (an ``ipopt`` executable, Knitro,
CONOPT, ...) appear as ``unavailable``. Wall times are the median of ``--repeat``
runs on a shared machine: compare them within one run, not across machines.
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

from pyomo_llmprice.io import read_instance  # noqa: E402
from pyomo_llmprice.studies.compare import (  # noqa: E402
    DEFAULT_SOLVERS,
    EXTERNAL_SOLVERS,
    compare,
    to_markdown,
    write_comparison,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(HERE / "results" / "solver_study"))
    parser.add_argument("--max-types", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--dense-limit", type=float, default=2e6)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)

    chosen, left_out = [], []
    for path in sorted((REPO / "instances").glob("*.dat")):
        inst = read_instance(path)
        (chosen if len(inst.types) <= args.max_types else left_out).append(inst)
    start = time.perf_counter()
    table = compare(
        chosen,
        solvers=[*DEFAULT_SOLVERS, *EXTERNAL_SOLVERS],
        setting="packages",
        formulation="all-pairs",
        repeat=args.repeat,
        time_limit=args.time_limit,
        dense_limit=args.dense_limit,
        progress=lambda msg: print(f"solving {msg}", file=sys.stderr, flush=True),
    )
    paths = write_comparison(table, args.out)
    print(to_markdown(table))
    if left_out:
        names = ", ".join(f"{i.name} ({len(i.types)} types)" for i in left_out)
        print(f"Left out (more than {args.max_types} types): {names}.")
    print(f"{len(table)} rows in {time.perf_counter() - start:.0f} s (shared 2-core machine)")
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
