#!/usr/bin/env python3
"""Generate sphinxbase golden values for test/lm (see HOW-GENERATED.md).

1. Writes real.train.txt / real.test.txt from the transcripts in ../shared/corpora
   (ljspeech-mini, pocketsphinx-cards, pocketsphinx-librivox): lower-cased, punctuation removed.
2. For each case (text, order) trains an LM with OUR trainer
   (`node bin/am-distill.js lm train`), records the ARPA file's sha256, then
   - loads it with sphinxbase's `sphinx_lm_eval -verbose yes` on the test text (lines wrapped in
     <s> ... </s>) and records perplexity, total lm score and every per-word score
     (integer log base 1.0001, as sphinxbase computes them);
   - converts it with `sphinx_lm_convert` ARPA -> DMP -> ARPA and records the n-gram counts that
     sphinxbase wrote back.
Needs Debian sphinxbase-utils and node; run from anywhere:
  python3 test/golden/lm/gen_sphinx_golden.py
"""
import hashlib, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
SHARED = os.path.abspath(os.path.join(ROOT, '..', 'shared', 'corpora'))

def norm(s):
    s = s.lower()
    s = re.sub(r"[^a-z' ]+", ' ', s)
    return ' '.join(s.split())

def real_text():
    lj = [json.loads(l)['text'] for l in open(os.path.join(SHARED, 'ljspeech-mini', 'manifest.json')) if l.strip()]
    def sphinx_lines(p):
        out = []
        for l in open(p):
            l = re.sub(r'\([^)]*\)\s*$', '', l).replace('<s>', ' ').replace('</s>', ' ')
            if l.strip(): out.append(l)
        return out
    cards = sphinx_lines(os.path.join(SHARED, 'pocketsphinx-cards', 'cards.transcription'))
    libri = sphinx_lines(os.path.join(SHARED, 'pocketsphinx-librivox', 'transcription'))
    train = [norm(x) for x in lj + cards + libri[:3]]
    test = [norm(x) for x in libri[3:]]
    with open(os.path.join(HERE, 'real.train.txt'), 'w') as f: f.write('\n'.join(train) + '\n')
    with open(os.path.join(HERE, 'real.test.txt'), 'w') as f: f.write('\n'.join(test) + '\n')

CASES = [('synth', 1), ('synth', 2), ('synth', 3), ('synth', 4), ('real', 3)]

def sphinx_eval(arpa, lsn):
    p = subprocess.run(['sphinx_lm_eval', '-lm', arpa, '-lsn', lsn, '-verbose', 'yes'],
                       capture_output=True, text=True, check=True)
    out = p.stdout + p.stderr
    sents, cur = [], None
    for line in out.splitlines():
        m = re.match(r'^log P\((\S+)\|.*\) = (-?\d+)$', line)
        if not m: continue
        if m.group(1) == '</s>':
            cur = []; sents.append(cur)
        cur.append([m.group(1), int(m.group(2))])
    for s in sents: s.reverse()   # sphinx_lm_eval prints each sentence last word first
    g = lambda pat, conv: conv(re.search(pat, out).group(1))
    return {
        'perplexity': g(r'perplexity: ([0-9.]+)', float),
        'crossEntropyBits': g(r'cross-entropy: ([0-9.]+) bits', float),
        'lmScore': g(r'lm score: (-?\d+)', int),
        'wordsEvaluated': g(r'(\d+) words evaluated', int),
        'oovs': g(r'(\d+) OOVs', int),
        'contextCues': g(r'(\d+) context cues removed', int),
        # per test sentence: the scores of its scored tokens (OOVs skipped, </s> last), space-separated
        'wordScores': [' '.join(str(v) for _, v in snt) for snt in sents],
    }

def roundtrip(arpa, tmp):
    dmp, back = os.path.join(tmp, 'lm.dmp'), os.path.join(tmp, 'back.arpa')
    subprocess.run(['sphinx_lm_convert', '-i', arpa, '-o', dmp, '-ofmt', 'dmp'], capture_output=True, check=True)
    subprocess.run(['sphinx_lm_convert', '-i', dmp, '-ifmt', 'dmp', '-o', back, '-ofmt', 'arpa'], capture_output=True, check=True)
    return [int(m) for m in re.findall(r'^ngram \d+=(\d+)$', open(back).read(), re.M)]

def main():
    real_text()
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for text, order in CASES:
            arpa = os.path.join(tmp, '%s.o%d.arpa' % (text, order))
            subprocess.run(['node', os.path.join(ROOT, 'bin', 'am-distill.js'), 'lm', 'train', '--text',
                            os.path.join(HERE, text + '.train.txt'), '--order', str(order), '--out', arpa],
                           check=True, capture_output=True)
            data = open(arpa, 'rb').read()
            lsn = os.path.join(tmp, text + '.lsn')
            with open(lsn, 'w') as f:
                for l in open(os.path.join(HERE, text + '.test.txt')):
                    if l.strip(): f.write('<s> %s </s>\n' % l.strip())
            header = [int(m) for m in re.findall(rb'^ngram \d+=(\d+)$', data, re.M)]
            case = {'text': text, 'order': order, 'arpaSha256': hashlib.sha256(data).hexdigest(),
                    'ngramCounts': header, 'sphinx': sphinx_eval(arpa, lsn)}
            try:
                case['sphinxRoundTripCounts'] = roundtrip(arpa, tmp)
            except subprocess.CalledProcessError as e:
                case['sphinxRoundTripCounts'] = None
                print('round trip failed for', text, order, e, file=sys.stderr)
            cases.append(case)
            print(text, order, header, case['sphinx']['perplexity'], case['sphinxRoundTripCounts'])
    ver = subprocess.run(['dpkg-query', '-W', '-f', '${Version}', 'sphinxbase-utils'], capture_output=True, text=True).stdout
    with open(os.path.join(HERE, 'sphinx.json'), 'w') as f:
        json.dump({'generator': 'test/golden/lm/gen_sphinx_golden.py', 'sphinxbaseUtils': ver,
                   'logBase': 1.0001, 'cases': cases}, f, indent=1)
        f.write('\n')

if __name__ == '__main__':
    main()
