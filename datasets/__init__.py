"""Datasets: native-layout readers, checks and synthetic replicas."""

from ivifbench.datasets.base import DATASETS, CheckReport, DatasetReader, Pair

__all__ = ["DATASETS", "CheckReport", "DatasetReader", "Pair"]
