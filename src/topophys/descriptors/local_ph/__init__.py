r"""Atom-centred persistence diagrams, smooth per-atom images, derivatives by autograd.

The PH-descriptor papers describe a whole structure by one alpha diagram; the letter names a
*localized* diagram that predicts per-atom energies as its future work. This package is that
descriptor: for every atom, the persistence diagrams (H0, H1, H2) of its neighbourhood within
``r_cut`` (periodic images included; with or without the atom itself, ``centre``), on the
papers' alpha filtration in squared radii or on a Vietoris–Rips one, vectorized as persistence
images, with every birth and death traced to the atoms it depends on so that torch
differentiates the images with respect to the positions.

- :mod:`.config`: :class:`LocalPHConfig` and the radial entrance function.
- :mod:`.pairs`: :func:`local_pairs`, GUDHI's pairing with the recipe of every value.
- :mod:`.values`: the values in torch and their per-slot gradients; forces and virial.
- :mod:`.images`: per-atom persistence images in torch.
- :mod:`.descriptor`: :class:`LocalPHDescriptor`, the scikit-learn transformer.

Examples
--------
>>> from ase.build import bulk
>>> atoms = bulk("C", "diamond", cubic=True).repeat(3)
>>> atoms.rattle(0.05, seed=0)
>>> pairs = local_pairs(atoms, LocalPHConfig(max_dim=1))
>>> len(pairs.diagram_rows())  # one diagram per atom
216
"""

from .config import LocalPHConfig, entrance
from .descriptor import LocalPHDescriptor, local_features
from .pairs import LocalPairs, check_structure, local_pairs, recipe_changes
from .values import SlotGeometry, slot_forces, slot_geometry, slot_virial

__all__ = [
    "LocalPHConfig",
    "LocalPHDescriptor",
    "LocalPairs",
    "SlotGeometry",
    "check_structure",
    "entrance",
    "local_features",
    "local_pairs",
    "recipe_changes",
    "slot_forces",
    "slot_geometry",
    "slot_virial",
]
