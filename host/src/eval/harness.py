# Tollgate's HumanEval sandbox harness (run as `python3 -I -B -c HARNESS`).
#
# Reads one JSON line on stdin: {"program", "result", "nonce", "cpu_seconds",
# "memory_bytes", "file_bytes"}. Applies resource limits, disables network,
# process creation and destructive file operations at the Python level, runs
# the program (function + tests + check call) with exec, classifies the outcome
# and writes {"nonce", "outcome", "exception", "message", "where", "in_force"}
# to the result file. A run that never reaches the end (os._exit, a signal, a
# timeout) leaves no result, and the host classifies it from the exit status.
import sys, os, json

_cfg = json.loads(sys.stdin.readline())
sys.stdin = open(os.devnull)
_result_file = open(_cfg["result"], "w", encoding="utf-8")
_nonce = _cfg["nonce"]
_exit = os._exit
_dumps = json.dumps
_in_force = []


def _finish(outcome, exception=None, message="", where=""):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        _result_file.write(_dumps({
            "nonce": _nonce, "outcome": outcome, "exception": exception,
            "message": message, "where": where, "in_force": _in_force,
        }))
        _result_file.close()
    finally:
        _exit(0)


# --- OS resource limits -------------------------------------------------------
import resource


def _limit(name, soft, hard):
    res = getattr(resource, name, None)
    if res is None:
        return
    try:
        _, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))
        _in_force.append("%s=%d" % (name, soft))
    except (ValueError, OSError):
        pass


_limit("RLIMIT_CPU", _cfg["cpu_seconds"], _cfg["cpu_seconds"] + 1)
_limit("RLIMIT_AS", _cfg["memory_bytes"], _cfg["memory_bytes"])
_limit("RLIMIT_FSIZE", _cfg["file_bytes"], _cfg["file_bytes"])
_limit("RLIMIT_CORE", 0, 0)
if os.geteuid() != 0:
    # Counts every process of the user; root is exempt, so it is not claimed there.
    _limit("RLIMIT_NPROC", 0, 0)
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"


# --- Python-level guards (against accidents, not a security boundary) ---------
def _deny(what):
    def denied(*args, **kwargs):
        raise PermissionError("%s is disabled in the Tollgate sandbox" % what)
    return denied


import socket, _socket
for _name in ("socket", "create_connection", "create_server", "socketpair", "fromfd",
              "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
    for _mod in (socket, _socket):
        if hasattr(_mod, _name):
            setattr(_mod, _name, _deny("network access"))
_in_force.append("python:socket_disabled")

import subprocess, shutil
for _name in ("fork", "forkpty", "system", "popen", "spawnl", "spawnle", "spawnlp", "spawnlpe",
              "spawnv", "spawnve", "spawnvp", "spawnvpe", "execl", "execle", "execlp", "execlpe",
              "execv", "execve", "execvp", "execvpe", "posix_spawn", "posix_spawnp", "kill",
              "killpg", "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace",
              "truncate", "chmod", "fchmod", "lchmod", "chown", "fchown", "lchown", "chroot",
              "setuid", "setgid", "setsid"):
    if hasattr(os, _name):
        setattr(os, _name, _deny("os." + _name))
for _name in ("Popen", "run", "call", "check_call", "check_output", "getoutput",
              "getstatusoutput"):
    setattr(subprocess, _name, _deny("subprocess." + _name))
for _name in ("rmtree", "move", "chown"):
    setattr(shutil, _name, _deny("shutil." + _name))
try:
    import _posixsubprocess
    _posixsubprocess.fork_exec = _deny("process creation")
except ImportError:
    pass
sys.modules["resource"] = None
_in_force.append("python:process_and_file_guards")

# --- Run ----------------------------------------------------------------------
import builtins, linecache, traceback


def _classify(e):
    if isinstance(e, SyntaxError):
        return "syntax_error"
    if isinstance(e, AssertionError):
        return "assertion_error"
    if isinstance(e, RecursionError):
        return "recursion_error"
    if isinstance(e, NameError):
        return "name_error"
    if isinstance(e, TypeError):
        return "type_error"
    if isinstance(e, ImportError):
        return "import_error"
    if isinstance(e, MemoryError):
        return "memory_error"
    return "runtime_error"


def _where(e):
    try:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "program.py"]
    except BaseException:
        return ""
    if not frames:
        return ""
    f = frames[-1]
    return "line %s: %s" % (f.lineno, (f.line or "").strip())


_src = open(_cfg["program"], encoding="utf-8").read()
linecache.cache["program.py"] = (len(_src), None, _src.splitlines(True), "program.py")
try:
    _code = compile(_src, "program.py", "exec")
except (SyntaxError, ValueError) as e:
    _w = ""
    if isinstance(e, SyntaxError):
        _w = "line %s: %s" % (e.lineno, (e.text or "").strip())
    _finish("syntax_error", type(e).__name__, str(e)[:1000], _w)

try:
    exec(_code, {"__name__": "__program__", "__builtins__": builtins})
except SystemExit as e:
    _finish("early_exit", "SystemExit",
            "the program called exit(%r) before its tests finished" % (e.code,), _where(e))
except BaseException as e:
    try:
        _msg = str(e)
    except BaseException:
        _msg = "<unprintable message>"
    _finish(_classify(e), type(e).__name__, _msg[:1000], _where(e))
_finish("passed")
