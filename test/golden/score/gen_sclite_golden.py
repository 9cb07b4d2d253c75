#!/usr/bin/env python3
"""Generate sclite golden alignments for test/score.

Writes, next to this script:
  ref.trn, hyp.trn        seeded random reference/hypothesis pairs with edge cases
  sclite.json             per-utterance (#C #S #D #I) and REF/HYP alignment from sclite's pralign,
                          plus the Sum/Avg counts and the text of sclite's summary table
Needs NIST sctk (Debian package `sctk`, /usr/lib/sctk/bin/sclite). Deterministic (seeded).
"""
import json, os, random, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCLITE = os.environ.get('SCLITE', '/usr/lib/sctk/bin/sclite')

def make_pairs(seed=20240501):
    rnd = random.Random(seed)
    pairs = []
    fixed = [
        ([], []),                                   # both empty
        ([], ['x', 'y']),                           # empty reference, insertions only
        (['a', 'b', 'c'], []),                      # empty hypothesis
        (['a', 'b', 'c'], ['a', 'b', 'c']),         # identical
        (['a', 'a', 'a'], ['a', 'a']),              # repeated words
        (['a', 'a'], ['a', 'a', 'a', 'a']),
        (['a', 'b'], ['b', 'c']),                   # sub+sub (8) vs del+ok+ins (6)
        (['a', 'b', 'c'], ['c', 'a', 'b']),
        (['hello', 'world', '(uh)', 'it-', 'is', 'a', 'test'], ['hello', 'word', 'it', 'is', 'the', 'test', 'extra']),
        (['The', 'CAT', 'sat'], ['the', 'cat', 'Sat']),   # case differences (sclite default: insensitive)
        (['x'], ['y']),
        (['x', 'y', 'z'], ['q']),
        (['q'], ['x', 'y', 'z']),
        (['supercalifragilistic', 'a'], ['b', 'supercalifragilistic']),
    ]
    pairs.extend(fixed)
    for i in range(220):
        v = rnd.randint(2, 6)
        vocab = ['w%d' % k for k in range(v)]
        n = rnd.choice([0, 1, 2, 3, 4, 5, 6, 8, 10, 12])
        ref = [rnd.choice(vocab) for _ in range(n)]
        if rnd.random() < 0.3:
            hyp = [rnd.choice(vocab) for _ in range(rnd.choice([0, 1, 2, 3, 5, 8, 12]))]
        else:
            hyp = []
            for w in ref:
                r = rnd.random()
                if r < 0.6: hyp.append(w)
                elif r < 0.75: hyp.append(rnd.choice(vocab))
                elif r < 0.88: pass
                else: hyp.extend([w, rnd.choice(vocab)])
            if rnd.random() < 0.2: hyp.insert(rnd.randint(0, len(hyp)), rnd.choice(vocab))
        pairs.append((ref, hyp))
    return pairs

def trn_line(words, uid):
    return (' '.join(words) + ' ' if words else '') + '(%s)\n' % uid

def main():
    pairs = make_pairs()
    spk = ['spka', 'spkb', 'spkc', 'spkd']
    ids = ['%s_%03d' % (spk[i % 4], i) for i in range(len(pairs))]
    with open(os.path.join(HERE, 'ref.trn'), 'w') as f:
        for (r, _), uid in zip(pairs, ids): f.write(trn_line(r, uid))
    with open(os.path.join(HERE, 'hyp.trn'), 'w') as f:
        for (_, h), uid in zip(pairs, ids): f.write(trn_line(h, uid))
    out = subprocess.run([SCLITE, '-r', 'ref.trn', 'trn', '-h', 'hyp.trn', 'trn',
                          '-i', 'spu_id', '-o', 'sum', 'pralign', 'stdout'],
                         capture_output=True, text=True, check=True, cwd=HERE).stdout
    # sclite's own text for the hand-made edge cases (first 14 utterances): id/Scores/REF/HYP/Eval lines
    blocks = {}
    for blk in out.split('\nid: (')[1:]:
        uid = blk[:blk.index(')')]
        if int(uid.split('_')[1]) < 14:
            lines = ('id: (' + blk).split('\n')
            keep = [l for l in lines[:5] if l.startswith(('id:', 'Scores:', 'REF:', 'HYP:', 'Eval:'))]
            blocks[uid] = '\n'.join(keep) + '\n'
    utts = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r'^id: \((.*)\)$', line)
        if m:
            cur = {'uttId': m.group(1)}; utts[cur['uttId']] = cur; continue
        m = re.match(r'^Scores: \(#C #S #D #I\) (\d+) (\d+) (\d+) (\d+)$', line)
        if m and cur is not None:
            cur['corr'], cur['sub'], cur['del'], cur['ins'] = map(int, m.groups()); continue
        if line.startswith('REF: ') and cur is not None: cur['ref'] = line[6:].split()
        elif line.startswith('HYP: ') and cur is not None: cur['hyp'] = line[6:].split()
    for u in utts.values():
        ops = []
        for r, h in zip(u.pop('ref', []), u.pop('hyp', [])):
            if set(r) == {'*'}: ops.append('I')
            elif set(h) == {'*'}: ops.append('D')
            elif r.lower() == h.lower(): ops.append('C')
            else: ops.append('S')
        u['ops'] = ''.join(ops)
    table = out[out.rfind('\n', 0, out.index('SYSTEM SUMMARY')) + 1:]
    table = table[:table.index("`---")] + table[table.index("`---"):].split('\n')[0] + '\n'
    m = re.search(r'\| Sum/Avg\|\s+(\d+)\s+(\d+) \|', out)
    tot = {k: sum(u[k] for u in utts.values()) for k in ('corr', 'sub', 'del', 'ins')}
    golden = {
        'generator': 'test/golden/score/gen_sclite_golden.py',
        'sclite': next((l.strip() for l in (lambda p: (p.stdout + p.stderr).splitlines())(subprocess.run([SCLITE], capture_output=True, text=True)) if 'Version' in l), 'sclite'),
        'command': 'sclite -r ref.trn trn -h hyp.trn trn -i spu_id -o sum pralign stdout',
        'totals': dict(tot, sentences=int(m.group(1)), refWords=int(m.group(2))),
        'summaryTable': table,
        'pralignBlocks': blocks,
        'utterances': [utts[i] for i in ids],
    }
    with open(os.path.join(HERE, 'sclite.json'), 'w') as f:
        json.dump(golden, f, indent=1)
        f.write('\n')
    print('wrote %d utterances; totals %s' % (len(ids), golden['totals']))

if __name__ == '__main__':
    main()
