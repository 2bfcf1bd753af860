"""``python -m oauthbearer``: the same as the ``oauthbearer`` command."""

from __future__ import annotations

import sys

from oauthbearer.cli import main

sys.exit(main())
