"""Serve a GGUF model with llama.cpp's own OpenAI-compatible server (the C++
server embedded in the `xllamacpp` wheel) on 127.0.0.1:PORT until SIGTERM.

usage: llm_server.py MODEL.gguf PORT [PARALLEL_SLOTS=4] [THREADS=1]

Prints one line `listening http://127.0.0.1:PORT` once the model is loaded.
One thread is the right setting on a 2-core machine: two threads under
concurrent load collapse throughput.
"""
import signal
import sys
import time

import xllamacpp as xlc


def main() -> None:
    model = sys.argv[1]
    port = int(sys.argv[2])
    slots = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    p = xlc.CommonParams()
    p.model.path = model
    p.hostnames = ["127.0.0.1"]
    p.port = port
    p.n_parallel = slots
    p.n_ctx = 2048 * slots
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    started = time.time()
    server = xlc.Server(p)
    print(f"listening http://127.0.0.1:{port} load_s={time.time() - started:.2f}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    del server


if __name__ == "__main__":
    main()
