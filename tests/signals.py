"""Child processes that a test interrupts with SIGINT must get Python's KeyboardInterrupt.

A process started in the background by a non-interactive shell (`cmd &`, some CI runners) inherits
SIGINT as *ignored*, and Python then installs no KeyboardInterrupt handler: the child would run on
and exit 0. Pass ``preexec_fn=default_sigint`` to give the child the default disposition back.
"""

import signal


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
