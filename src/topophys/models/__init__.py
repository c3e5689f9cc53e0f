"""Neural network models: plain ``torch.nn.Module`` subclasses, trained by :mod:`topophys.training`.

Import the submodule you need (``from topophys.models.unet import UNetGenerator``); nothing is
imported here, so the package stays cheap to import.

- :mod:`~topophys.models.unet`: U-Net generator of XY spin fields from charge maps.
- :mod:`~topophys.models.critic`: conditional Wasserstein critic of spin fields.
- :mod:`~topophys.models.autoencoders`, :mod:`~topophys.models.potential`,
  :mod:`~topophys.models.nrp`: the neural reduced potential.
"""
