"""The ``oauthbearer`` command (a shell over the library): :mod:`.commands` parses the
arguments and runs each verb; :mod:`.check` is ``oauthbearer check`` and
:mod:`.demo` is ``oauthbearer demo``."""

from __future__ import annotations

from oauthbearer.cli.commands import main

__all__ = ["main"]
