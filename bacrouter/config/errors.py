"""Errors that point at a place in a configuration file."""

from __future__ import annotations

__all__ = ["TextError"]


class TextError(ValueError):
    """A problem at a line and column of a text file, with that line for an excerpt."""

    def __init__(self, reason: str, *, path: str = "", line: int = 0, column: int = 0, text: str = ""):
        self.reason, self.path, self.line, self.column, self.text = reason, path, line, column, text
        super().__init__(f"{path or '<text>'}:{line}:{column}: {reason}")

    def excerpt(self) -> str:
        """The offending line with a caret under the column, for people."""
        if not self.text:
            return ""
        # keep tabs under tabs so the caret lines up however the terminal expands them
        lead = "".join(c if c == "\t" else " " for c in self.text[: max(self.column - 1, 0)])
        return f"    {self.text}\n    {lead}^"

    def detail(self) -> str:
        """The reason with the column and the excerpt, as ``bacrouter check`` prints it."""
        if not self.text:
            return self.reason
        return f"{self.reason} (column {self.column})\n{self.excerpt()}"
