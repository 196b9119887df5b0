"""What every stage shares: the progress callback and the user-facing error type."""

from stage_kit.errors import StageError
from stage_kit.progress import NO_PROGRESS, Progress

__all__ = ["NO_PROGRESS", "Progress", "StageError"]
