"""What a configuration change changed: field by field, before → after, for the audit trail.

Secrets never appear here: the caller leaves them out of what it compares and names the
replaced ones apart.
"""

from __future__ import annotations

from typing import Any


def field_changes(
    before: dict[str, Any], after: dict[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """`{"field.sub": {"from": old, "to": new}}` for every leaf that differs; nested mappings
    are compared field by field, anything else as a whole."""
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        name = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            changes.update(field_changes(old, new, f"{name}."))
        elif old != new:
            changes[name] = {"from": old, "to": new}
    return changes
