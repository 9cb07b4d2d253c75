# Generates lda-golden.json: 4 classes of 5-dimensional points and the generalised eigenvalues
# of (between-class, within-class) covariance from scipy.linalg.eigh, the quantity est-lda
# diagonalises. See HOW-GENERATED.md.
import json
import numpy as np
import scipy
import scipy.linalg

rng = np.random.default_rng(20261207)
d, classes, per = 5, 4, 30
mix = rng.normal(size=(d, d))
points, labels = [], []
for c in range(classes):
    mu = rng.normal(scale=2.0, size=d)
    x = rng.normal(size=(per + 5 * c, d)) @ mix.T + mu
    points.extend(x.tolist())
    labels.extend([c] * len(x))
X = np.array(points)
y = np.array(labels)
n = len(X)
mean = X.mean(axis=0)
total = X.T @ X / n - np.outer(mean, mean)
between = sum((np.sum(y == c) / n) * np.outer(X[y == c].mean(axis=0), X[y == c].mean(axis=0)) for c in range(classes)) - np.outer(mean, mean)
within = total - between
vals = scipy.linalg.eigh(between, within, eigvals_only=True)[::-1]
json.dump({
    "generator": f"test/hmm/golden/make-lda-golden.py (numpy {np.__version__}, scipy {scipy.__version__})",
    "dim": d, "points": X.round(12).tolist(), "labels": y.tolist(),
    "eigenvalues": vals.tolist(),
}, open("test/hmm/golden/lda-golden.json", "w"), separators=(",", ":"))
