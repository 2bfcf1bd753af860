"""The outbound HTTP layer every shell shares (token endpoints, JWKS, discovery,
introspection): one URL policy (:mod:`.urls`), one attempt with a deadline
(:mod:`.transport`) and one retry rule and loop (:mod:`.retry`). Nothing here
knows OAuth; the pure request builders and response parsers live with their
features and hand their requests to this layer."""

from __future__ import annotations

#: Nothing is re-exported: each name is imported from the module that defines it
#: (docs/api.md), so that importing the package loads none of its modules.
__all__: list[str] = []
