"""Technology: the precision function and the token costs.

The precision function `x^alpha y^beta (b + z)^gamma` has an infinite derivative at
zero tokens, which breaks Newton-type solvers exactly where the optimum excludes
types. The models therefore work in *factor* variables `a_in = x^alpha` and
`a_out = y^beta`: precision is then bilinear in the factors, token counts are
`a_in^(1/alpha)` (finite derivatives everywhere since `1/alpha > 1`), and an
excluded type sits at factors exactly zero.

A user substitutes another precision function by passing any object with the
four methods of :class:`PrecisionFunction`; every method must accept floats,
numpy arrays and Pyomo expressions alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["CobbDouglas", "PrecisionFunction", "Technology"]


@runtime_checkable
class PrecisionFunction(Protocol):
    """Precision delivered on one task, written in factor variables."""

    def precision(self, a_in: Any, a_out: Any, z: Any) -> Any:
        """Precision from the input factor, the output factor and fine-tuning tokens."""

    def input_tokens(self, a_in: Any) -> Any:
        """Input tokens needed for input factor `a_in`."""

    def output_tokens(self, a_out: Any) -> Any:
        """Output tokens needed for output factor `a_out`."""

    def factors(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Factors `(a_in, a_out)` of `x` input and `y` output tokens."""


@dataclass(frozen=True)
class CobbDouglas:
    """The paper's precision `x^alpha y^beta (b + z)^gamma` with `alpha+beta+gamma < 1`."""

    alpha: float = 0.25
    beta: float = 0.25
    gamma: float = 0.25
    base_quality: float = 1.0

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma", "base_quality"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.sigma < 1:
            raise ValueError(
                f"alpha + beta + gamma must be below 1 (decreasing returns), got {self.sigma}"
            )

    @property
    def sigma(self) -> float:
        """Returns to scale `alpha + beta + gamma`."""
        return self.alpha + self.beta + self.gamma

    @property
    def kappa(self) -> float:
        """Exponent of the buyer's split across tasks, `1 / (1 - alpha - beta)`."""
        return 1.0 / (1.0 - self.alpha - self.beta)

    def precision(self, a_in: Any, a_out: Any, z: Any) -> Any:
        return a_in * a_out * (self.base_quality + z) ** self.gamma

    def input_tokens(self, a_in: Any) -> Any:
        return a_in ** (1.0 / self.alpha)

    def output_tokens(self, a_out: Any) -> Any:
        return a_out ** (1.0 / self.beta)

    def factors(self, x: Any, y: Any) -> tuple[Any, Any]:
        return x**self.alpha, y**self.beta

    def precision_of_tokens(self, x: Any, y: Any, z: Any) -> Any:
        """Precision in raw tokens (for reporting and checks, not for models)."""
        return x**self.alpha * y**self.beta * (self.base_quality + z) ** self.gamma


@dataclass(frozen=True)
class Technology:
    """A precision function and constant marginal token costs `c_x, c_y, c_z`."""

    cost_input: float = 0.125
    cost_output: float = 0.125
    cost_finetune: float = 0.125
    precision: PrecisionFunction = field(default_factory=CobbDouglas)

    def __post_init__(self) -> None:
        for name in ("cost_input", "cost_output", "cost_finetune"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def cobb_douglas(
        cls,
        alpha: float = 0.25,
        beta: float = 0.25,
        gamma: float = 0.25,
        base_quality: float = 1.0,
        cost_input: float = 0.125,
        cost_output: float = 0.125,
        cost_finetune: float = 0.125,
    ) -> Technology:
        """The paper's technology; the defaults are its worked example."""
        return cls(
            cost_input,
            cost_output,
            cost_finetune,
            CobbDouglas(alpha, beta, gamma, base_quality),
        )

    @property
    def cobb_douglas_precision(self) -> CobbDouglas:
        """The Cobb-Douglas precision, or an error for a user-supplied one."""
        if not isinstance(self.precision, CobbDouglas):
            raise TypeError("this needs the Cobb-Douglas precision function")
        return self.precision

    def cost(self, x: Any, y: Any, z: Any) -> Any:
        """Seller's cost of `x` input, `y` output and `z` fine-tuning tokens."""
        return self.cost_input * x + self.cost_output * y + self.cost_finetune * z

    @property
    def theta_hat(self) -> float:
        """Virtual value above which fine-tuning is positive (docs/model.md section 3)."""
        p = self.cobb_douglas_precision
        a, b, g = p.alpha, p.beta, p.gamma
        return (
            p.base_quality ** (1 - p.sigma)
            * (self.cost_input / a) ** a
            * (self.cost_output / b) ** b
            * (self.cost_finetune / g) ** (1 - a - b)
        )
