# Rivia's Python wrapper (written from spec-scripts §1.3/§1.4; not the platform's code).
# Run as `python3 -S -u -c <this>`; reads ONE stdin line
# {"ARGS", "CONFIG", "META", "_OUTPUT_SEPARATOR", "_TIMEOUT"} and executes the file named by
# argv[1] (/code/main.py in the sandbox) once
# with those as globals (minus _TIMEOUT) plus set_response and HttpResponse.
import sys

# The engine fills this in: (data, nproc, fsize, cpu) for setrlimit, or None when `prlimit`
# already set them. Setting them here saves the exec of prlimit on every run; it is done before
# anything else, so no input and no user code runs without them.
_rivia_limits = @RIVIA_LIMITS@
if _rivia_limits is not None:
    import resource  # no fallback: a run without its limits must not start

    for _rivia_rl, _rivia_value in zip(
            (resource.RLIMIT_DATA, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE,
             resource.RLIMIT_CPU, resource.RLIMIT_CORE), _rivia_limits + (0,)):
        resource.setrlimit(_rivia_rl, (_rivia_value, _rivia_value))
    del resource, _rivia_rl, _rivia_value

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

_rivia_spec = _rivia_loads(sys.stdin.readline())
_rivia_timeout = float(_rivia_spec.pop("_TIMEOUT", 30) or 30)
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
    sys.stderr.write("Script timed out after %s s\n" % _rivia_timeout)
    traceback.print_stack(frame, file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    import os
    os._exit(124)


def _rivia_main():
    scope = dict(_rivia_spec)
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
    with open(sys.argv[1], "rb") as f:
        code = compile(f.read(), "main.py", "exec")
    signal.signal(signal.SIGALRM, _rivia_on_timeout)
    signal.setitimer(signal.ITIMER_REAL, _rivia_timeout)
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


_rivia_main()
