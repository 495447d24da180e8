"""Semantic segmentation of fused images with mmsegmentation SegFormer."""
