"""Markers shared by every connector's exception hierarchy.

Each connector keeps its own tree (``KintoneError``, ``GmoSignError``, ...). These two
markers let the worker decide without knowing the connector:

- ``RetryLater``: transient; the same call may succeed later (timeouts, 429, 5xx).
- ``Permanent``: retrying cannot help until a person fixes data or configuration.
"""


class RetryLater(Exception):
    """A transient failure: retry with backoff."""

    retry_after: float | None = None


class Permanent(Exception):
    """A failure that retrying will not fix."""
