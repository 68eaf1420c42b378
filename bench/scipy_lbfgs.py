"""scipy's side of bench/lbfgs-vs-scipy.ts: the seed's outer loop of fmin_l_bfgs_b restarts, with
every loss+gradient evaluation answered by the Node process that owns the ORT objective.

    python3 bench/scipy_lbfgs.py <n> <restarts> <maxfun>

Protocol (all little-endian). Node -> Python on stdin: x0 as n float64, then one reply per
evaluation request: loss as float64 followed by the gradient as n float64.
Python -> Node on stdout, framed as uint32 type + uint32 payload length + payload:
  type 1: evaluate at x (n float64); type 2: a restart finished (UTF-8 JSON).
stdout carries nothing else, so anything scipy prints must go to stderr.
"""

import json
import struct
import sys

import numpy as np
from scipy.optimize import fmin_l_bfgs_b

EVALUATE = 1
RESTART_DONE = 2


def read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"expected {size} bytes from Node, got {len(data)}")
    return data


def send(stream, kind, payload):
    stream.write(struct.pack("<II", kind, len(payload)))
    stream.write(payload)
    stream.flush()


def main():
    n, restarts, maxfun = (int(a) for a in sys.argv[1:4])
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    x = np.frombuffer(read_exactly(inp, 8 * n), dtype="<f8").copy()

    def loss_and_grad(point):
        send(out, EVALUATE, np.ascontiguousarray(point, dtype="<f8").tobytes())
        reply = np.frombuffer(read_exactly(inp, 8 * (n + 1)), dtype="<f8")
        return float(reply[0]), reply[1:].copy()

    for restart in range(restarts):
        x, loss, info = fmin_l_bfgs_b(loss_and_grad, x, maxfun=maxfun)
        report = {
            "restart": restart,
            "loss": float(loss),
            "funcalls": int(info["funcalls"]),
            "nit": int(info["nit"]),
            "warnflag": int(info["warnflag"]),
            "task": str(info["task"]),
        }
        send(out, RESTART_DONE, json.dumps(report).encode())


if __name__ == "__main__":
    main()
