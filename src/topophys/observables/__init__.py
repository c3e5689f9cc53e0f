"""Observables of spin fields: topological charge (``charge``), thermodynamic and correlation
measures (``spins``) and the topological measures of cubical graphs of a field (``morphology``).

The charge functions are imported here; ``spins`` and ``morphology`` are imported on demand.
"""

from .charge import (
    angles_to_spins,
    plaquette_charge,
    soft_charge,
    spins_to_angles,
    total_charge,
    vorticity,
    wrap_angle,
)

__all__ = [
    "angles_to_spins",
    "plaquette_charge",
    "soft_charge",
    "spins_to_angles",
    "total_charge",
    "vorticity",
    "wrap_angle",
]
