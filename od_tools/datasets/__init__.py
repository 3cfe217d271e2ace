"""Detection datasets: annotations (COCO, Pascal VOC, VoTT, CSV, TFRecords) -> validated sharded
TFRecords with label maps; inspection and repair of TFRecords; the synthetic demo dataset.

Sub-packages by role, each importing only those before it: `annotations` (the typed record, box
geometry, masks, tf.Example keys), `formats` (one reader per annotation format), `checks`
(validation policy, image checks, the report), `writing` (conversion pipeline, shards, splits).
Here: `create` and `inspection` (the two tools' work), `preview`, `demo` and the conversion
benchmark.
"""
