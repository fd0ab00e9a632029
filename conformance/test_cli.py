"""Conformance test: drive Syncano's command-line tool (PyPI ``syncano-cli`` 0.8, built
on the ``syncano`` 5.4.6 Python library) against Rivia, as a developer would from a
shell.

Run through ``conformance/run.sh`` (it starts a server and sets ``RIVIA_URL``). Each
command runs in its own process, pointed at Rivia through the library's
``SYNCANO_APIROOT`` setting, with a private account config file (``--config``) and
``HOME`` in a temporary folder so nothing touches the developer's ``~/.syncano``.

Covered: ``accounts register``, ``login``, ``instances create/list/details/default/
delete``, ``config`` (show, ``add``, ``modify``, ``delete``). Not yet: ``sync`` and
``execute`` (scripts), ``hosting`` (hosting), ``sockets`` (v2 custom sockets, which
v1.1 never had) and ``migrate`` (talks to Parse's hosted API).
"""
import configparser
import os
import random
import string
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

BASE_URL = os.environ.get('RIVIA_URL', 'http://127.0.0.1:8080/')
if not BASE_URL.endswith('/'):
    BASE_URL += '/'
HERE = os.path.dirname(os.path.abspath(__file__))
# The CLI's entry point, with the compatibility shim the library needs on Python >= 3.8.
ENTRY = 'import syncano_compat; from syncano_cli.main import main; main()'


def token(n=8):
    return ''.join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


class Cli:
    """Runs ``syncano <args>`` with one account config file."""

    def __init__(self, home):
        self.home = str(home)
        self.config = os.path.join(self.home, 'syncano.cfg')

    def run(self, *args, env=None, stdin=''):
        full_env = dict(os.environ, HOME=self.home, SYNCANO_APIROOT=BASE_URL,
                        PYTHONPATH=HERE + os.pathsep + os.environ.get('PYTHONPATH', ''))
        full_env.update(env or {})
        return subprocess.run([sys.executable, '-c', ENTRY] + list(args), input=stdin,
                              env=full_env, capture_output=True, text=True, timeout=60)

    def ok(self, *args, **kwargs):
        r = self.run(*args, **kwargs)
        assert r.returncode == 0, 'syncano {} -> {}\nstdout: {}\nstderr: {}'.format(
            ' '.join(args), r.returncode, r.stdout, r.stderr)
        return r.stdout

    def stored(self, option):
        parser = configparser.ConfigParser()
        parser.read(self.config)
        return parser.get('DEFAULT', option, fallback=None)


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


@pytest.fixture
def account(cli):
    """A registered account: (email, password), with its key in the CLI's config."""
    email = 'cli-{}@example.com'.format(token())
    password = 'pw-' + token()
    out = cli.ok('accounts', '--config', cli.config, 'register', email, '--password', password,
                 '--first-name', 'Geralt')
    assert 'INFO: Registration successful.' in out
    return email, password


def get_instance(key, name):
    request = urllib.request.Request(BASE_URL + 'v1.1/instances/{}/'.format(name),
                                     headers={'X-API-KEY': key})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_register_stores_the_account_key(cli, account):
    key = cli.stored('key')
    assert key and len(key) == 40


def test_login_stores_the_key_and_default_instance(cli, account):
    email, password = account
    registered_key = cli.stored('key')
    os.remove(cli.config)
    out = cli.ok('login', '--config', cli.config, '--instance-name', 'my-instance',
                 env={'SYNCANO_EMAIL': email, 'SYNCANO_PASSWORD': password})
    assert 'INFO: Login successful.' in out
    assert cli.stored('key') == registered_key
    assert cli.stored('instance_name') == 'my-instance'


def test_login_with_a_wrong_password_fails(cli, account):
    email, _ = account
    os.remove(cli.config)
    r = cli.run('login', '--config', cli.config,
                env={'SYNCANO_EMAIL': email, 'SYNCANO_PASSWORD': 'wrong'})
    assert r.returncode != 0
    assert not os.path.exists(cli.config)


def test_instances_create_list_details_default_delete(cli, account):
    email, _ = account
    name = 'cli-' + token()
    other = 'cli-' + token()
    assert 'INFO: Instance `{}` created.'.format(name) in cli.ok(
        'instances', '--config', cli.config, 'create', name, '--description', 'from the shell')
    cli.ok('instances', '--config', cli.config, 'create', other)

    listing = cli.ok('instances', '--config', cli.config, 'list')
    assert 'Available Instances:' in listing
    assert '- {}: from the shell'.format(name) in listing
    assert '- {}: no description'.format(other) in listing

    details = cli.ok('instances', '--config', cli.config, 'details', name)
    assert 'Name: {}'.format(name) in details
    assert 'Description: from the shell' in details
    assert 'Owner: {}'.format(email) in details

    assert 'set as default' in cli.ok('instances', '--config', cli.config, 'default', name)
    assert cli.stored('instance_name') == name
    assert '- {} (default): from the shell'.format(name) in cli.ok(
        'instances', '--config', cli.config, 'list')

    # `delete` without a name deletes the default instance once its name is typed again.
    out = cli.ok('instances', '--config', cli.config, 'delete', stdin=name + '\n')
    assert 'INFO: Instance `{}` deleted.'.format(name) in out
    assert get_instance(cli.stored('key'), name) == 404
    assert get_instance(cli.stored('key'), other) == 200


def test_instances_delete_needs_the_name_typed_again(cli, account):
    name = 'cli-' + token()
    cli.ok('instances', '--config', cli.config, 'create', name)
    r = cli.run('instances', '--config', cli.config, 'delete', name, stdin='something-else\n')
    assert r.returncode != 0
    assert get_instance(cli.stored('key'), name) == 200


def test_config_add_modify_delete_and_show(cli, account):
    name = 'cli-' + token()
    cli.ok('instances', '--config', cli.config, 'create', name)
    cfg = ('config', '--config', cli.config, '--instance-name', name)

    assert 'Config for instance {}'.format(name) in cli.ok(*cfg)
    assert 'Variable `region` set to `eu`.' in cli.ok(*cfg, 'add', 'region', 'eu')
    assert 'Variable `mode` set to `fast`.' in cli.ok(*cfg, 'add', 'mode', 'fast')
    r = cli.run(*cfg, 'add', 'region', 'us')
    assert '`region` already in config' in r.stdout + r.stderr

    assert 'Variable `region` set to `us`.' in cli.ok(*cfg, 'modify', 'region', 'us')
    shown = cli.ok(*cfg)
    assert '{:20}: {}'.format('region', 'us') in shown
    assert '{:20}: {}'.format('mode', 'fast') in shown

    assert 'Variable `mode` removed.' in cli.ok(*cfg, 'delete', 'mode')
    r = cli.run(*cfg, 'delete', 'mode')
    assert 'Variable `mode` not found.' in r.stdout + r.stderr
    shown = cli.ok(*cfg)
    assert 'mode' not in shown.replace('Config for instance', '')
    assert '{:20}: {}'.format('region', 'us') in shown
