"""Networks shared by fusion methods and downstream tasks, below both floors.

Modules:
    mmseg_compat: the one place that adapts mmseg to mmcv-lite (pure-PyTorch ``point_sample``, refused compiled ops)
        and allow-lists mmengine checkpoint globals for ``torch.load(weights_only=True)``.
    segformer: ``build_segformer`` / ``build_mit_backbone`` / ``segformer_logits``: SegFormer from a config and an
        optional checkpoint, no network access. Used by the segmentation and SOD tasks and by SAGE's guidance.
    mit_weights: reading SegFormer / MiT checkpoints (files, never URLs) and converting NVlabs keys to mmseg's.

Importing this package imports neither torch nor mmseg.
"""
