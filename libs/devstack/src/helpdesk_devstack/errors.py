"""The one exception type the devstack raises for problems a developer must fix."""


class DevstackError(RuntimeError):
    """A local server could not be started, stopped or reached; the message says why."""
