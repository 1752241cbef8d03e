"""A training loop in plain Python + NumPy that marks its phases and counts its tokens:
energy per epoch, per step (with p50/p95 over the steps), per evaluation and per token.

    greenmeter run --region DE --json train.json -- python examples/train_phases.py
    python examples/train_phases.py --meter      # no wrapper: greenmeter.Meter inside

Outside 'greenmeter run' (and without --meter) the marks cost nothing and do nothing.
A tiny softmax language model over random "tokens", trained by plain gradient descent.
"""

from __future__ import annotations

import sys

import numpy as np

import greenmeter

VOCAB, DIM, BATCH, SEQ = 256, 32, 16, 32
TOKENS_PER_STEP = BATCH * SEQ


def batches(rng: np.random.Generator, steps: int):
    for _ in range(steps):
        yield rng.integers(0, VOCAB, size=(BATCH, SEQ + 1))


def loss_and_grads(emb, out, tokens):
    x = emb[tokens[:, :-1]].reshape(-1, DIM)  # (B*S, D)
    logits = x @ out  # (B*S, V)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    target = tokens[:, 1:].reshape(-1)
    loss = -np.log(p[np.arange(len(target)), target] + 1e-12).mean()
    p[np.arange(len(target)), target] -= 1
    p /= len(target)
    grad_out = x.T @ p
    grad_x = p @ out.T
    grad_emb = np.zeros_like(emb)
    np.add.at(grad_emb, tokens[:, :-1].reshape(-1), grad_x)
    return loss, grad_emb, grad_out


@greenmeter.phase("eval")
def evaluate(emb, out, rng) -> float:
    losses = []
    for tokens in batches(rng, 5):
        losses.append(loss_and_grads(emb, out, tokens)[0])
        greenmeter.add_units(TOKENS_PER_STEP, "tokens")
    return float(np.mean(losses))


def train(epochs: int = 3, steps: int = 20) -> None:
    rng = np.random.default_rng(0)
    with greenmeter.phase("setup"):
        emb = rng.normal(0, 0.1, (VOCAB, DIM))
        out = rng.normal(0, 0.1, (DIM, VOCAB))
    for epoch in range(epochs):
        with greenmeter.phase("epoch"):
            for tokens in batches(rng, steps):
                with greenmeter.phase("step"):
                    _, grad_emb, grad_out = loss_and_grads(emb, out, tokens)
                    emb -= 0.5 * grad_emb
                    out -= 0.5 * grad_out
                    greenmeter.add_units(TOKENS_PER_STEP, "tokens")
            print(f"epoch {epoch}: eval loss {evaluate(emb, out, rng):.3f}", flush=True)


if __name__ == "__main__":
    if "--meter" in sys.argv:
        with greenmeter.Meter("train", json="train.json") as meter:
            train()
        print(meter)
    else:
        train()
