"""Detection datasets: annotations (COCO, Pascal VOC, VoTT, CSV, TFRecords) -> validated sharded
TFRecords with label maps; inspection and repair of TFRecords; the synthetic demo dataset.

Modules by role: `geometry` (box math), `records` (the common typed record), one reader per
format (`coco`, `pascal_voc`, `vott`, `csv_table`, `tfrecords`; `readers` picks one),
`images` and `validation` (the policy), `tf_example` (the OD API keys), `writer` (atomic
shards), `convert` (the parallel pipeline), `create` / `inspection` (the two tools' work),
`report`, `demo` and `preview`.
"""
