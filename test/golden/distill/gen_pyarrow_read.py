"""What pyarrow reads from our soft-target files (test/golden/distill/HOW-GENERATED.md).

usage: python gen_pyarrow_read.py <dir with <layout>.arrow files> > pyarrow-read.json
"""
import hashlib
import json
import os
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

out = {"pyarrow": pa.__version__, "files": {}}
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if not name.endswith(".arrow"):
        continue
    path = os.path.join(d, name)
    raw = open(path, "rb").read()
    reader = ipc.open_file(pa.BufferReader(raw))
    table = reader.read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    cols = {}
    for field in table.schema:
        col = table.column(field.name)
        if pa.types.is_dictionary(field.type):
            col = col.cast(pa.string())
        cols[field.name] = col.to_pylist()
    out["files"][name[: -len(".arrow")]] = {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "num_record_batches": reader.num_record_batches,
        "schema": [f"{f.name}: {f.type}" for f in table.schema],
        "metadata": meta,
        "columns": cols,
    }
# Float16 rounding: pyarrow's cast float64 -> halffloat (round to nearest, ties to even) of values
# from below the subnormal range to beyond the largest half, plus exact midpoints.
xs = [2.0 ** (-26 + 43 * i / 600) for i in range(600)]
xs += [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -25, 2 ** -14 - 2 ** -25, 65504.0, 65519.99, 65520.0, 1 / 3]
halves = pa.array(xs, pa.float64()).cast(pa.float16())
out["float16_cast"] = {"inputs": [repr(x) for x in xs], "bits": halves.view(pa.uint16()).to_pylist()}
json.dump(out, sys.stdout, sort_keys=True)
sys.stdout.write("\n")
