"""The one project exception type.

Every error caused by bad input (a file, a value, a configuration) is a :class:`GtvError` whose
message names the file or value, the problem, and what was expected.
"""


class GtvError(Exception):
    """Bad input to gtvlib: the message names the file or value, the problem and what was expected."""
