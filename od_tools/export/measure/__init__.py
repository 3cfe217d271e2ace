"""Measuring tools of exported detectors (Bazel binaries with their own flags; the export library
imports none of them): the benchmark of one export and the zoo matrix of many configs."""
