"""od_py_test: a py_test that runs its test files with pytest and writes JUnit XML.

    od_py_test(
        name = "label_map_test",
        srcs = ["label_map_test.py"],
        deps = ["//od_tools/label_map"],
    )

Every test can fail: pytest exits 5 when it collects nothing, which Bazel reports as a failure.
Heavy tests should set `size` and, when they use both cores, `tags = ["cpu:2"]`.
"""

def od_py_test(name, srcs, deps = [], data = [], args = [], size = "small", **kwargs):
    runner = "//tools/pytest:pytest_main.py"
    native.py_test(
        name = name,
        srcs = srcs + [runner],
        main = runner,
        args = ["$(location {})".format(src) for src in srcs] + args,
        deps = deps + ["@od_venv//:venv"],
        data = data,
        size = size,
        python_version = "PY3",
        srcs_version = "PY3",
        **kwargs
    )
