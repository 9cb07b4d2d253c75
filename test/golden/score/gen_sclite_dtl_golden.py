#!/usr/bin/env python3
"""Generate sclite golden error lists (the `-o dtl` report) for test/score/errors.test.ts.

Writes sclite-dtl.json next to this script: for each case the reference and hypothesis trn files
(or their text, for the small cases), the sclite command, and the text of sclite's detailed report
from "CONFUSION PAIRS" to the end (confusion pairs, insertions, deletions, substitutions, falsely
recognized). Needs NIST sctk (Debian package `sctk`, /usr/lib/sctk/bin/sclite). Deterministic.
"""
import json, os, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCLITE = os.environ.get('SCLITE', '/usr/lib/sctk/bin/sclite')

SMALL = {
    # upper/mixed case in sclite's default case-insensitive mode; an empty list (no deletions)
    'case-folding': ('SIX one (a_1)\nsix Four (a_2)\nTwo (b_1)\n', 'three one (a_1)\nTHREE Four five (a_2)\ntwo (b_1)\n'),
    # no errors at all: every list empty
    'no-errors': ('a b (a_1)\n', 'a b (a_1)\n'),
}

def dtl(ref_path, hyp_path, cwd):
    cmd = [SCLITE, '-r', os.path.basename(ref_path), 'trn', '-h', os.path.basename(hyp_path), 'trn', '-i', 'spu_id', '-o', 'dtl', 'stdout']
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    i = out.index('CONFUSION PAIRS')
    return ' '.join(['sclite'] + cmd[1:]), out[i:]

def main():
    usage = subprocess.run([SCLITE], capture_output=True, text=True)
    version = [l.strip() for l in (usage.stdout + usage.stderr).splitlines() if 'Version' in l][:1]
    cases = []
    cmd, text = dtl(os.path.join(HERE, 'ref.trn'), os.path.join(HERE, 'hyp.trn'), HERE)
    cases.append({'name': 'golden-pairs', 'refFile': 'ref.trn', 'hypFile': 'hyp.trn', 'command': cmd, 'dtl': text})
    for name, (ref, hyp) in SMALL.items():
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, 'ref.trn'), 'w').write(ref)
            open(os.path.join(d, 'hyp.trn'), 'w').write(hyp)
            cmd, text = dtl(os.path.join(d, 'ref.trn'), os.path.join(d, 'hyp.trn'), d)
        cases.append({'name': name, 'ref': ref, 'hyp': hyp, 'command': cmd, 'dtl': text})
    json.dump({'generator': 'test/golden/score/gen_sclite_dtl_golden.py', 'sclite': version, 'cases': cases},
              open(os.path.join(HERE, 'sclite-dtl.json'), 'w'), indent=1)
    print('wrote', os.path.join(HERE, 'sclite-dtl.json'), len(cases), 'cases')

if __name__ == '__main__':
    main()
