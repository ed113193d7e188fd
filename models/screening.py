"""Generic screening (types of any dimension, one good per dimension), for ``pyomo solve``.

    pyomo solve models/screening.py instances/rochet_chone_5x5.dat --solver=cyipopt_direct

The .dat format: set TYPES, param prob, set DIMS, param theta[TYPES,DIMS], value_form
(linear | power | saturating) with value_exponent / value_rate, cost_form (linear |
quadratic), cost_coef, nonnegative. Prints the verified menu and the expected profit.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _menu_model import abstract_menu_model, print_menu, validated_dataportal

model = abstract_menu_model("screening")
pyomo_print_results = print_menu
pyomo_create_dataportal = validated_dataportal  # refuse bad .dat files with one line
