"""What pyarrow reads from the Arrow files of the tiny experiment (test/golden/arrow-schema/HOW-GENERATED.md).

usage: python gen_pyarrow_schema.py <exp-dir> > pyarrow-schema.json
"""
import json
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

FILES = [
    "features/train.arrow", "features/dev.arrow", "features/test.arrow",
    "align/train.arrow", "align/dev.arrow", "align/test.arrow",
    "targets/train.arrow", "targets/T1/train.arrow", "targets/dense/train.arrow",
]
out = {"pyarrow": pa.__version__, "files": {}}
for rel in FILES:
    with pa.memory_map(f"{sys.argv[1]}/{rel}") as source:
        table = ipc.open_file(source).read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    out["files"][rel] = {
        "format": meta["am_distill.format"],
        "schema": [f"{f.name}: {f.type}" for f in table.schema],
        "nullable": [f.name for f in table.schema if f.nullable],
        "metadata_keys": sorted(meta),
    }
json.dump(out, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
