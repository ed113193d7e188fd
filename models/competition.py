"""One seller's best response to the others' menus (competition, Token Packages), for
``pyomo solve``.

    llmprice compete instances/competition/two_providers.dat --json menus.json
    pyomo solve models/competition.py instances/competition/two_providers.dat menus.json \
        --solver=cyipopt_direct

The first data file is a competition ``.dat`` (buyers, sellers, taste); the second is
the JSON of ``llmprice compete`` holding the rivals' menus. The seller solved for is
the one the JSON names under ``"best_response"`` (add that key), or else the one
seller whose menu the JSON leaves out. Its model is the package's Token Packages
block without IR rows, each type weighted by its probability of choosing this seller
given the rivals' published menus. Prints the best response's plans and its profit.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _menu_model import one_line_errors


@one_line_errors
def pyomo_create_model(options, model_options):
    """The ConcreteModel of the best response (Pyomo loads no data into it)."""
    from pyomo_llmprice.competition.best_response import best_response_to_file
    from pyomo_llmprice.errors import UserInputError
    from pyomo_llmprice.io.competition import read_competition, read_menus_json

    files = [str(f) for f in options.data.files or ()]
    dat = [f for f in files if f.lower().endswith(".dat")]
    menus = [f for f in files if f.lower().endswith(".json")]
    if len(dat) != 1 or len(menus) != 1:
        raise UserInputError(
            "pyomo solve models/competition.py needs a competition .dat file and the JSON "
            f"of llmprice compete with the rivals' menus, got {files or 'no data files'}"
        )
    market = read_competition(dat[0])
    response, rival = best_response_to_file(market, read_menus_json(menus[0], market))
    response.model._response = response
    response.model._rival = rival
    return response.model


def pyomo_create_dataportal(options, model):
    """No data for Pyomo to load: pyomo_create_model read both files."""
    import pyomo.environ as pyo

    return pyo.DataPortal()


def pyomo_print_results(options, instance, results):
    """The best response's plans, profit and status (published numbers)."""
    import numpy as np

    from pyomo_llmprice.outcomes import legacy_outcome

    response = instance._response
    status = legacy_outcome(results)
    menu = response.read(status)
    util, choice = menu.utility()
    share = response.market.taste.own_probability(util, instance._rival)
    prob = np.asarray(response.instance.types.prob, float)
    profit = float(np.sum(prob * share * (menu.payment[choice] - menu.cost[choice])))
    print(f"best response of {menu.seller}: status {status}")
    print(f"{'type':>12} {'choice prob':>12} {'payment':>12} {'fixed fee':>12} {'markup':>8}")
    for i, label in enumerate(menu.labels):
        k = choice[i]
        print(
            f"{label:>12} {share[i]:12.4g} {menu.payment[k]:12.6g} "
            f"{menu.fixed_fee[k]:12.6g} {menu.markup[k]:8.4f}"
        )
    print(f"profit {profit:.8g}")
    print(
        f"largest IC violation {menu.max_ic_violation:.3g} (tolerance {menu.tolerance.max():.3g})"
    )
    if status != "optimal":
        sys.stdout.flush()
        raise SystemExit(3)
