#!/usr/bin/env python3
"""PocketSphinx reference for isolated FSDD digits (RESULTS.md, "Reference for isolated digits").

Decodes every take in ../shared/corpora/fsdd/recordings ({digit}_{speaker}_{index}.wav, 8 kHz
mono 16-bit) with PocketSphinx's pretrained en-us acoustic model (Debian package
pocketsphinx-en-us) and a JSGF grammar that accepts exactly one of the ten words zero..nine
("oh" is left out: FSDD's "0" takes are read "zero", and the project scores them as ZERO).
A take is an error when the hypothesis is not exactly the reference word; an empty hypothesis
is an error. Writes a JSON summary (per speaker takes/errors/rate, total, versions, commands).

The en-us model is a 16 kHz model (feat.params: 25 mel filters, 130-6800 Hz). Ways of feeding
it 8 kHz audio (--front-end picks; all by default; the first is the primary figure):
  upsample16k            sox resamples each take to 16 kHz (sox's default "rate" effect) and
                         it is decoded with the model's own feature settings. Primary: the
                         front end is the one the model was trained with; only the bands above
                         4 kHz are empty (which the model never saw in training either way).
  upsample16k-nodither   the same with sox -D: no dither, so the empty 4-8 kHz band is
                         (nearly) digital zero rather than dither noise.
  upsample16k-pad300ms   the same as upsample16k with 0.3 s of digital silence added at both ends (FSDD takes
                         are trimmed to the speech; batch CMN and the VAD then see some silence).
  samprate8k-upperf4000  the 8 kHz samples decoded directly with -samprate 8000 -nfft 256 and the
  samprate8k-upperf3500  filterbank's upper edge moved to 4000 (Nyquist) or 3500 Hz. feat.params'
                         6800 Hz is rejected at 8 kHz and this PocketSphinx lets feat.params
                         override the command line, so a copy of the model directory (symlinks)
                         with only -upperf changed is used. This re-spaces every mel filter, so
                         every cepstral coefficient differs from what the model was trained on.
Everything else is PocketSphinx's default (batch CMN from feat.params, its VAD and noise
removal, fwdflat/bestpath). The take's samples are converted to headerless 16-bit raw with sox
(the WAVs all have 44-byte headers, but raw input avoids relying on -adchdr).

Standard library only, plus the `sox` and `pocketsphinx_batch` executables.

Usage (from the repository root):
  nice -n 5 python3 bench/pocketsphinx/fsdd-isolated.py \
      --out bench/pocketsphinx/fsdd-isolated.json
"""
import argparse
import collections
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MODEL_DIR = "/usr/share/pocketsphinx/model/en-us"
HMM = os.path.join(MODEL_DIR, "en-us")
DICT = os.path.join(MODEL_DIR, "cmudict-en-us.dict")
FRONT_ENDS = {
    # name: sample rate fed to pocketsphinx, silence padded at both ends (s), -upperf written
    # into a derived copy of feat.params (None: the model's own), extra pocketsphinx arguments
    "upsample16k": {"rate": 16000, "pad": 0.0, "upperf": None, "args": []},
    "upsample16k-nodither": {"rate": 16000, "pad": 0.0, "upperf": None, "args": [],
                             "sox": ["-D"]},
    "upsample16k-pad300ms": {"rate": 16000, "pad": 0.3, "upperf": None, "args": []},
    "samprate8k-upperf4000": {"rate": 8000, "pad": 0.0, "upperf": 4000,
                              "args": ["-samprate", "8000", "-nfft", "256"]},
    "samprate8k-upperf3500": {"rate": 8000, "pad": 0.0, "upperf": 3500,
                              "args": ["-samprate", "8000", "-nfft", "256"]},
}
NAME_RE = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
HYP_RE = re.compile(r"^(.*?)\s*\((\S+)(?:\s+-?\d+)*\)\s*$")


def dpkg_version(pkg):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def list_takes(corpus, speakers):
    takes = []
    for name in sorted(os.listdir(corpus)):
        m = NAME_RE.match(name)
        if not m:
            continue
        digit, speaker, index = int(m.group(1)), m.group(2), int(m.group(3))
        if speakers and speaker not in speakers:
            continue
        takes.append({"utt": name[:-4], "path": os.path.join(corpus, name), "speaker": speaker,
                      "ref": WORDS[digit], "index": index})
    return takes


def convert(takes, rate, pad, sox_opts, outdir):
    # -R: sox's automatic dither (added when resampling to 16 bits) uses a fixed seed, so the
    # audio and the result are the same on every run.
    os.makedirs(outdir, exist_ok=True)
    for t in takes:
        cmd = ["sox", "-R"] + sox_opts + [t["path"], "-t", "raw", "-r", str(rate), "-b", "16",
               "-e", "signed-integer", "-c", "1", "-L", os.path.join(outdir, t["utt"] + ".raw")]
        if pad:
            cmd += ["pad", str(pad), str(pad)]
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)


def derived_hmm(upperf, outdir):
    """The en-us model with only feat.params' -upperf changed (files symlinked).

    PocketSphinx 0.8+5prealpha reads the model's feat.params over the command line, so
    -upperf on the command line is ignored and 6800 Hz fails at -samprate 8000."""
    if upperf is None:
        return HMM
    os.makedirs(outdir, exist_ok=True)
    for name in os.listdir(HMM):
        if name != "feat.params":
            os.symlink(os.path.join(HMM, name), os.path.join(outdir, name))
    with open(os.path.join(HMM, "feat.params")) as f:
        params = f.read()
    params, n = re.subn(r"(?m)^-upperf\s+\S+", f"-upperf {upperf}", params)
    if n != 1:
        sys.exit("feat.params has no single -upperf line")
    with open(os.path.join(outdir, "feat.params"), "w") as f:
        f.write(params)
    return outdir


def decode(takes, fe_name, work, grammar):
    fe = FRONT_ENDS[fe_name]
    rawdir = os.path.join(work, fe_name, "raw")
    t0 = time.time()
    convert(takes, fe["rate"], fe["pad"], fe.get("sox", []), rawdir)
    hmm = derived_hmm(fe["upperf"], os.path.join(work, fe_name, "hmm"))
    t_convert = time.time() - t0
    ctl = os.path.join(work, fe_name, "utts.ctl")
    with open(ctl, "w") as f:
        for t in takes:
            f.write(t["utt"] + "\n")
    hyp = os.path.join(work, fe_name, "hyp.txt")
    log = os.path.join(work, fe_name, "decode.log")
    cmd = ["pocketsphinx_batch", "-hmm", hmm, "-dict", DICT, "-jsgf", grammar,
           "-adcin", "yes", "-cepdir", rawdir, "-cepext", ".raw", "-ctl", ctl,
           "-hyp", hyp, "-logfn", log] + fe["args"]
    t1 = time.time()
    subprocess.run(cmd, check=True)
    t_decode = time.time() - t1
    hyps = {}
    with open(hyp) as f:
        for line in f:
            m = HYP_RE.match(line.rstrip("\n"))
            if m:
                hyps[m.group(2)] = m.group(1).strip()
    per = collections.OrderedDict()
    confusions = collections.Counter()
    errors_list = []
    for t in takes:
        h = hyps.get(t["utt"], "")
        s = per.setdefault(t["speaker"], {"takes": 0, "errors": 0, "empty": 0})
        s["takes"] += 1
        if h != t["ref"]:
            s["errors"] += 1
            if h == "":
                s["empty"] += 1
            confusions[f"{t['ref']}->{h or '<empty>'}"] += 1
            errors_list.append(f"{t['utt']}\t{t['ref']}\t{h or '<empty>'}")
    for s in per.values():
        s["rate"] = round(s["errors"] / s["takes"], 4)
    total = {k: sum(s[k] for s in per.values()) for k in ("takes", "errors", "empty")}
    total["rate"] = round(total["errors"] / total["takes"], 4) if total["takes"] else None
    missing = sum(1 for t in takes if t["utt"] not in hyps)
    return {
        "audio": (f"sox resample 8000 -> {fe['rate']} Hz, 16-bit raw" if fe["rate"] != 8000
                  else "8000 Hz 16-bit raw (sox format conversion only)")
                 + (f", {fe['pad']} s of silence added at both ends (sox pad)" if fe["pad"] else "")
                 + (", sox -D (no dither)" if "-D" in fe.get("sox", []) else
                    ", sox -R (its automatic dither, fixed seed)" if fe["rate"] != 8000 else ""),
        "model_feat_params": ("en-us feat.params unchanged" if fe["upperf"] is None else
                              f"en-us feat.params with -upperf {fe['upperf']} (was 6800)"),
        "pocketsphinx_args": fe["args"],
        "command": " ".join(shlex.quote(c) for c in cmd).replace(work, "$WORK"),
        "per_speaker": per,
        "total": total,
        "missing_hyp_lines": missing,
        "confusions": dict(confusions.most_common()),
        "errors": errors_list,
        "seconds": {"convert": round(t_convert, 1), "decode": round(t_decode, 1)},
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=os.path.join(root, "..", "shared", "corpora", "fsdd",
                                                     "recordings"))
    ap.add_argument("--speakers", default="george,jackson,nicolas,yweweler")
    ap.add_argument("--front-end", default=",".join(FRONT_ENDS),
                    help="comma list of: " + ", ".join(FRONT_ENDS) + " (first is primary)")
    ap.add_argument("--out", default=os.path.join(here, "fsdd-isolated.json"))
    ap.add_argument("--keep", help="keep the work directory (raw audio, ctl, hyp, logs) here")
    a = ap.parse_args()
    for exe in ("sox", "pocketsphinx_batch"):
        if not shutil.which(exe):
            sys.exit(f"{exe} not found: apt-get install pocketsphinx pocketsphinx-en-us sox")
    if not os.path.isdir(HMM):
        sys.exit(f"{HMM} not found: apt-get install pocketsphinx-en-us")
    speakers = [s for s in a.speakers.split(",") if s]
    fes = [f for f in a.front_end.split(",") if f]
    for f in fes:
        if f not in FRONT_ENDS:
            sys.exit(f"unknown front end {f}")
    takes = list_takes(os.path.abspath(a.corpus), set(speakers))
    if not takes:
        sys.exit(f"no takes in {a.corpus}")
    work = a.keep or tempfile.mkdtemp(prefix="ps-fsdd-")
    os.makedirs(work, exist_ok=True)
    grammar = os.path.join(work, "digit.gram")
    with open(grammar, "w") as f:
        f.write("#JSGF V1.0;\ngrammar digit;\npublic <digit> = " + " | ".join(WORDS) + " ;\n")
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.time()
    runs = collections.OrderedDict()
    for f in fes:
        runs[f] = decode(takes, f, work, grammar)
        r = runs[f]
        print(f"{f}: {r['total']['errors']}/{r['total']['takes']} = "
              f"{100 * r['total']['rate']:.2f} % "
              + ", ".join(f"{sp} {100 * s['rate']:.1f} %" for sp, s in r["per_speaker"].items()),
              file=sys.stderr)
    for f in fes[1:]:
        del runs[f]["errors"]  # the take-by-take list is kept for the primary only
    with open(grammar) as f:
        grammar_text = f.read()
    summary = {
        "what": "PocketSphinx pretrained en-us, JSGF one-digit grammar (zero..nine), isolated FSDD "
                "takes; error = hypothesis != reference word (empty = error)",
        "primary": fes[0],
        "total": runs[fes[0]]["total"],
        "per_speaker": runs[fes[0]]["per_speaker"],
        "front_ends": runs,
        "corpus": os.path.relpath(os.path.abspath(a.corpus), root),
        "speakers": speakers,
        "grammar": grammar_text,
        "model": {"hmm": HMM, "dict": DICT},
        "versions": {p: dpkg_version(p) for p in ("pocketsphinx", "pocketsphinx-en-us",
                                                   "libpocketsphinx3", "libsphinxbase3", "sox")},
        "script_command": "nice -n 5 python3 " + " ".join(shlex.quote(x) for x in sys.argv),
        "date_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.node()} {platform.machine()} {platform.platform()}, "
                   f"{os.cpu_count()} CPUs",
        "wall_seconds": round(time.time() - t0, 1),
    }
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    if not a.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
