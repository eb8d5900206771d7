"""Who may own a path in CODEOWNERS: a GitHub user, a team, or an email address, nothing else.

An owner is written verbatim into `.github/CODEOWNERS`, so a newline or a `#` in one would add
rules or comments of its own: a line `/** @someone` would make someone the approver of production.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

USER_RE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
TEAM_RE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,99})$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!$%&'*+=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
OWNER_RULE = "an owner is @user, @org/team or an email address (no spaces, newlines or '#')"


def is_owner(value: str) -> bool:
    return bool(USER_RE.match(value) or TEAM_RE.match(value) or EMAIL_RE.match(value))


def _check(value: str) -> str:
    if not isinstance(value, str) or not is_owner(value):
        raise ValueError(f"{value!r} is not a GitHub owner: {OWNER_RULE}")
    return value


Owner = Annotated[str, AfterValidator(_check)]
"""A CODEOWNERS owner, validated where it is read (apps.yaml owners, an env's reviewers)."""
