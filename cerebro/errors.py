"""The one exception type for user errors: its message is a single line naming the problem and the fix."""


class CerebroError(Exception):
    """A problem with the user's input or settings (missing file, bad dtype, corrupt file, ...).

    The command line prints ``error: <message>`` and exits with status 2, without a traceback;
    Slicer modules show the message in a dialog.
    """


class Cancelled(CerebroError):
    """The user cancelled a long-running operation."""
