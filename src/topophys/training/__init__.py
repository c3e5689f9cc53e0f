"""Training loops (Lightning), kept apart from the models they train.

The submodules import Lightning; this package does not, so import them explicitly
(``from topophys.training.wgan import train_cwgan``).

- :mod:`~topophys.training.wgan`: conditional WGAN-GP of the U-Net spin-field generator.
- :mod:`~topophys.training.nrp`: the neural reduced potential.
"""
