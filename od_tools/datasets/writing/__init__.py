"""Records to sharded TFRecords: the parallel conversion pipeline (`conversion`, on `parallel`),
atomic shards (`writer`), seeded splits that keep related images together (`splits`, `grouping`)
and the label map of a conversion (`classes`)."""
