"""Persistent homology of physical data: cubical complexes of fields, alpha complexes of atoms.

Examples
--------
>>> from topophys.homology import CubicalPersistence
>>> CubicalPersistence(construction="vertex", periodic=True)
CubicalPersistence(construction='vertex', periodic=True)
"""

from .alpha import AlphaPersistence, CellTooSmallError, alpha_diagram, periodic_alpha_diagram
from .cubical import CubicalPersistence, cubical_diagram

__all__ = [
    "AlphaPersistence",
    "CellTooSmallError",
    "CubicalPersistence",
    "alpha_diagram",
    "cubical_diagram",
    "periodic_alpha_diagram",
]
