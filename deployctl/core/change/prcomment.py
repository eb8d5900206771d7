"""The PR comment's contract between who writes it (report/render.py) and who posts it
(adapters/github.py): stated once, so the two cannot drift."""

from __future__ import annotations

PREVIEW_MARKER = "<!-- deployctl:preview -->"
"""The comment's first line, by which GitHub.upsert_comment finds it again (with its author)."""
MAX_COMMENT_CHARS = 65536
"""GitHub refuses a longer comment body (422); a long preview is cut to fit."""
