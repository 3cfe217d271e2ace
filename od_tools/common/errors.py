"""The one exception type that reaches users: a one-line message saying what to do."""


class UserError(Exception):
    """Bad input or an unmet precondition, reported as one line and a non-zero exit.

    The message names the file, record or field at fault and says how to fix it. Tools raise it
    for anything a user can correct; any other exception is a bug and keeps its traceback.
    """

    def __init__(self, message: str):
        one_line = " ".join(message.split())
        super().__init__(one_line)
        self.message = one_line

    def __str__(self) -> str:
        return self.message


def first_line(error: BaseException | str, limit: int = 200) -> str:
    """The first line of an exception's message (or of a text), at most `limit` characters: enough
    to name the cause inside a one-line error without pasting a traceback into it."""
    text = str(error).strip()
    if not text and isinstance(error, BaseException):
        return type(error).__name__
    return text.splitlines()[0][:limit] if text else ""
