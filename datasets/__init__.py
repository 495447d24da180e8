"""Datasets: native-layout readers, checks and synthetic replicas.

Readers are registered lazily (``"module:attr"``), so listing names imports nothing heavy::

    from ivifbench.datasets import DATASETS, open_dataset
    reader = open_dataset("m3fd", root)               # = DATASETS.get("m3fd")(root)
    reader.pairs("all"); reader.check()
    DATASETS.get("msrs").synthesize(out, pairs=8, seed=0, size=(256, 192))   # returns the root to read

=========  =====================================================================  ==============================
name       layout (under the root the user names)                                 labels
=========  =====================================================================  ==============================
m3fd       ``M3FD_Detection/{Ir,Vis,Annotation}`` (split ``all`` + split files)   VOC XML, 6 classes
llvip      ``LLVIP/{infrared,visible}/{train,test}``, ``LLVIP/Annotations``       VOC XML, person
msrs       ``{train,test}/{ir,vi,Segmentation_labels}``                           ids 0..8 (optional)
fmb        ``{train,test}/{Infrared,Visible,Label}``                              ids 0..14 (order assumed)
vt5000     ``VT5000/{Train,Test}/{RGB,T,GT}``                                     0/255 masks
vt821      ``VT821/{RGB,T,GT}``                                                   0/255 masks
vt1000     ``VT1000/{RGB,T,GT}``                                                  0/255 masks
tno        ``ir/``, ``vi/``                                                       -
roadscene  ``cropinfrared/``, ``crop_LR_visible/``                                -
vifb       ``input/{IR,VI}``                                                      -
kaist      ``setNN/VNNN/{lwir,visible}/INNNNN.jpg`` (train set00-05, test 06-11)  -
flir       ``align/JPEGImages/FLIR_n_{PreviewData.jpeg,RGB.jpg}``, split lists    -
=========  =====================================================================  ==============================

A dataset's own top folder (``M3FD_Detection``, ``LLVIP``, ``VT5000``, ``input``, ``images``, ``align``...) may be
named as the root or be inside it.
"""

from pathlib import Path

from ivifbench.datasets.base import DATASETS, CheckReport, DatasetReader, Pair

_READERS = {
    "tno": "ivifbench.datasets.fusion_sets:TNO",
    "roadscene": "ivifbench.datasets.fusion_sets:RoadScene",
    "vifb": "ivifbench.datasets.fusion_sets:VIFB",
    "kaist": "ivifbench.datasets.fusion_sets:KAIST",
    "flir": "ivifbench.datasets.fusion_sets:FLIRAligned",
    "msrs": "ivifbench.datasets.segmentation:MSRS",
    "fmb": "ivifbench.datasets.segmentation:FMB",
    "m3fd": "ivifbench.datasets.detection:M3FD",
    "llvip": "ivifbench.datasets.detection:LLVIP",
    "vt5000": "ivifbench.datasets.sod:VT5000",
    "vt821": "ivifbench.datasets.sod:VT821",
    "vt1000": "ivifbench.datasets.sod:VT1000",
}
for _name, _target in _READERS.items():
    if _name not in DATASETS:
        DATASETS.register(_name, _target)


def open_dataset(name: str, root: str | Path, **options: object) -> DatasetReader:
    """The reader of dataset ``name`` at ``root`` (``options`` go to its constructor, e.g. M3FD's ``split_files``)."""
    return DATASETS.get(name)(root, **options)


__all__ = ["DATASETS", "CheckReport", "DatasetReader", "Pair", "open_dataset"]
