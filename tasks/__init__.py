"""Downstream tasks: what a fused image does for detection, segmentation and salient object detection.

A task is a :class:`Task` subclass with one :class:`TaskSettings` model per protocol and three methods, ``prepare``,
``train`` and ``evaluate`` (see ``docs/adding-a-task.md``); :data:`TASKS` is the registry.
"""

from ivifbench.tasks.base import TASKS, Evaluation, Task, TaskResult, TaskRun
from ivifbench.tasks.settings import TaskSettings

__all__ = ["TASKS", "Evaluation", "Task", "TaskResult", "TaskRun", "TaskSettings"]
