"""Hock-Schittkowski problem 71, the classic small NLP (optimum 17.0140173).

pyomo solve models/hs071.py --solver=cyipopt_direct --summary
"""

import pyomo.environ as pyo

model = pyo.ConcreteModel(name="hs071")
model.x = pyo.Var([1, 2, 3, 4], bounds=(1, 5), initialize={1: 1, 2: 5, 3: 5, 4: 1})
model.obj = pyo.Objective(
    expr=model.x[1] * model.x[4] * (model.x[1] + model.x[2] + model.x[3]) + model.x[3]
)
model.product = pyo.Constraint(expr=model.x[1] * model.x[2] * model.x[3] * model.x[4] >= 25)
model.norm = pyo.Constraint(expr=sum(model.x[i] ** 2 for i in model.x) == 40)
model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
