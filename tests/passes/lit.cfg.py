# lit configuration for pass tests: each *.ir file runs ir-opt and checks its
# output with FileCheck. run_lit.sh supplies the tool paths.
import os

import lit.formats

config.name = "kiln-passes"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".ir"]
config.test_source_root = os.path.dirname(__file__)
# Scratch files (%t) go to Bazel's per-test temporary directory.
config.test_exec_root = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"), "lit")
config.substitutions.append(("ir-opt", os.environ["KILN_IR_OPT"]))
config.substitutions.append(("FileCheck", os.environ["KILN_FILECHECK"]))
config.substitutions.append(("not ", os.environ["KILN_NOT"] + " "))
config.substitutions.append(("split-file", os.environ["KILN_SPLIT_FILE"]))
# split-file sections are inputs of the .ir file that holds them, not tests.
config.excludes = ["Output"]
