#!/usr/bin/env python3
"""Generate the FLAC test fixtures of test/audio (see HOW-GENERATED.md).

The signal is integer-only so that test/audio/flac.test.ts recomputes the exact samples in
TypeScript (fixtureSample there must stay identical to sample() here). Needs the Debian `flac` tool.
"""
import os, subprocess, sys, tempfile, wave

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'fixtures')


def sample(n: int, ch: int, bits: int) -> int:
    # Two sawtooth-like ramps plus a small quadratic-residue ripple; |x| < 2^(bits-1).
    k = 300 if bits == 16 else 300 * 256
    return ((n * (7 + 3 * ch)) % 200 - 100) * k + ((n * n) % 17 - 8) * (1 if bits == 16 else 256)


def make(name: str, rate: int, bits: int, channels: int, n: int) -> None:
    width = bits // 8
    frames = bytearray()
    for i in range(n):
        for c in range(channels):
            frames += sample(i, c, bits).to_bytes(width, 'little', signed=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, name + '.wav')
        with wave.open(wav, 'wb') as w:
            w.setnchannels(channels)
            w.setsampwidth(width)
            w.setframerate(rate)
            w.writeframes(bytes(frames))
        out = os.path.join(OUT, name + '.flac')
        subprocess.run(['flac', '--silent', '--force', '-8', '--no-padding', '--no-seektable',
                        '-o', out, wav], check=True)
    print(out, os.path.getsize(out), 'bytes', file=sys.stderr)


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    make('mono16k16bit', 16000, 16, 1, 4800)
    make('stereo8k24bit', 8000, 24, 2, 2000)
