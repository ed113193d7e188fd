"""A user-written precision function shared by the unit tests (a module, so tests can
import it)."""

from __future__ import annotations


class ShiftedCobbDouglas:
    """The paper's precision written by a user: not a CobbDouglas, so no closed form
    (and no token re-denomination) applies to it."""

    def __init__(self, alpha=0.25, beta=0.25, gamma=0.25, base_quality=1.0):
        self.alpha, self.beta, self.gamma, self.base_quality = alpha, beta, gamma, base_quality

    def precision(self, a_in, a_out, z):
        return a_in * a_out * (self.base_quality + z) ** self.gamma

    def input_tokens(self, a_in):
        return a_in ** (1 / self.alpha)

    def output_tokens(self, a_out):
        return a_out ** (1 / self.beta)

    def factors(self, x, y):
        return x**self.alpha, y**self.beta
