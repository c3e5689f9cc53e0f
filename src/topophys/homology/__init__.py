"""Persistent homology of physical data: cubical complexes of fields, alpha complexes of atoms.

Examples
--------
>>> from topophys.homology import CubicalPersistence
>>> CubicalPersistence(construction="vertex", periodic=True)
CubicalPersistence(construction='vertex', periodic=True)
"""

from .alpha import AlphaPersistence, CellTooSmallError, alpha_diagram, periodic_alpha_diagram
from .cubical import CubicalPersistence, cubical_diagram
from .cubical_cycles import FieldCycle, cubical_h1_cycles
from .cycles import Cycle, atoms_h1_cycles, h1_cycles

__all__ = [
    "AlphaPersistence",
    "CellTooSmallError",
    "CubicalPersistence",
    "Cycle",
    "FieldCycle",
    "alpha_diagram",
    "atoms_h1_cycles",
    "cubical_diagram",
    "cubical_h1_cycles",
    "h1_cycles",
    "periodic_alpha_diagram",
]
