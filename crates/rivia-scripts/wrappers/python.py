# Rivia's Python wrapper (written from spec-scripts §1.3/§1.4; not the platform's code).
# Run as `python3 -S -u -c <this>`, the same text for every run, so the process can be started
# before its run exists (a "warm" sandbox, see the engine's `warm` module). Everything of the
# run arrives on stdin, in this order:
#   1. `[data, nproc, fsize, cpu]`: the run's rlimits;
#   2. {"ARGS", "CONFIG", "META", "_OUTPUT_SEPARATOR", "_TIMEOUT"} on one line;
#   3. the rest of stdin up to EOF: the script's source, executed once with those as globals
#      (minus _TIMEOUT) plus set_response and HttpResponse.
# Everything above the first read only prepares (imports, classes); no input is looked at.
import sys

# `-S`: site (the site-packages directories, their .pth files, sitecustomize) costs several ms
# per run and a hello world needs none of it. It is loaded on the first import that the
# standard library cannot resolve, by this finder placed last in sys.meta_path, so a script that
# imports a third-party package sees the same sys.path and .pth effects as without `-S`. The
# builtins site adds (exit, quit, help, copyright, credits, license) are set at once: cheap,
# since site and its imports are frozen modules.
import site

site.setquit()
site.setcopyright()
site.sethelper()


class _RiviaLateSite(object):
    @staticmethod
    def find_spec(name, path=None, target=None):
        if _RiviaLateSite in sys.meta_path:
            sys.meta_path.remove(_RiviaLateSite)  # once; .pth files import modules themselves
        site.main()
        if path is not None:  # a submodule: its package's own __path__ was already searched
            return None
        from importlib.machinery import PathFinder
        return PathFinder.find_spec(name, None, target)


sys.meta_path.append(_RiviaLateSite)

# Start-up time is per run: `json` and `signal` pull in `re` and `enum` (~10 ms here), so the
# wrapper uses their C cores directly and falls back to the modules if those ever change.
try:
    import _json

    class _RiviaJsonContext(object):
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                          "NaN": float("nan")}.__getitem__
        memo = {}

    _rivia_scan = _json.make_scanner(_RiviaJsonContext())

    def _rivia_loads(text):
        return _rivia_scan(text, 0)[0]
except Exception:
    from json import loads as _rivia_loads
try:
    import _signal as signal
except ImportError:
    import signal
import resource  # no fallback: a run without its limits must not start

_rivia_state = {"response": None}


class HttpResponse(object):
    def __init__(self, status_code=200, content="", content_type="application/json", headers=None):
        self.status_code = status_code
        self.content = content
        self.content_type = content_type
        self.headers = headers


def set_response(response):
    _rivia_state["response"] = response


def _rivia_on_timeout(signum, frame):
    # Same contract as the platform: the stack goes to stderr and the exit code is 124.
    import traceback  # imported only when needed: it costs start-up time on every run
    sys.stderr.write("Script timed out after %s s\n" % _rivia_state["timeout"])
    traceback.print_stack(frame, file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    import os
    os._exit(124)


def _rivia_set_limits(values):
    # Hard = soft, so the script cannot raise them; RLIMIT_CORE is always 0. RLIMIT_CPU counts
    # from the process start, so it includes the interpreter's start-up (~20 ms of CPU).
    for rl, value in zip((resource.RLIMIT_DATA, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE,
                          resource.RLIMIT_CPU, resource.RLIMIT_CORE), tuple(values) + (0,)):
        resource.setrlimit(rl, (int(value), int(value)))


def _rivia_main():
    stdin = sys.stdin.buffer
    # The limits come first and are set before anything else of the run is read or run.
    _rivia_set_limits(_rivia_loads(stdin.readline().decode("utf-8")))
    spec = _rivia_loads(stdin.readline().decode("utf-8"))
    _rivia_state["timeout"] = float(spec.pop("_TIMEOUT", 30) or 30)
    source = stdin.read()
    scope = dict(spec)
    scope["set_response"] = set_response
    scope["HttpResponse"] = HttpResponse
    # The platform pre-imported the Syncano library; offer it where installed. Looked for in
    # the site-packages directories first: a failed import would load site on every run.
    import os
    if any(os.path.exists(os.path.join(d, "syncano")) for d in site.getsitepackages()):
        try:
            import syncano.connection  # noqa: F401
            import syncano.models  # noqa: F401
            scope["syncano"] = sys.modules["syncano"]
        except Exception:
            pass
    code = compile(source, "main.py", "exec")
    signal.signal(signal.SIGALRM, _rivia_on_timeout)
    signal.setitimer(signal.ITIMER_REAL, _rivia_state["timeout"])
    try:
        exec(code, scope)
    except SystemExit:
        raise
    except BaseException:
        signal.setitimer(signal.ITIMER_REAL, 0)
        import traceback
        traceback.print_exc()
        sys.exit(1)
    signal.setitimer(signal.ITIMER_REAL, 0)
    response = _rivia_state["response"]
    if isinstance(response, HttpResponse):
        import json
        sys.stdout.flush()
        sys.stdout.write("\n" + scope["_OUTPUT_SEPARATOR"] + "\n")
        sys.stdout.write(json.dumps([response.status_code, str(response.content_type),
                                     str(response.content), response.headers]))
        sys.stdout.flush()


# The last preparation, still before the run arrives (off its clock in a pre-started sandbox):
# compiling once pages the compiler in, and collecting then freezing the wrapper's objects keeps
# them out of every later collection, the interpreter's exit included. Measured here, hand-over
# to exit of a hello world: 11 ms without these lines, 3.5 ms with them.
compile("pass", "<warm-up>", "exec")
import gc

gc.collect()
gc.freeze()
del gc

_rivia_main()
