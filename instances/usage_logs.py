"""Synthetic usage logs with a known truth, for ``llmprice calibrate``.

    python instances/usage_logs.py                      # (re)write instances/usage/
    python instances/usage_logs.py --outdir DIR --customers 500 --periods 3 --noise 0.2

Draws each customer's theta from a lognormal law, lets it best-respond to a tariff in
every period (the tariff layer's buyers: :func:`pyomo_llmprice.tariffs.best_response`),
and writes, into the output folder:

* ``usage.csv``: the log (customer, period, the three token columns, plan, weight);
* ``tariff.json``: the tariff applied (``--markup``: one plan, every class at that
  multiple of cost and no fee, a linear price list; ``--fee F`` adds a fee);
* ``technology.dat``: the technology alone (the paper's);
* ``truth.dat``: the drawn types as an instance (one type per customer), the answer
  calibration should find without noise.

The default recipe is the worked example of docs/calibration.md: a month (one period)
of 80 customers under a price list at 1.6 times cost. The generating functions live in
:mod:`pyomo_llmprice.calibration.synthetic` (tests import them from there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))

from scipy import stats  # noqa: E402

from pyomo_llmprice.calibration.synthetic import (  # noqa: E402
    draw_types,
    linear_price_list,
    synthetic_usage,
)
from pyomo_llmprice.instance import Instance  # noqa: E402
from pyomo_llmprice.io import TECHNOLOGY_PARAMS, technology_params, write_dat  # noqa: E402
from pyomo_llmprice.io.usage import write_usage  # noqa: E402
from pyomo_llmprice.technology import Technology  # noqa: E402
from pyomo_llmprice.types import theta_types  # noqa: E402


def write_example(
    outdir: Path,
    customers: int = 80,
    periods: int = 1,
    noise: float = 0.0,
    markup: float = 1.6,
    fee: float = 0.0,
    median: float = 0.5,
    sigma: float = 0.25,
    seed: int = 2026,
) -> dict[str, Path]:
    """Write the four files of one synthetic market into ``outdir``; return their paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    tech = Technology.cobb_douglas()
    law = stats.lognorm(s=sigma, scale=median)
    theta = draw_types(law, customers, seed)
    plans = linear_price_list(markup, tech)
    plans[0]["fixed_fee"] = fee
    usage = synthetic_usage(theta, plans, tech, periods=periods, noise=noise, seed=seed + 1)
    paths = {
        "usage": outdir / "usage.csv",
        "tariff": outdir / "tariff.json",
        "technology": outdir / "technology.dat",
        "truth": outdir / "truth.dat",
    }
    write_usage(usage, paths["usage"])
    paths["tariff"].write_text(json.dumps({"plans": plans}, indent=2) + "\n")
    params = technology_params(tech)
    recipe = (
        f"lognormal theta (median {median}, sigma {sigma}), {customers} customers, "
        f"{periods} period(s), noise {noise}, price list at {markup} x cost, fee {fee}, "
        f"seed {seed}"
    )
    paths["technology"].write_text(
        "# The paper's technology alone (for llmprice calibrate --technology)\n"
        + "".join(f"param {name} := {params[name]!r} ;\n" for name in TECHNOLOGY_PARAMS)
    )
    labels = list(usage["customer"].drop_duplicates())
    truth = Instance("truth", None, theta_types(theta, None, labels), tech)
    write_dat(truth, paths["truth"], header=f"The true types of usage.csv: {recipe}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", type=Path, default=HERE / "usage")
    parser.add_argument("--customers", type=int, default=80)
    parser.add_argument("--periods", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.0, help="sd of log theta per period")
    parser.add_argument("--markup", type=float, default=1.6, help="price list: prices / cost")
    parser.add_argument("--fee", type=float, default=0.0, help="fixed fee of the plan")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    paths = write_example(
        args.outdir,
        args.customers,
        args.periods,
        args.noise,
        args.markup,
        args.fee,
        seed=args.seed,
    )
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
