"""Annotation formats read into `annotations.image_record.Dataset`: COCO JSON (`coco_json`), Pascal
VOC XML (`pascal_voc`), VoTT (`vott`), CSV box tables (`csv_table`), existing TFRecords
(`tfrecords`); `readers` picks one by `--input_format`, `paths` expands what users type."""
