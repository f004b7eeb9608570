"""The search layer's own failure: a parameter or value it cannot use (the API answers 400)."""

from __future__ import annotations


class SearchError(ValueError):
    """A search parameter or value the server cannot use; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
