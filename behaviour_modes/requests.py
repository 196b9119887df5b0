"""What a prompt asks for: the behaviours that answer it rather than mis-route it.

A mode the prompt itself requests is not a failure when it appears: code after "write a
Python function", a story after "tell me a story", an in-character reply after "imagine
you are a pirate". The search and the verification leave such a mode out of a pair's
comparison (``requested_behaviours`` of either prompt of the pair), as the prune does.
"""

from __future__ import annotations

import re
from functools import cache

from behaviour_modes.modes import Mode
from behaviour_modes.rules import CODE_REQUEST, STORY_REQUEST, role_requested

#: code asked for: a program is the answer, and so is a python block meant to be run
CODE_LIKE = frozenset({Mode.CODE.value, Mode.TOOL_CALL.value})


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def requested_behaviours(prompt: str | None) -> frozenset[str]:
    """The behaviours ``prompt`` asks for (code and a runnable block when it asks for code;
    ``fiction`` when it asks for a story, or for a role in its first line: the classifier's
    own reading, ``rules.role_requested``)."""
    if not isinstance(prompt, str) or not prompt:
        return frozenset()
    asked: set[str] = set()
    if _compiled(CODE_REQUEST).search(prompt):
        asked |= CODE_LIKE
    if _compiled(STORY_REQUEST).search(prompt) or role_requested(prompt):
        asked.add(Mode.FICTION.value)
    return frozenset(asked)
