"""The estimation room's refusal, importable without Django (the CLI's table path needs no database)."""


class EstimationError(ValueError):
    """A request the estimation room refuses; the message says which field and why."""
