"""Downstream tasks: what a fused image does for detection, segmentation and salient object detection."""

from ivifbench.tasks.base import TASKS, Task, TaskResult

__all__ = ["TASKS", "Task", "TaskResult"]
