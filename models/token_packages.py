"""Token Packages (only token totals are contractible), for ``pyomo solve``.

    pyomo solve models/token_packages.py instances/paper_vs_10x10.dat \
        --solver=cyipopt_direct --solver-options="tol=1e-9 acceptable_tol=1e-9 bound_relax_factor=0"

Prints the verified menu and the expected profit after the solve.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _menu_model import abstract_menu_model, print_menu, settle_chain, validated_dataportal

model = abstract_menu_model("packages")
pyomo_print_results = print_menu
pyomo_modify_instance = settle_chain  # the envelope chain only where it is exact
pyomo_create_dataportal = validated_dataportal  # refuse bad .dat files with one line
