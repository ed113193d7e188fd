"""Token Allocations (task-by-task token assignment is contractible), for ``pyomo solve``.

    pyomo solve models/token_allocations.py instances/paper_vs_10x10.dat \
        --solver=cyipopt_direct --solver-options="tol=1e-9 acceptable_tol=1e-9 bound_relax_factor=0"

Prints the verified menu and the expected profit after the solve.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _menu_model import abstract_menu_model, print_menu, validated_dataportal

model = abstract_menu_model("allocations")
pyomo_print_results = print_menu
pyomo_create_dataportal = validated_dataportal  # refuse bad .dat files with one line
