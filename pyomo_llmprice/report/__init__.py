"""Reports of solved menus and tariff designs: figures (matplotlib, on request).

Nothing here solves anything: every function takes results of the layers below
(:class:`~pyomo_llmprice.result.MenuResult` tables, tariff menus and outcomes,
the pricing comparison table) and draws them. matplotlib is imported only when a
figure is made (``pip install pyomo_llmprice[plot]``).
"""

from pyomo_llmprice.report.plots import (
    FIGURE_FORMATS,
    plot_allocations,
    plot_markups_and_fees,
    plot_profit_by_plans,
    plot_tariff_schedules,
    save_figure,
    schedule_envelope,
    write_figures,
)

__all__ = [
    "FIGURE_FORMATS",
    "plot_allocations",
    "plot_markups_and_fees",
    "plot_profit_by_plans",
    "plot_tariff_schedules",
    "save_figure",
    "schedule_envelope",
    "write_figures",
]
