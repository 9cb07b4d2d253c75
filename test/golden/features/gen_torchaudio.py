#!/usr/bin/env python3
"""Generate the torchaudio golden values for test/features (see HOW-GENERATED.md).

    /usr/bin/python3 test/golden/features/gen_torchaudio.py [--shared ../shared]

Writes synthetic.json (a deterministic chirp+noise signal that test/features/synthetic.ts
reproduces bit for bit) and real.json (files from ../shared/corpora). Every case records our
option names; they are mapped to torchaudio.compliance.kaldi keyword arguments below, on top of
Kaldi's defaults (torchaudio's own defaults differ: energy_floor=1.0, mfcc use_energy=False).
Values are rounded to 6 decimals.
"""
import argparse
import hashlib
import json
import math
import os
import wave

import torch
import torchaudio
from torchaudio.compliance import kaldi

HERE = os.path.dirname(os.path.abspath(__file__))

# Kaldi's defaults in our option names (dither 0, as am-distill's default).
KALDI_DEFAULTS = {
    'frameShiftMs': 10.0, 'frameLengthMs': 25.0, 'dither': 0.0, 'preemphCoeff': 0.97,
    'removeDcOffset': True, 'windowType': 'povey', 'blackmanCoeff': 0.42,
    'roundToPowerOfTwo': True, 'snipEdges': True, 'numMelBins': 23, 'lowFreqHz': 20.0,
    'highFreqHz': 0.0, 'vtlnLowHz': 100.0, 'vtlnHighHz': -500.0, 'vtlnWarp': 1.0,
    'energyFloor': 0.0, 'rawEnergy': True, 'htkCompat': False,
}
FBANK_DEFAULTS = {**KALDI_DEFAULTS, 'useEnergy': False, 'useLogFbank': True, 'usePower': True}
MFCC_DEFAULTS = {**KALDI_DEFAULTS, 'useEnergy': True, 'numCeps': 13, 'cepstralLifter': 22.0}

TA_NAMES = {
    'frameShiftMs': 'frame_shift', 'frameLengthMs': 'frame_length', 'dither': 'dither',
    'preemphCoeff': 'preemphasis_coefficient', 'removeDcOffset': 'remove_dc_offset',
    'windowType': 'window_type', 'blackmanCoeff': 'blackman_coeff',
    'roundToPowerOfTwo': 'round_to_power_of_two', 'snipEdges': 'snip_edges',
    'numMelBins': 'num_mel_bins', 'lowFreqHz': 'low_freq', 'highFreqHz': 'high_freq',
    'vtlnLowHz': 'vtln_low', 'vtlnHighHz': 'vtln_high', 'vtlnWarp': 'vtln_warp',
    'energyFloor': 'energy_floor', 'rawEnergy': 'raw_energy', 'htkCompat': 'htk_compat',
    'useEnergy': 'use_energy', 'useLogFbank': 'use_log_fbank', 'usePower': 'use_power',
    'numCeps': 'num_ceps', 'cepstralLifter': 'cepstral_lifter',
}


def synthetic_int16(rate, duration_sec, seed):
    """Same as syntheticInt16 in test/features/synthetic.ts."""
    n = int(math.floor(rate * duration_sec + 0.5))
    out = []
    x = seed & 0xFFFFFFFF
    f0, f1, T = 150.0, 0.4 * rate, duration_sec
    silent_from, silent_to = math.floor(n * 0.45), math.floor(n * 0.55)
    for i in range(n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        noise = ((x >> 16) % 2001) - 1000
        t = i / rate
        phase = 2 * math.pi * (f0 * t + ((f1 - f0) * t * t) / (2 * T))
        v = math.floor(6000 * math.sin(phase) + 0.5) + noise
        if silent_from <= i < silent_to:
            v = 0
        out.append(max(-32768, min(32767, v)))
    return out


def read_wav_int16(path):
    with wave.open(path, 'rb') as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    vals = torch.frombuffer(bytearray(raw), dtype=torch.int16).to(torch.float32)
    return rate, vals


def compute(kind, samples, rate, options):
    full = {**(FBANK_DEFAULTS if kind == 'fbank' else MFCC_DEFAULTS), **options}
    kwargs = {TA_NAMES[k]: v for k, v in full.items() if not (kind == 'mfcc' and k in ('useLogFbank', 'usePower'))}
    wav = samples.unsqueeze(0)
    fn = kaldi.fbank if kind == 'fbank' else kaldi.mfcc
    return fn(wav, sample_frequency=float(rate), **kwargs)


def rnd(x):
    return [[round(float(v), 6) for v in r] for r in x.tolist()]


def case(name, kind, samples, rate, options, source, every=1):
    feats = compute(kind, samples, rate, options)
    idx = list(range(0, feats.shape[0], every))
    c = {
        'name': name, 'kind': kind, 'source': source, 'sampleRateHz': rate,
        'numSamples': int(samples.shape[0]), 'options': options,
        'numFrames': int(feats.shape[0]), 'dim': int(feats.shape[1]),
        'frameIndices': idx if every != 1 else None,
        'frames': rnd(feats[idx]) if idx else [],
    }
    if every != 1:
        c['columnMeans'] = [round(float(v), 6) for v in feats.double().mean(0).tolist()]
    return c


def write(name, cases):
    doc = {
        'generator': 'test/golden/features/gen_torchaudio.py',
        'torch': torch.__version__, 'torchaudio': torchaudio.__version__,
        'cases': cases,
    }
    path = os.path.join(HERE, name)
    with open(path, 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
        f.write('\n')
    print(f'{path}: {len(cases)} cases, {os.path.getsize(path)} bytes')


def synthetic_cases():
    cases = []
    for rate in (16000, 8000):
        s = torch.tensor(synthetic_int16(rate, 0.5, 7), dtype=torch.float32)
        src = {'synthetic': {'sampleRateHz': rate, 'durationSec': 0.5, 'seed': 7}}
        for nb in (23, 40):
            cases.append(case(f'synthetic-{rate}-fbank-{nb}', 'fbank', s, rate, {'numMelBins': nb}, src))
        cases.append(case(f'synthetic-{rate}-mfcc', 'mfcc', s, rate, {}, src))
    # Option variants on a shorter signal.
    s = torch.tensor(synthetic_int16(16000, 0.25, 11), dtype=torch.float32)
    src = {'synthetic': {'sampleRateHz': 16000, 'durationSec': 0.25, 'seed': 11}}
    variants = [
        ('hamming-nosnip-energy-htk', 'fbank', {'windowType': 'hamming', 'snipEdges': False, 'useEnergy': True, 'htkCompat': True}),
        ('hanning-windowed-energy', 'fbank', {'windowType': 'hanning', 'useEnergy': True, 'rawEnergy': False, 'numMelBins': 30}),
        ('blackman-magnitude-nodc', 'fbank', {'windowType': 'blackman', 'usePower': False, 'removeDcOffset': False, 'preemphCoeff': 0.5}),
        ('rectangular-nopow2', 'fbank', {'windowType': 'rectangular', 'roundToPowerOfTwo': False, 'numMelBins': 40}),
        ('freq-range-energy-floor', 'fbank', {'lowFreqHz': 64, 'highFreqHz': -400, 'useEnergy': True, 'energyFloor': 1e8}),
        ('vtln-0.9', 'fbank', {'vtlnWarp': 0.9, 'numMelBins': 40}),
        ('vtln-1.1', 'fbank', {'vtlnWarp': 1.1, 'numMelBins': 23}),
        ('shift-length', 'fbank', {'frameShiftMs': 12.5, 'frameLengthMs': 30, 'numMelBins': 40}),
        ('mfcc-htk-c0', 'mfcc', {'htkCompat': True, 'useEnergy': False}),
        ('mfcc-nolifter-20ceps', 'mfcc', {'numCeps': 20, 'numMelBins': 30, 'cepstralLifter': 0, 'snipEdges': False}),
    ]
    for name, kind, opts in variants:
        cases.append(case(f'synthetic-16000-{name}', kind, s, 16000, opts, src))
    return cases


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def real_cases(shared):
    cases = []
    files = [
        ('corpora/fsdd/recordings/0_george_0.wav', 1),
        ('corpora/fsdd/recordings/5_nicolas_40.wav', 1),
        ('corpora/pocketsphinx-librivox/sense_and_sensibility_01_austen_64kb-0880.wav', 10),
    ]
    for rel, every in files:
        path = os.path.join(shared, rel)
        rate, s = read_wav_int16(path)
        src = {'file': rel, 'sha256': sha256(path)}
        base = os.path.basename(rel)[:-4]
        for nb in (23, 40):
            cases.append(case(f'{base}-fbank-{nb}', 'fbank', s, rate, {'numMelBins': nb}, src, every))
        cases.append(case(f'{base}-mfcc', 'mfcc', s, rate, {}, src, every))
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--shared', default=os.path.join(HERE, '..', '..', '..', '..', 'shared'))
    args = ap.parse_args()
    torch.set_num_threads(1)
    write('synthetic.json', synthetic_cases())
    write('real.json', real_cases(os.path.abspath(args.shared)))


if __name__ == '__main__':
    main()
