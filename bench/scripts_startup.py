#!/usr/bin/env python3
"""Where a sandboxed script run's start-up time goes, step by step, without the server: the bare
interpreter, the wrapper without bubblewrap, `prlimit`, bubblewrap around `true` with each flag
group left out in turn, and the engine's full command line (before: prlimit + `python3 -u`;
now: `python3 -S -u`, the wrapper setting the rlimits). Cases run round-robin, so load drift
hits them alike; prints wall p50/p10/p90 and the mean CPU time of the child (for bubblewrap
cases the sandboxed processes are not counted). Run as root (bubblewrap runs as nobody, as
the server does).

    bench/scripts_startup.py [case ...]        # N=80 bench/scripts_startup.py bare bareS engine engine_new
"""
import resource, os, subprocess, sys, tempfile, time, statistics
N = int(os.environ.get('N', '60'))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRAPPERS = os.path.join(REPO, 'crates', 'rivia-scripts', 'wrappers')
W2 = open(os.path.join(WRAPPERS, 'python.py')).read().replace(
    '@RIVIA_LIMITS@', '(335544320, 64, 16777216, 32)')
# The wrapper as it was before -S (prlimit set the limits): the limits line off, a failing
# syncano import as then.
W = W2.replace('_rivia_limits = (335544320, 64, 16777216, 32)', '_rivia_limits = None')
NODE_W = open(os.path.join(WRAPPERS, 'node.js')).read()
CODE = tempfile.mkdtemp(prefix='rivia-startup-')
os.chmod(CODE, 0o755)
for name, text in (('main.py', "print('hello world')\n"), ('main.js', "console.log('hello world')\n")):
    with open(os.path.join(CODE, name), 'w') as f:
        f.write(text)
    os.chmod(os.path.join(CODE, name), 0o644)
LINE = b'{"ARGS":{},"CONFIG":{},"META":{},"_OUTPUT_SEPARATOR":"--x--","_TIMEOUT":30}\n'
def nobody():
    os.setgid(65534); os.setuid(65534)
PL = ['/usr/bin/prlimit', '--data=335544320', '--nproc=64', '--fsize=16777216', '--cpu=32', '--core=0', '--']
PY = ['/usr/bin/python3']
def bw(drop=()):
    a = []
    def add(tag, *xs):
        if tag not in drop: a.extend(xs)
    a += ['/usr/bin/bwrap', '--unshare-user', '--unshare-pid']
    add('ipc', '--unshare-ipc'); add('uts', '--unshare-uts', '--hostname', 'rivia-script'); add('cg', '--unshare-cgroup-try')
    add('net', '--unshare-net')
    a += ['--uid', '1000', '--gid', '1000']
    add('dwp', '--die-with-parent'); add('ns', '--new-session')
    a += ['--clearenv', '--setenv', 'PATH', '/usr/bin:/bin', '--setenv', 'HOME', '/scratch', '--setenv', 'LANG', 'C.UTF-8', '--setenv', 'TMPDIR', '/tmp']
    a += ['--ro-bind', '/usr', '/usr']
    for l in ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']:
        if os.path.islink(l): a += ['--symlink', os.readlink(l), l]
        else: add('libtry', '--ro-bind-try', l, l)
    for e in ["/etc/alternatives","/etc/ld.so.cache","/etc/localtime","/etc/ssl","/etc/ca-certificates","/etc/php","/etc/ruby","/etc/mime.types"]:
        add('etc', '--ro-bind-try', e, e)
    add('proc', '--proc', '/proc'); add('dev', '--dev', '/dev')
    add('tmpfs', '--size', '67108864', '--tmpfs', '/scratch', '--size', '67108864', '--tmpfs', '/tmp')
    a += ['--ro-bind', CODE, '/code']
    a += ['--chdir', '/' if 'tmpfs' in drop else '/scratch']
    return a + ['--']
CASES = {
  'bare': (PY + ['-c', 'pass'], None, False),
  'bareS': (PY + ['-S', '-c', 'pass'], None, False),
  'bareIS': (PY + ['-I', '-S', '-c', 'pass'], None, False),
  'wrap': (PY + ['-u', '-c', W, CODE + '/main.py'], LINE, False),
  'wrapS': (PY + ['-S', '-u', '-c', W, CODE + '/main.py'], LINE, False),
  'pl_bare': (PL + PY + ['-c', 'pass'], None, False),
  'true': (['/usr/bin/true'], None, False),
  'pl_true': (PL + ['/usr/bin/true'], None, False),
  'bw_true': (bw(('net',)) + ['/usr/bin/true'], None, True),
  'bwnet_true': (bw(()) + ['/usr/bin/true'], None, True),
  'bw_bare': (bw(('net',)) + PY + ['-c', 'pass'], None, True),
  'bw_pl_bare': (bw(('net',)) + PL + PY + ['-c', 'pass'], None, True),
  'engine_new': (bw(('net',)) + PY + ['-S', '-u', '-c', W2, '/code/main.py'], LINE, True),
  'wrap_new': (PY + ['-S', '-u', '-c', W2, CODE + '/main.py'], LINE, False),
  'node_bare': (['/usr/bin/node', '-e', '0'], None, False),
  'node_wrap': (['/usr/bin/node', '--max-old-space-size=240', '-e', NODE_W, CODE + '/main.js'], LINE, False),
  'node_engine': (bw(('net',)) + PL + ['/usr/bin/node', '--max-old-space-size=240', '-e', NODE_W, '/code/main.js'], LINE, True),
  'engine': (bw(('net',)) + PL + PY + ['-u', '-c', W, '/code/main.py'], LINE, True),
}
for tag in ['ipc', 'uts', 'cg', 'dwp', 'ns', 'etc', 'proc', 'dev', 'tmpfs']:
    CASES['bw_true-' + tag] = (bw(('net', tag)) + ['/usr/bin/true'], None, True)
which = sys.argv[1:] or list(CASES)
res = {k: [] for k in which}
cpu = {k: [] for k in which}
for i in range(N):
    for k in which:
        argv, stdin, nb = CASES[k]
        s = time.perf_counter(); ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={}, preexec_fn=nobody if nb else None)
        res[k].append(time.perf_counter() - s); ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[k].append(ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime)
        if r.returncode != 0:
            print(k, 'FAILED', r.stderr[:300]); sys.exit(1)
for k in which:
    v = sorted(res[k])
    print('%-16s wall p50 %6.2f ms  p10 %6.2f  p90 %6.2f | cpu mean %6.2f ms' % (k, statistics.median(v)*1000, v[len(v)//10]*1000, v[len(v)*9//10]*1000, statistics.mean(cpu[k])*1000))
