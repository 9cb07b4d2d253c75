#!/usr/bin/python3
"""Golden values of torchaudio.functional.resample for test/audio/resample*.test.ts.

Run from the repository root with Debian's python3-torchaudio (0.13.1):
    /usr/bin/python3 test/golden/audio/gen_resample_golden.py
Writes test/golden/audio/resample.json. Real-file cases read ../shared/corpora (int16 / 32768,
as torchaudio.load normalises). Chirps are computed in float64 and rounded to float32; the
TypeScript test computes the same chirp (chirp() in test/audio/helpers.ts must match chirp() here).
Per case (float64 run, which uses a float64 kernel) we store the output length, the first and last 16
samples, about 120 evenly spaced samples and sum / sum of squares of the whole output; from the default
float32 run the first 16 samples and its max / RMS distance from the float64 run.
"""
import json, math, os, wave
import numpy as np
import torch
import torchaudio
import torchaudio.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CORPORA = os.path.join(ROOT, '..', 'shared', 'corpora')


def read_int16_wav(rel):
    with wave.open(os.path.join(CORPORA, rel), 'rb') as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2').astype(np.float32) / 32768.0
    return x, rate


def chirp(rate, duration_sec, f0, f1, amp):
    n = int(round(rate * duration_sec))
    t = np.arange(n, dtype=np.float64) / rate
    phase = 2 * math.pi * (f0 * t + (f1 - f0) * t * t / (2 * duration_sec))
    return (amp * np.sin(phase)).astype(np.float32)


def method_name(m):
    # torchaudio 0.13 spells the methods 'sinc_interpolation' / 'kaiser_window'.
    return {'sinc_interp_hann': 'sinc_interpolation', 'sinc_interp_kaiser': 'kaiser_window'}[m]


def case(name, source, x, from_hz, to_hz, opts):
    kw = dict(lowpass_filter_width=opts.get('lowpassFilterWidth', 6), rolloff=opts.get('rolloff', 0.99),
              resampling_method=method_name(opts.get('method', 'sinc_interp_hann')))
    y32 = F.resample(torch.from_numpy(x), from_hz, to_hz, **kw).numpy()
    y64 = F.resample(torch.from_numpy(x.astype(np.float64)), from_hz, to_hz, **kw).numpy()
    n = len(y32)
    assert len(y64) == n
    idx = sorted(set(np.linspace(0, n - 1, 120).round().astype(int).tolist()))
    r = lambda v: float('%.10g' % v)
    d = y32.astype(np.float64) - y64
    return {
        'name': name, 'source': source, 'fromHz': from_hz, 'toHz': to_hz, 'options': opts,
        'inputLength': len(x), 'outputLength': n,
        # float64 run (exact reference for the algorithm):
        'first': [r(v) for v in y64[:16]], 'last': [r(v) for v in y64[-16:]],
        'index': idx, 'values': [r(y64[i]) for i in idx],
        'sum': float(np.sum(y64)), 'sumSquares': float(np.sum(y64 ** 2)),
        # default float32 run (what torchaudio users get) and its distance from the float64 run:
        'firstFloat32': [r(v) for v in y32[:16]],
        'torchFloat32VsFloat64MaxAbs': float(np.max(np.abs(d))),
        'torchFloat32VsFloat64Rms': float(np.sqrt(np.mean(d ** 2))),
    }


def main():
    cases = []
    cases.append(case('chirp 44100 -> 16000', {'chirp': [44100, 0.5, 20, 22000, 0.5]},
                      chirp(44100, 0.5, 20, 22000, 0.5), 44100, 16000, {}))
    cases.append(case('chirp 22050 -> 16000', {'chirp': [22050, 0.5, 20, 11000, 0.5]},
                      chirp(22050, 0.5, 20, 11000, 0.5), 22050, 16000, {}))
    cases.append(case('chirp 16000 -> 8000', {'chirp': [16000, 0.5, 20, 8000, 0.9]},
                      chirp(16000, 0.5, 20, 8000, 0.9), 16000, 8000, {}))
    cases.append(case('chirp 8000 -> 22050 kaiser', {'chirp': [8000, 0.25, 100, 4000, 0.5]},
                      chirp(8000, 0.25, 100, 4000, 0.5), 8000, 22050,
                      {'method': 'sinc_interp_kaiser', 'lowpassFilterWidth': 16, 'rolloff': 0.85}))
    for rel, to_hz in [('ljspeech-mini/wavs/LJ003-0182.wav', 16000),
                       ('pocketsphinx-librivox/sense_and_sensibility_01_austen_64kb-0880.wav', 8000),
                       ('fsdd/recordings/0_george_0.wav', 16000)]:
        x, rate = read_int16_wav(rel)
        cases.append(case(f'{os.path.basename(rel)} {rate} -> {to_hz}', {'file': rel}, x, rate, to_hz, {}))
    out = {'generator': 'test/golden/audio/gen_resample_golden.py',
           'torchaudio': torchaudio.__version__, 'torch': torch.__version__, 'cases': cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'resample.json')
    head = {k: v for k, v in out.items() if k != 'cases'}
    with open(path, 'w') as f:  # one case per line: diffable, small
        f.write(json.dumps(head)[:-1] + ', "cases": [\n')
        f.write(',\n'.join(json.dumps(c) for c in cases))
        f.write('\n]}\n')
    for c in cases:
        print(c['name'], c['outputLength'], 'torch f32 vs f64 max abs %.3g rms %.3g' % (c['torchFloat32VsFloat64MaxAbs'], c['torchFloat32VsFloat64Rms']))


if __name__ == '__main__':
    main()
