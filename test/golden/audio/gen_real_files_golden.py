#!/usr/bin/python3
"""Reference values of real recordings in ../shared/corpora, decoded by Python's `wave` module
(an independent WAV reader), for test/audio/shared-corpora.test.ts.

Run from the repository root:  /usr/bin/python3 test/golden/audio/gen_real_files_golden.py
Writes test/golden/audio/real-files.json: per file the rate, channels, sample width, sample count,
the first 8 int16 samples, and the sum and sum of squares of all int16 samples.
"""
import json, os, wave
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CORPORA = os.path.join(ROOT, '..', 'shared', 'corpora')


def files():
    out = ['kaldi-feat-testdata/test.wav']
    for d in ['ljspeech-mini/wavs', 'pocketsphinx-librivox']:
        out += sorted(os.path.join(d, f) for f in os.listdir(os.path.join(CORPORA, d)) if f.endswith('.wav'))
    fsdd = sorted(f for f in os.listdir(os.path.join(CORPORA, 'fsdd/recordings')) if f.endswith('.wav'))
    out += [os.path.join('fsdd/recordings', f) for f in fsdd[::100]]
    return out


def main():
    entries = []
    for rel in files():
        with wave.open(os.path.join(CORPORA, rel), 'rb') as w:
            assert w.getsampwidth() == 2
            x = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2').astype(np.int64)
            entries.append({
                'file': rel, 'sampleRateHz': w.getframerate(), 'numChannels': w.getnchannels(),
                'bitsPerSample': 8 * w.getsampwidth(), 'numSamples': w.getnframes(),
                'first8': x[:8].tolist(), 'sum': int(x.sum()), 'sumSquares': int((x * x).sum()),
            })
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'real-files.json')
    with open(path, 'w') as f:
        f.write('{"generator": "test/golden/audio/gen_real_files_golden.py", "files": [\n')
        f.write(',\n'.join(json.dumps(e) for e in entries))
        f.write('\n]}\n')
    print(len(entries), 'files ->', path)


if __name__ == '__main__':
    main()
