"""A small, real workload to measure: dense matrix products in pure Python + the
standard library (no NumPy needed), about 2-5 seconds of one CPU core.

    greenmeter run --region DE -- python examples/matmul.py
"""

import random
import sys
import time


def matmul(a, b):
    bt = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in bt] for row in a]


def main(n: int = 150, rounds: int = 8) -> None:
    rng = random.Random(42)
    a = [[rng.random() for _ in range(n)] for _ in range(n)]
    b = [[rng.random() for _ in range(n)] for _ in range(n)]
    start = time.perf_counter()
    for _ in range(rounds):
        c = matmul(a, b)
    elapsed = time.perf_counter() - start
    flops = 2 * n**3 * rounds
    print(
        f"{rounds} products of {n}x{n}: {elapsed:.2f} s, {flops / elapsed / 1e6:.1f} MFLOP/s, "
        f"checksum {sum(map(sum, c)):.3f}"
    )


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:]))
