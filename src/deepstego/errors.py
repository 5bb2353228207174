"""The one exception type users see: a message that fits on one line."""


class DeepStegoError(Exception):
    """A problem with the user's input, files or environment, explained in one sentence."""


def missing_extra(extra: str, module: str) -> DeepStegoError:
    """The error raised when an optional extra (e.g. ``app``) is not installed."""
    return DeepStegoError(
        f"this feature needs the '{extra}' extra ({module} is not installed): "
        f"pip install 'deepstego[{extra}]'"
    )
