"""Local development and the demo (`make demo`): SQLite and in-process tasks by default."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
