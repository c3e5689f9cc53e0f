"""Warning category of the package, so tests can turn our own warnings into errors."""


class TopophysWarning(UserWarning):
    """A condition the user should know about that does not stop the computation."""
