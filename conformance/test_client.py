"""Conformance test: drive the official ``syncano`` 5.4.6 Python client against Rivia.

Run through ``conformance/run.sh`` (starts a server) or directly with
``RIVIA_URL=http://127.0.0.1:8080/ pytest conformance/test_client.py``.

Every step goes through the library's public API (models, managers,
``Connection``) exactly as an application would; raw ``connection.request``
calls are only used where the library has no wrapper (e.g. to look at the list
envelope itself).  Fixtures are module scoped so that a failure in one area
(e.g. channels) does not hide results of the others.  All names are unique per
run, so the test can be pointed at a shared (PostgreSQL) server.

Library quirks that the tests deliberately live with (see LIBRARY_NOTES.md):
* ``syncano.connect`` replaces the *global* default connection; the user-mode
  tests therefore restore the admin connection afterwards.
* ``registry.instance_name`` (the "used instance") is global and is what
  batch requests are sent to; Instance.please.create() changes it and
  Instance.delete() clears it, so ``inst`` re-selects the main instance.
"""
import contextlib
import datetime
import json
import os
import random
import re
import string
import threading
import time

import syncano_compat  # noqa: F401  -- must come before syncano.models

import pytest
import requests
import syncano
from syncano.connection import Connection
from syncano.exceptions import (RevisionMismatchException, SyncanoDoesNotExist,
                                SyncanoRequestError, UserNotFound)
from syncano.models import (ApiKey, Backup, Channel, Class, DataEndpoint, Group, Instance,
                            Message, Object, ResponseTemplate, Restore, Schedule, ScheduleTrace,
                            Script, ScriptEndpoint, ScriptEndpointTrace, ScriptTrace, Trigger,
                            TriggerTrace, User, registry)

BASE_URL = os.environ.get('RIVIA_URL', 'http://127.0.0.1:8080/')
if not BASE_URL.endswith('/'):
    BASE_URL += '/'

RUN = (format(int(time.time()), 'x')[-6:] +
       ''.join(random.choice(string.ascii_lowercase + string.digits) for _ in range(4)))
EMAIL = 'conformance-{}@example.com'.format(RUN)
PASSWORD = 'Secret-{}'.format(RUN)
INSTANCE_NAME = 'conf-{}'.format(RUN)

KEY_RE = re.compile(r'^[0-9a-f]{40}$')
EVEN = set('02468ace')
ODD = set('13579bdf')


def is_admin_key(key):
    return bool(KEY_RE.match(key or '')) and key[-1] in EVEN


def is_api_key(key):
    return bool(KEY_RE.match(key or '')) and key[-1] in ODD


def admin_connection():
    return registry.connection()


@contextlib.contextmanager
def default_connection(**kwargs):
    """Temporarily make ``syncano.connect(**kwargs)`` the global connection."""
    saved = registry._default_connection
    try:
        reg = syncano.connect(host=BASE_URL, **kwargs)
        yield reg.connection()
    finally:
        registry.set_default_connection(saved)
        registry.set_used_instance(INSTANCE_NAME)


def wait_class_ready(class_name, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        klass = Class.please.get(instance_name=INSTANCE_NAME, name=class_name)
        if klass.status == 'ready' or time.monotonic() > deadline:
            return klass
        time.sleep(0.2)


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def admin():
    """Register an account with the library, then log in with email/password."""
    reg = syncano.connect(host=BASE_URL)
    key = reg.connection().register(EMAIL, PASSWORD, first_name='Conformance', last_name='Run')
    assert is_admin_key(key), key

    # A real login (POST v1.1/account/auth/) through the library: connect() is lazy,
    # authenticate() performs the login.
    reg = syncano.connect(host=BASE_URL, email=EMAIL, password=PASSWORD)
    conn = reg.connection()
    assert conn.authenticate() == key
    info = conn.get_account_info()
    return {'key': key, 'id': info['id'], 'email': EMAIL}


@pytest.fixture(scope='module')
def instance(admin):
    inst = Instance.please.create(name=INSTANCE_NAME, description='conformance run')
    yield inst
    try:
        Instance.please.delete(name=INSTANCE_NAME)
    except Exception:
        pass


@pytest.fixture
def inst(instance):
    """The main instance, re-selected as the library's "used instance"."""
    registry.set_used_instance(INSTANCE_NAME)
    return instance


@pytest.fixture(scope='module')
def api_key(instance):
    return ApiKey.please.create(instance_name=INSTANCE_NAME, description='conformance users',
                                allow_user_create=True)


@pytest.fixture(scope='module')
def profile_schema(instance):
    """Add a custom field to the built-in user_profile class (before any profile is parsed)."""
    registry.set_used_instance(INSTANCE_NAME)
    klass = Class.please.update(instance_name=INSTANCE_NAME, name='user_profile',
                                schema=[{'name': 'nickname', 'type': 'string'}])
    assert [f['name'] for f in klass.schema] == ['nickname']
    return klass


@pytest.fixture(scope='module')
def user(profile_schema):
    registry.set_used_instance(INSTANCE_NAME)
    return User.please.create(instance_name=INSTANCE_NAME, username='Alice' + RUN,
                              password='pw-alice', profile={'nickname': 'al'})


BOOK_SCHEMA = [
    {'name': 'title', 'type': 'string', 'filter_index': True, 'order_index': True},
    {'name': 'pages', 'type': 'integer', 'filter_index': True, 'order_index': True},
    {'name': 'price', 'type': 'float'},
    {'name': 'available', 'type': 'boolean', 'filter_index': True},
    {'name': 'tags', 'type': 'array', 'filter_index': True},
    {'name': 'extra', 'type': 'object'},
    {'name': 'notes', 'type': 'text'},
    {'name': 'released', 'type': 'datetime', 'filter_index': True, 'order_index': True},
    {'name': 'views', 'type': 'integer'},
]

BOOKS = [
    dict(title='Dune', pages=412, price=9.99, available=True, tags=['scifi', 'classic']),
    dict(title='Dune Messiah', pages=256, price=7.5, available=False, tags=['scifi']),
    dict(title='Emma', pages=474, price=5.0, available=True, tags=['classic']),
    dict(title='Hyperion', pages=482, price=8.25, available=True, tags=['scifi']),
    dict(title='Ulysses', pages=730, price=12.0, available=False, tags=['classic', 'long']),
]


@pytest.fixture(scope='module')
def book_class(instance):
    registry.set_used_instance(INSTANCE_NAME)
    klass = Class.please.create(instance_name=INSTANCE_NAME, name='books_' + RUN,
                                description='books', schema=BOOK_SCHEMA,
                                other_permissions='create_objects')
    wait_class_ready(klass.name)
    return klass


@pytest.fixture(scope='module')
def scratch_class(instance):
    """Same schema as books; for tests that create their own objects."""
    registry.set_used_instance(INSTANCE_NAME)
    klass = Class.please.create(instance_name=INSTANCE_NAME, name='scratch_' + RUN,
                                schema=BOOK_SCHEMA, other_permissions='create_objects')
    wait_class_ready(klass.name)
    return klass


@pytest.fixture(scope='module')
def books(book_class):
    """The BOOKS, created in one batch request (Object.please.bulk_create)."""
    registry.set_used_instance(INSTANCE_NAME)
    objs = [Object(instance_name=INSTANCE_NAME, class_name=book_class.name, **b) for b in BOOKS]
    created = Object.please.bulk_create(*objs)
    assert len(created) == len(BOOKS)
    for obj, data in zip(created, BOOKS):
        assert not isinstance(obj, dict), obj  # a dict means the batch item failed
        assert isinstance(obj.id, int)
        assert obj.title == data['title']
    return created


@pytest.fixture(scope='module')
def channel(instance):
    registry.set_used_instance(INSTANCE_NAME)
    return Channel.please.create(instance_name=INSTANCE_NAME, name='chat_' + RUN,
                                 custom_publish=True)


# --------------------------------------------------------------------------------------
# account
# --------------------------------------------------------------------------------------

def test_register_and_login(admin):
    assert is_admin_key(admin['key'])
    info = admin_connection().get_account_info()
    assert info['email'] == EMAIL
    assert info['first_name'] == 'Conformance'
    assert isinstance(info['id'], int)


def test_login_wrong_password_is_401(admin):
    conn = Connection(host=BASE_URL, email=EMAIL, password='wrong')
    with pytest.raises(SyncanoRequestError) as exc:
        conn.authenticate()
    assert exc.value.status_code == 401
    assert exc.value.reason == 'Invalid password.'


def test_register_duplicate_email_is_400(admin):
    conn = Connection(host=BASE_URL)
    with pytest.raises(SyncanoRequestError) as exc:
        conn.register(EMAIL.upper(), 'whatever')
    assert exc.value.status_code == 400
    assert 'email' in exc.value.reason


# --------------------------------------------------------------------------------------
# instances
# --------------------------------------------------------------------------------------

def test_instance_create_fields(inst, admin):
    assert inst.name == INSTANCE_NAME
    assert inst.description == 'conformance run'
    assert inst.role == 'full'
    assert inst.owner.email == EMAIL
    assert isinstance(inst.created_at, datetime.datetime)
    assert isinstance(inst.updated_at, datetime.datetime)
    assert inst.metadata == {}
    assert inst.links.self == '/v1.1/instances/{}/'.format(INSTANCE_NAME)
    assert inst.links.api_keys == '/v1.1/instances/{}/api_keys/'.format(INSTANCE_NAME)


def test_instance_crud(inst):
    name = 'conf-crud-{}'.format(RUN)
    try:
        created = Instance.please.create(name=name, description='one', metadata={'color': 'red'})
        assert created.name == name
        assert created.metadata == {'color': 'red'}
        assert not created.is_new()

        names = [i.name for i in Instance.please.all()]
        assert name in names and INSTANCE_NAME in names

        got = Instance.please.get(name)
        assert got.description == 'one'
        assert got.owner.email == EMAIL

        updated = Instance.please.update(name=name, description='two')  # PATCH
        assert isinstance(updated, Instance)
        assert updated.description == 'two'
        assert updated.metadata == {'color': 'red'}

        got.description = 'three'
        got.metadata = {'color': 'blue'}
        got.save()  # PUT
        assert got.description == 'three'
        assert Instance.please.get(name=name).metadata == {'color': 'blue'}

        assert Instance.please.delete(name=name) is None
        with pytest.raises(Instance.DoesNotExist):
            Instance.please.get(name=name)
    finally:
        registry.set_used_instance(INSTANCE_NAME)


def test_instance_bad_name_is_400(inst):
    with pytest.raises(SyncanoRequestError) as exc:
        Instance.please.create(name='9-starts-with-digit')
    registry.set_used_instance(INSTANCE_NAME)
    assert exc.value.status_code == 400
    assert 'name' in exc.value.reason


def test_unknown_instance_is_does_not_exist(inst):
    with pytest.raises(SyncanoDoesNotExist):
        Instance.please.get(name='no-such-instance-' + RUN)
    with pytest.raises(SyncanoDoesNotExist):
        Class.please.get(instance_name='no-such-instance-' + RUN, name='user_profile')


# --------------------------------------------------------------------------------------
# api keys
# --------------------------------------------------------------------------------------

def test_api_key_crud(inst):
    key = ApiKey.please.create(instance_name=INSTANCE_NAME, description='temp', ignore_acl=True)
    assert isinstance(key.id, int)
    assert is_api_key(key.api_key), key.api_key
    assert key.description == 'temp'
    assert key.ignore_acl is True
    assert key.allow_user_create is False
    assert key.allow_anonymous_read is False

    ids = [k.id for k in ApiKey.please.list(instance_name=INSTANCE_NAME)]
    assert key.id in ids

    got = ApiKey.please.get(instance_name=INSTANCE_NAME, id=key.id)
    assert got.api_key == key.api_key
    assert got.ignore_acl is True

    key_id = key.id
    key.delete()  # NB: the library wipes the model's data on delete()
    with pytest.raises(ApiKey.DoesNotExist):
        ApiKey.please.get(instance_name=INSTANCE_NAME, id=key_id)
    assert key_id not in [k.id for k in ApiKey.please.list(instance_name=INSTANCE_NAME)]


def test_api_key_connection_sees_only_its_instance(inst, api_key):
    conn = Connection(host=BASE_URL, api_key=api_key.api_key)
    page = conn.request('GET', '/v1.1/instances/')
    assert [i['name'] for i in page['objects']] == [INSTANCE_NAME]
    assert page['objects'][0]['role'] == 'api_key'


# --------------------------------------------------------------------------------------
# users
# --------------------------------------------------------------------------------------

def test_user_create(inst, user):
    assert isinstance(user.id, int)
    assert user.username.lower() == ('alice' + RUN)
    assert KEY_RE.match(user.user_key) and user.user_key[-1] in EVEN
    assert user.profile.nickname == 'al'
    assert user.profile.owner == user.id
    assert user.links.self == '/v1.1/instances/{}/users/{}/'.format(INSTANCE_NAME, user.id)

    got = User.please.get(instance_name=INSTANCE_NAME, id=user.id)
    assert got.username == 'alice' + RUN  # stored lower-case
    assert got.user_key == user.user_key
    assert got.profile.nickname == 'al'


def test_user_duplicate_username_is_400(inst, user):
    with pytest.raises(SyncanoRequestError) as exc:
        User.please.create(instance_name=INSTANCE_NAME, username='ALICE' + RUN, password='x')
    assert exc.value.status_code == 400
    assert 'username' in exc.value.reason


def test_users_bulk_create_and_paginate(inst, user):
    names = ['bulk{}_{}'.format(RUN, i) for i in range(5)]
    created = User.please.bulk_create(
        *[User(instance_name=INSTANCE_NAME, username=n, password='pw') for n in names])
    assert [u.username for u in created] == names
    assert all(isinstance(u.id, int) for u in created)

    # The raw envelope: next/prev always present, next is a relative link.
    page = admin_connection().request('GET', '/v1.1/instances/{}/users/'.format(INSTANCE_NAME),
                                      params={'page_size': 2})
    assert set(['next', 'prev', 'objects']) <= set(page)
    assert page['prev'] is None
    assert len(page['objects']) == 2
    assert page['next'].startswith('/v1.1/instances/{}/users/?'.format(INSTANCE_NAME))

    # The library follows `next`, re-sending its own page_size each time.
    everyone = list(User.please.list(instance_name=INSTANCE_NAME).page_size(2))
    ids = [u.id for u in everyone]
    assert len(ids) == len(set(ids)) >= 6
    assert ids == sorted(ids)
    assert set(names) | {'alice' + RUN} <= set(u.username for u in everyone)

    assert len(list(User.please.list(instance_name=INSTANCE_NAME).page_size(2).limit(3))) == 3


def test_user_update_with_profile(inst, user):
    updated = User.please.update(instance_name=INSTANCE_NAME, id=user.id,
                                 profile={'nickname': 'ally'})  # PATCH
    assert updated.id == user.id
    assert updated.profile.nickname == 'ally'
    assert updated.username == 'alice' + RUN

    got = User.please.get(instance_name=INSTANCE_NAME, id=user.id)
    got.password = 'pw-alice-2'
    got.profile.nickname = 'alice'
    got.save()  # PUT with username, password and the nested profile
    assert got.profile.nickname == 'alice'
    assert User.please.get(instance_name=INSTANCE_NAME, id=user.id).profile.nickname == 'alice'


def test_user_reset_key_and_delete(inst, profile_schema):
    temp = User.please.create(instance_name=INSTANCE_NAME, username='temp' + RUN, password='pw')
    response = temp.reset_key()
    assert response['id'] == temp.id
    assert KEY_RE.match(response['user_key']) and response['user_key'] != temp.user_key
    assert User.please.get(instance_name=INSTANCE_NAME, id=temp.id).user_key == response['user_key']

    temp_id = temp.id
    temp.delete()
    with pytest.raises(User.DoesNotExist):
        User.please.get(instance_name=INSTANCE_NAME, id=temp_id)


# --------------------------------------------------------------------------------------
# user login and user mode (api key + user key)
# --------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def login_user(profile_schema):
    registry.set_used_instance(INSTANCE_NAME)
    return User.please.create(instance_name=INSTANCE_NAME, username='bob' + RUN,
                              password='pw-bob', profile={'nickname': 'bobby'})


def test_user_login_with_username_password(inst, api_key, login_user):
    conn = Connection(host=BASE_URL, username='Bob' + RUN, password='pw-bob',
                      api_key=api_key.api_key, instance_name=INSTANCE_NAME)
    assert conn.is_user
    assert conn.authenticate() == login_user.user_key
    info = conn.get_user_info()
    assert info['id'] == login_user.id
    assert info['username'] == 'bob' + RUN


def test_user_login_errors_are_401(inst, api_key, login_user):
    for username, password, message in [('bob' + RUN, 'nope', 'Invalid password.'),
                                        ('nobody' + RUN, 'pw-bob', 'Invalid username.')]:
        conn = Connection(host=BASE_URL, username=username, password=password,
                          api_key=api_key.api_key, instance_name=INSTANCE_NAME)
        with pytest.raises(SyncanoRequestError) as exc:
            conn.authenticate()
        assert exc.value.status_code == 401
        assert exc.value.reason == message


def test_user_auth_model_method_as_admin(inst, login_user):
    response = User(instance_name=INSTANCE_NAME).auth(username='bob' + RUN, password='pw-bob')
    assert response['user_key'] == login_user.user_key
    assert response['profile']['nickname'] == 'bobby'


def test_user_mode(inst, api_key, login_user, scratch_class):
    with default_connection(api_key=api_key.api_key, user_key=login_user.user_key,
                            instance_name=INSTANCE_NAME) as conn:
        assert conn.is_user and conn.is_alt_login
        assert conn.get_user_info()['id'] == login_user.id

        # A user only sees himself.
        users = list(User.please.list(instance_name=INSTANCE_NAME))
        assert [u.id for u in users] == [login_user.id]
        me = User.please.get(instance_name=INSTANCE_NAME, id=login_user.id)
        assert me.profile.nickname == 'bobby'

        # Objects created by a user are owned by him; he sees only what he may read.
        obj = Object.please.create(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                                   title='Users own book', pages=1)
        assert obj.owner == login_user.id
        assert obj.owner_permissions == 'full'
        visible = list(Object.please.list(instance_name=INSTANCE_NAME,
                                          class_name=scratch_class.name))
        assert obj.id in [o.id for o in visible]
        assert all(o.owner == login_user.id or o.other_permissions != 'none' for o in visible)
        updated = Object.please.update(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                                       id=obj.id, title='Renamed by user')
        assert updated.title == 'Renamed by user' and updated.revision == 2

        # An api key lists only itself; classes are read-only for api keys.
        assert [k.id for k in ApiKey.please.list(instance_name=INSTANCE_NAME)] == [api_key.id]
        with pytest.raises(SyncanoRequestError) as exc:
            Class.please.create(instance_name=INSTANCE_NAME, name='forbidden_' + RUN, schema=[])
        assert exc.value.status_code == 403

    # Back to the admin connection: the admin sees the user's object too.
    got = Object.please.get(instance_name=INSTANCE_NAME, class_name=scratch_class.name, id=obj.id)
    assert got.owner == login_user.id
    got.delete()


# --------------------------------------------------------------------------------------
# groups and memberships
# --------------------------------------------------------------------------------------

def test_group_crud(inst):
    group = Group.please.create(instance_name=INSTANCE_NAME, label='Temp group', description='d')
    assert isinstance(group.id, int)
    assert group.label == 'Temp group'
    assert group.links.users == '/v1.1/instances/{}/groups/{}/users/'.format(INSTANCE_NAME, group.id)

    assert group.id in [g.id for g in Group.please.list(instance_name=INSTANCE_NAME)]
    assert Group.please.get(instance_name=INSTANCE_NAME, id=group.id).description == 'd'

    updated = Group.please.update(instance_name=INSTANCE_NAME, id=group.id, description='e')
    assert updated.description == 'e' and updated.label == 'Temp group'
    group.label = 'Renamed'
    group.description = 'f'
    group.save()  # PUT
    assert Group.please.get(instance_name=INSTANCE_NAME, id=group.id).label == 'Renamed'

    group_id = group.id
    group.delete()
    with pytest.raises(Group.DoesNotExist):
        Group.please.get(instance_name=INSTANCE_NAME, id=group_id)


def test_memberships(inst, user, login_user):
    group = Group.please.create(instance_name=INSTANCE_NAME, label='Members')

    added = user.add_to_group(group.id)  # POST /users/{id}/groups/
    assert isinstance(added, Group) and added.id == group.id
    assert [g.id for g in user.list_groups()] == [group.id]
    assert user.group_details(group.id).label == 'Members'

    member = group.add_user(login_user.id)  # POST /groups/{id}/users/
    assert isinstance(member, User) and member.id == login_user.id
    assert sorted(u.id for u in group.list_users()) == sorted([user.id, login_user.id])
    assert group.user_details(login_user.id).username == 'bob' + RUN

    with pytest.raises(SyncanoRequestError) as exc:
        user.add_to_group(group.id)
    assert exc.value.status_code == 400

    assert group.delete_user(login_user.id) is None
    with pytest.raises(UserNotFound):
        group.user_details(login_user.id)

    assert user.remove_from_group(group.id) is None
    assert user.list_groups() == []
    assert group.list_users() == []


# --------------------------------------------------------------------------------------
# classes
# --------------------------------------------------------------------------------------

def test_class_create_fields(inst, book_class):
    assert book_class.name == 'books_' + RUN
    assert book_class.description == 'books'
    assert [f['name'] for f in book_class.schema] == [f['name'] for f in BOOK_SCHEMA]
    assert book_class.schema['title'] == {'name': 'title', 'type': 'string',
                                          'filter_index': True, 'order_index': True}
    assert book_class.revision == 1
    assert book_class.objects_count == 0
    assert book_class.status in ('ready', 'migrating')
    assert book_class.other_permissions == 'create_objects'
    assert book_class.group_permissions == 'none'  # the library sends 'none' by default
    assert book_class.links.objects == '/v1.1/instances/{}/classes/{}/objects/'.format(
        INSTANCE_NAME, book_class.name)

    names = [c.name for c in Class.please.list(instance_name=INSTANCE_NAME)]
    assert book_class.name in names and 'user_profile' in names
    got = Class.please.get(instance_name=INSTANCE_NAME, name=book_class.name)
    assert got.schema == book_class.schema


def test_class_schema_change_and_revision(inst):
    name = 'schema_' + RUN
    klass = Class.please.create(instance_name=INSTANCE_NAME, name=name,
                                schema=[{'name': 'a', 'type': 'string'}])
    assert klass.revision == 1

    klass.schema.add({'name': 'b', 'type': 'integer', 'filter_index': True})
    klass.save()  # PUT /classes/{name}/ with the whole definition
    assert klass.revision == 2
    assert [f['name'] for f in klass.schema] == ['a', 'b']
    klass = wait_class_ready(name)
    assert klass.status == 'ready'

    patched = Class.please.update(instance_name=INSTANCE_NAME, name=name, description='patched',
                                  expected_revision=2)  # PATCH
    assert patched.description == 'patched'
    assert patched.revision == 2  # no schema change, no new revision

    with pytest.raises(RevisionMismatchException) as exc:
        Class.please.update(instance_name=INSTANCE_NAME, name=name, description='stale',
                            expected_revision=1)
    assert exc.value.status_code == 400

    klass.delete()
    with pytest.raises(Class.DoesNotExist):
        Class.please.get(instance_name=INSTANCE_NAME, name=name)


def test_class_invalid_schema_is_400(inst):
    with pytest.raises(SyncanoRequestError) as exc:
        Class.please.create(instance_name=INSTANCE_NAME, name='bad_' + RUN,
                            schema=[{'name': 'id', 'type': 'string'}])
    assert exc.value.status_code == 400
    assert 'schema' in exc.value.reason


# --------------------------------------------------------------------------------------
# data objects
# --------------------------------------------------------------------------------------

def objects_of(klass):
    return Object.please.list(instance_name=INSTANCE_NAME, class_name=klass.name)


def titles(objs):
    return [o.title for o in objs]


def test_object_create_and_get(inst, scratch_class):
    released = datetime.datetime(2020, 1, 2, 3, 4, 5, 678901)
    obj = Object.please.create(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                               title='Single', pages=10, price=1.5, available=True,
                               tags=['x', 1, True], extra={'k': [1, 2]}, notes='long text',
                               released=released)
    assert isinstance(obj.id, int)
    assert obj.revision == 1
    assert isinstance(obj.created_at, datetime.datetime)
    assert obj.owner is None
    assert obj.owner_permissions == 'full'
    assert obj.other_permissions == 'none'

    got = Object.please.get(instance_name=INSTANCE_NAME, class_name=scratch_class.name, id=obj.id)
    assert (got.title, got.pages, got.price, got.available) == ('Single', 10, 1.5, True)
    assert got.tags == ['x', 1, True]
    assert got.extra == {'k': [1, 2]}
    assert got.notes == 'long text'
    assert got.released == released

    # The related manager on the class works as well.
    same = scratch_class.objects.get(id=obj.id)
    assert same.title == 'Single'

    obj_id = obj.id
    obj.delete()
    with pytest.raises(SyncanoDoesNotExist):
        Object.please.get(instance_name=INSTANCE_NAME, class_name=scratch_class.name, id=obj_id)


def test_object_filters(inst, book_class, books):
    q = objects_of(book_class)
    assert sorted(titles(q.filter(pages__gt=450))) == ['Emma', 'Hyperion', 'Ulysses']
    assert sorted(titles(q.filter(pages__lte=256))) == ['Dune Messiah']
    assert sorted(titles(q.filter(title__in=['Emma', 'Dune', 'Nope']))) == ['Dune', 'Emma']
    assert sorted(titles(q.filter(title__startswith='Dune'))) == ['Dune', 'Dune Messiah']
    assert sorted(titles(q.filter(title__istartswith='dune m'))) == ['Dune Messiah']
    assert sorted(titles(q.filter(title__eq='Emma'))) == ['Emma']
    assert sorted(titles(q.filter(title='Emma'))) == ['Emma']  # default lookup is eq
    assert sorted(titles(q.filter(available__eq=False))) == ['Dune Messiah', 'Ulysses']
    assert sorted(titles(q.filter(tags__contains=['classic', 'scifi']))) == ['Dune']
    assert sorted(titles(q.filter(pages__gte=400, available__eq=True))) == ['Dune', 'Emma', 'Hyperion']
    ids = [b.id for b in books]
    assert sorted(titles(q.filter(id__in=ids[:2]))) == ['Dune', 'Dune Messiah']
    assert titles(q.filter(pages__gt=10000)) == []


def test_object_invalid_query_is_400(inst, book_class, books):
    # The library refuses to build a query on a non-indexed field itself, so send it raw.
    path = '/v1.1/instances/{}/classes/{}/objects/'.format(INSTANCE_NAME, book_class.name)
    with pytest.raises(SyncanoRequestError) as exc:
        admin_connection().request('GET', path, params={'query': json.dumps({'price': {'_gt': 1}})})
    assert exc.value.status_code == 400
    assert exc.value.reason.startswith('query: ')


def test_object_order_by_and_pagination(inst, book_class, books):
    by_pages = [o.pages for o in objects_of(book_class).order_by('pages')]
    assert by_pages == sorted(b['pages'] for b in BOOKS)
    desc = titles(objects_of(book_class).order_by('-pages'))
    assert desc == ['Ulysses', 'Hyperion', 'Emma', 'Dune', 'Dune Messiah']

    # Keyset pagination over an ordered list, page_size re-sent by the library.
    paged = titles(objects_of(book_class).order_by('-title').page_size(2))
    assert paged == sorted((b['title'] for b in BOOKS), reverse=True)
    paged = [o.id for o in objects_of(book_class).page_size(2)]
    assert paged == sorted(b.id for b in books)

    filtered = titles(objects_of(book_class).filter(available__eq=True).order_by('pages').page_size(1))
    assert filtered == ['Dune', 'Emma', 'Hyperion']


def test_object_count(inst, book_class, books):
    assert objects_of(book_class).count() == len(BOOKS)
    assert objects_of(book_class).filter(tags__contains=['scifi']).count() == 3
    objs, count = objects_of(book_class).filter(available__eq=True).with_count(page_size=2)
    assert count == 3
    assert len(list(objs)) == 3


def test_object_increment_and_array_ops(inst, book_class, books):
    target = books[0]
    obj = Object.please.increment('views', 5, instance_name=INSTANCE_NAME,
                                  class_name=book_class.name, id=target.id)
    assert obj.views == 5
    obj = Object.please.decrement('views', 2, instance_name=INSTANCE_NAME,
                                  class_name=book_class.name, id=target.id)
    assert obj.views == 3

    obj = Object.please.add('tags', ['new'], instance_name=INSTANCE_NAME,
                            class_name=book_class.name, id=target.id)
    assert obj.tags == ['scifi', 'classic', 'new']
    obj = Object.please.add_unique('tags', ['new', 'newer'], instance_name=INSTANCE_NAME,
                                   class_name=book_class.name, id=target.id)
    assert obj.tags == ['scifi', 'classic', 'new', 'newer']
    obj = Object.please.remove('tags', ['new', 'newer'], instance_name=INSTANCE_NAME,
                               class_name=book_class.name, id=target.id)
    assert obj.tags == ['scifi', 'classic']


def test_object_update_with_expected_revision(inst, scratch_class):
    obj = Object.please.create(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                               title='Draft', pages=1, tags=['t'])
    assert obj.revision == 1

    obj.title = 'Final'
    obj.save(expected_revision=1)  # POST /objects/{id}/ (full update)
    assert obj.revision == 2
    assert obj.title == 'Final'
    assert obj.pages == 1 and obj.tags == ['t']

    with pytest.raises(RevisionMismatchException) as exc:
        obj.title = 'Stale'
        obj.save(expected_revision=1)
    assert exc.value.status_code == 400

    patched = Object.please.update(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                                   id=obj.id, pages=2, expected_revision=2)  # PATCH
    assert patched.revision == 3 and patched.pages == 2 and patched.title == 'Final'
    with pytest.raises(RevisionMismatchException):
        Object.please.update(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                             id=obj.id, pages=3, expected_revision=2)

    unchanged = Object.please.update(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                                     id=obj.id, other_permissions='read')
    assert unchanged.revision == 3  # permission changes don't bump the revision
    assert unchanged.other_permissions == 'read'

    Object.please.delete(instance_name=INSTANCE_NAME, class_name=scratch_class.name, id=obj.id)
    with pytest.raises(SyncanoDoesNotExist):
        Object.please.get(instance_name=INSTANCE_NAME, class_name=scratch_class.name, id=obj.id)


def test_object_batch_update_delete_and_in_bulk(inst, scratch_class):
    a, b = Object.please.bulk_create(
        Object(instance_name=INSTANCE_NAME, class_name=scratch_class.name, title='Batch A', pages=1),
        Object(instance_name=INSTANCE_NAME, class_name=scratch_class.name, title='Batch B', pages=2),
    )
    mgr = scratch_class.objects
    results = Object.please.batch(
        mgr.as_batch().update(id=a.id, title='Batch A2'),
        mgr.as_batch().delete(id=b.id),
        mgr.as_batch().create(title='Batch C', pages=3),
    )
    assert results[0].id == a.id and results[0].title == 'Batch A2'
    assert results[1] == {'code': 204}
    assert results[2].title == 'Batch C' and isinstance(results[2].id, int)

    found = mgr.in_bulk([a.id, b.id])
    assert found[a.id].title == 'Batch A2'
    assert found[b.id]['code'] == 404

    for obj_id in (a.id, results[2].id):
        Object.please.delete(instance_name=INSTANCE_NAME, class_name=scratch_class.name, id=obj_id)


# --------------------------------------------------------------------------------------
# data endpoints
# --------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def long_books(book_class, books):
    """A data endpoint over the books: more than 300 pages, longest first, two a page."""
    registry.set_used_instance(INSTANCE_NAME)
    return DataEndpoint.please.create(
        instance_name=INSTANCE_NAME, name='long-books-' + RUN, class_name=book_class.name,
        description='long books', query={'pages': {'_gt': 300}}, order_by='-pages',
        page_size=2, excluded_fields='notes,extra')


def test_data_endpoint_create_and_get_definition(inst, book_class, long_books):
    got = DataEndpoint.please.get(instance_name=INSTANCE_NAME, name=long_books.name)
    assert got.class_name == book_class.name
    assert got.query == {'pages': {'_gt': 300}}
    assert (got.order_by, got.page_size, got.excluded_fields) == ('-pages', 2, 'notes,extra')
    assert got.description == 'long books'
    assert long_books.name in [e.name for e in DataEndpoint.please.list(instance_name=INSTANCE_NAME)]
    with pytest.raises(SyncanoRequestError) as err:
        DataEndpoint.please.create(instance_name=INSTANCE_NAME, name='bad-' + RUN,
                                   class_name=book_class.name, page_size=500)
    assert err.value.status_code == 400


def test_data_endpoint_get_iterates_every_page(inst, long_books):
    # Four books match, two a page: the library follows `next` to the end.
    objs = list(long_books.get())
    assert [o['title'] for o in objs] == ['Ulysses', 'Hyperion', 'Emma', 'Dune']
    assert all('notes' not in o and 'extra' not in o and 'pages' in o for o in objs)
    # The library's filters are ANDed with the stored query.
    assert [o['title'] for o in long_books.get(available=True)] == ['Hyperion', 'Emma', 'Dune']
    assert [o['title'] for o in long_books.get(title__startswith='Dune')] == ['Dune']


def test_data_endpoint_update_rename_and_delete(inst, book_class):
    endpoint = DataEndpoint.please.create(instance_name=INSTANCE_NAME, name='tmp-' + RUN,
                                          class_name=book_class.name)
    endpoint.order_by = 'title'
    endpoint.page_size = 3
    endpoint.save()
    got = DataEndpoint.please.get(instance_name=INSTANCE_NAME, name='tmp-' + RUN)
    assert (got.order_by, got.page_size) == ('title', 3)
    renamed = endpoint.rename('renamed-' + RUN)
    assert renamed['name'] == 'renamed-' + RUN
    with pytest.raises(SyncanoDoesNotExist):
        DataEndpoint.please.get(instance_name=INSTANCE_NAME, name='tmp-' + RUN)
    moved = DataEndpoint.please.get(instance_name=INSTANCE_NAME, name='renamed-' + RUN)
    assert [o['title'] for o in moved.get()] == sorted(b['title'] for b in BOOKS)
    moved.delete()
    with pytest.raises(SyncanoDoesNotExist):
        DataEndpoint.please.get(instance_name=INSTANCE_NAME, name='renamed-' + RUN)


# --------------------------------------------------------------------------------------
# channels
# --------------------------------------------------------------------------------------

def poll_once(chan, timeout, **kwargs):
    """Run the library's PollThread until the first message; returns (message, error)."""
    got, errors, done = [], [], threading.Event()

    def callback(message=None):
        got.append(message)
        done.set()
        return False  # stop polling

    def error(exc):
        errors.append(exc)
        done.set()

    stop = chan.poll(callback=callback, error=error, timeout=timeout, **kwargs)
    finished = done.wait(timeout + 5)
    if not finished:
        stop()
    return (got[0] if got else None), (errors[0] if errors else None), finished


def test_channel_crud(inst):
    name = 'temp_' + RUN
    chan = Channel.please.create(instance_name=INSTANCE_NAME, name=name, type='separate_rooms',
                                 other_permissions='subscribe')
    assert chan.name == name
    assert chan.type == 'separate_rooms'
    assert chan.other_permissions == 'subscribe'
    assert chan.custom_publish is False
    assert chan.links.publish == '/v1.1/instances/{}/channels/{}/publish/'.format(INSTANCE_NAME, name)

    names = [c.name for c in Channel.please.list(instance_name=INSTANCE_NAME)]
    assert set([name, 'default', 'eventlog']) <= set(names)

    updated = Channel.please.update(instance_name=INSTANCE_NAME, name=name, custom_publish=True)
    assert updated.custom_publish is True and updated.type == 'separate_rooms'

    got = Channel.please.get(instance_name=INSTANCE_NAME, name=name)
    assert got.custom_publish is True
    got.delete()
    with pytest.raises(Channel.DoesNotExist):
        Channel.please.get(instance_name=INSTANCE_NAME, name=name)


def test_channel_publish_history_poll(inst, admin, channel):
    assert channel.custom_publish is True
    m1 = channel.publish({'n': 1})
    m2 = channel.publish({'n': 2, 'text': 'zażółć'})
    assert isinstance(m1.id, int) and m2.id > m1.id
    assert m1.payload == {'n': 1}
    assert m2.payload == {'n': 2, 'text': 'zażółć'}
    assert m1.action == 'custom'
    assert m1.metadata == {'type': 'message'}
    assert m1.author == {'admin': admin['id']}
    assert isinstance(m1.created_at, datetime.datetime)

    history = list(Message.please.list(instance_name=INSTANCE_NAME, channel_name=channel.name))
    assert [m.id for m in history] == [m2.id, m1.id]  # newest first
    assert history[0].payload == m2.payload

    # last_id older than the newest message: the poll answers at once.
    message, error, finished = poll_once(channel, timeout=15, last_id=m1.id)
    assert finished, 'poll thread died or hung (an empty/id-less 200 or 204 kills it)'
    assert error is None, error
    assert message is not None and message.id == m2.id
    assert message.payload == m2.payload and message.action == 'custom'


def test_channel_long_poll_wakes_up_on_publish(inst, channel):
    last = channel.publish({'n': 'before'})
    publisher = threading.Timer(0.5, lambda: channel.publish({'n': 'during'}))
    publisher.start()
    try:
        message, error, finished = poll_once(channel, timeout=15, last_id=last.id)
    finally:
        publisher.join()
    assert finished, 'poll thread died or hung (an empty/id-less 200 or 204 kills it)'
    assert error is None, error
    assert message is not None, 'poll timed out without a message'
    assert message.id > last.id
    assert message.payload == {'n': 'during'}


def test_object_change_published_to_channel(inst, scratch_class, channel):
    obj = Object.please.create(instance_name=INSTANCE_NAME, class_name=scratch_class.name,
                               title='Broadcast', pages=5, channel=channel.name)
    assert obj.channel == channel.name
    latest = list(Message.please.list(instance_name=INSTANCE_NAME,
                                      channel_name=channel.name).limit(1))[0]
    assert latest.action == 'create'
    assert latest.metadata == {'type': 'object', 'class': scratch_class.name}
    assert latest.payload['id'] == obj.id
    assert latest.payload['title'] == 'Broadcast'
    obj.delete()


# --------------------------------------------------------------------------------------
# instance config (snippets/config/)
# --------------------------------------------------------------------------------------

def test_instance_config_get_and_set(inst, api_key):
    assert inst.get_config() == {}
    inst.set_config({'greeting': 'hello', 'count': 3})
    assert inst.get_config() == {'greeting': 'hello', 'count': 3}
    # The library also takes the config as JSON text.
    inst.set_config('{"only": [1, 2]}')
    assert Instance.please.get(name=INSTANCE_NAME).get_config() == {'only': [1, 2]}
    # An ignore_acl API key reads the config but cannot change it; other keys cannot read
    # it (Rivia differs from Syncano here: README, Security).
    server_key = ApiKey.please.create(instance_name=INSTANCE_NAME, ignore_acl=True)
    with default_connection(api_key=server_key.api_key, instance_name=INSTANCE_NAME):
        as_key = Instance(name=INSTANCE_NAME)
        assert as_key.get_config() == {'only': [1, 2]}
        with pytest.raises(SyncanoRequestError) as err:
            as_key.set_config({'x': 1})
        assert err.value.status_code == 403
    with default_connection(api_key=api_key.api_key, instance_name=INSTANCE_NAME):
        with pytest.raises(SyncanoRequestError) as err:
            Instance(name=INSTANCE_NAME).get_config()
        assert err.value.status_code == 403
    server_key.delete()
    inst.set_config({})


def test_instance_config_invalid_is_400(inst):
    too_many = {'k{}'.format(i): i for i in range(1025)}
    with pytest.raises(SyncanoRequestError) as err:
        inst.set_config(too_many)
    assert err.value.status_code == 400
    assert 'Too many keys defined (exceeds 1024).' in str(err.value)
    assert inst.get_config() == {}


# --------------------------------------------------------------------------------------
# response templates (snippets/templates/)
# --------------------------------------------------------------------------------------

def test_response_template_crud_rename_and_render(inst, api_key):
    names = [t.name for t in ResponseTemplate.please.list(instance_name=INSTANCE_NAME)]
    assert names[:2] == ['objects_html_table', 'objects_csv']
    tpl = ResponseTemplate.please.create(
        instance_name=INSTANCE_NAME, name='greet_' + RUN, content_type='text/html',
        content='<p>{{ greeting }}, {{ instance }} ({{ action }})</p>', context={'greeting': 'Hi'})
    assert tpl.context == {'greeting': 'Hi'}
    assert tpl.render() == '<p>Hi, {} (render)</p>'.format(INSTANCE_NAME)
    assert tpl.render({'greeting': 'Yo'}) == '<p>Yo, {} (render)</p>'.format(INSTANCE_NAME)
    tpl.content = '{{ greeting }}!'
    tpl.save()
    got = ResponseTemplate.please.get(instance_name=INSTANCE_NAME, name=tpl.name)
    assert got.content == '{{ greeting }}!'
    tpl.rename('welcome_' + RUN)
    assert tpl.name == 'welcome_' + RUN
    assert ResponseTemplate.please.get(instance_name=INSTANCE_NAME, name=tpl.name).content == '{{ greeting }}!'
    # An API key reads and renders templates but may not change them.
    with default_connection(api_key=api_key.api_key, instance_name=INSTANCE_NAME):
        as_key = ResponseTemplate.please.get(instance_name=INSTANCE_NAME, name=tpl.name)
        assert as_key.render() == 'Hi!'
        with pytest.raises(SyncanoRequestError) as err:
            as_key.delete()
        assert err.value.status_code == 403
    with pytest.raises(SyncanoRequestError) as err:
        ResponseTemplate.please.create(instance_name=INSTANCE_NAME, name='bad_' + RUN,
                                       content='x', content_type='text/html',
                                       context={'response': 1})
    assert err.value.status_code == 400
    assert 'Reserved key' in str(err.value)
    tpl.delete()
    with pytest.raises(SyncanoDoesNotExist):
        ResponseTemplate.please.get(instance_name=INSTANCE_NAME, name=tpl.name)


def test_manager_template_renders_any_list(inst, book_class, books):
    rendered = list(objects_of(book_class).order_by('pages').template('objects_csv'))
    assert len(rendered) == 1
    lines = rendered[0].split('\n')
    assert lines[0].startswith('title,pages,price,available,tags')
    assert len([line for line in lines if line]) == 1 + len(BOOKS)
    assert lines[1].startswith(',"Dune Messiah","256","7.5","False"')
    html = list(Class.please.list(instance_name=INSTANCE_NAME).template('objects_html_table'))[0]
    assert '<th>name</th>' in html and '<td>{}</td>'.format(book_class.name) in html
    # An unknown template is 406.
    with pytest.raises(SyncanoRequestError) as err:
        list(objects_of(book_class).template('no_such_' + RUN))
    assert err.value.status_code == 406


# --------------------------------------------------------------------------------------
# scripts (snippets/scripts/) and their traces
# --------------------------------------------------------------------------------------

def wait_trace(script_id, trace_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        trace = ScriptTrace.please.get(instance_name=INSTANCE_NAME, script_id=script_id,
                                       id=trace_id)
        if trace.status not in ('pending', 'processing') or time.monotonic() > deadline:
            return trace
        time.sleep(0.1)


def test_script_crud(inst):
    script = Script.please.create(instance_name=INSTANCE_NAME, label='crud',
                                  runtime_name='python3', source='print(1)')
    assert script.id and script.runtime_name == 'python3'
    script.source = 'print(2)'
    script.save()
    assert Script.please.get(instance_name=INSTANCE_NAME, id=script.id).source == 'print(2)'
    assert script.id in [s.id for s in Script.please.list(instance_name=INSTANCE_NAME)]
    with pytest.raises(SyncanoRequestError) as err:
        Script.please.create(instance_name=INSTANCE_NAME, runtime_name='cobol', source='x')
    assert err.value.status_code == 400
    script.delete()
    with pytest.raises(SyncanoDoesNotExist):
        Script.please.get(instance_name=INSTANCE_NAME, id=script.id)


def test_script_run_and_traces(inst):
    inst.set_config({'greeting': 'hello'})
    script = Script.please.create(
        instance_name=INSTANCE_NAME, label='hello', runtime_name='python3',
        source="print(CONFIG['greeting'], ARGS['name'])")
    trace = script.run(name='geralt')
    assert trace.status == 'pending'
    done = wait_trace(script.id, trace.id)
    assert done.status == 'success'
    assert done.result['stdout'] == 'hello geralt'
    # The manager's run takes the payload as a keyword.
    trace = Script.please.run(INSTANCE_NAME, script.id, payload={'name': 'ciri'})
    assert wait_trace(script.id, trace.id).result['stdout'] == 'hello ciri'
    traces = list(ScriptTrace.please.list(instance_name=INSTANCE_NAME, script_id=script.id))
    assert [t.id for t in traces][:2] == [trace.id, done.id]
    failing = Script.please.create(instance_name=INSTANCE_NAME, runtime_name='python3',
                                   source='raise ValueError("nope")')
    failed = wait_trace(failing.id, failing.run().id)
    assert failed.status == 'failure'
    assert 'ValueError: nope' in failed.result['stderr']
    inst.set_config({})


# --------------------------------------------------------------------------------------
# script endpoints (endpoints/scripts/, webhooks) and their traces
# --------------------------------------------------------------------------------------

ECHO_ARGS = "import json\nprint(json.dumps(ARGS, sort_keys=True))"


def test_script_endpoint_crud_and_reset_link(inst):
    script = Script.please.create(instance_name=INSTANCE_NAME, runtime_name='python3',
                                  source=ECHO_ARGS)
    se = ScriptEndpoint.please.create(instance_name=INSTANCE_NAME, name='crud-hook',
                                      script=script.id)
    assert se.public is False
    assert len(se.public_link) == 40
    assert 'crud-hook' in [e.name for e in ScriptEndpoint.please.list(instance_name=INSTANCE_NAME)]
    got = ScriptEndpoint.please.get(instance_name=INSTANCE_NAME, name='crud-hook')
    assert got.script == script.id and got.public_link == se.public_link
    got.public = True
    got.save()
    assert ScriptEndpoint.please.get(instance_name=INSTANCE_NAME, name='crud-hook').public is True
    old_link = got.public_link
    got.reset_link()
    assert got.public_link != old_link and len(got.public_link) == 40
    with pytest.raises(SyncanoRequestError) as err:
        ScriptEndpoint.please.create(instance_name=INSTANCE_NAME, name='crud-hook',
                                     script=script.id)
    assert err.value.status_code == 400
    got.delete()
    with pytest.raises(SyncanoDoesNotExist):
        ScriptEndpoint.please.get(instance_name=INSTANCE_NAME, name='crud-hook')


def test_script_endpoint_run_custom_response_public_link_and_traces(inst):
    script = Script.please.create(instance_name=INSTANCE_NAME, runtime_name='python3',
                                  source=ECHO_ARGS)
    se = ScriptEndpoint.please.create(instance_name=INSTANCE_NAME, name='echo',
                                      script=script.id, public=True)
    # Instance method: keyword arguments become the body, the answer a trace.
    trace = se.run(a=1, b='two')
    assert isinstance(trace, ScriptEndpointTrace)
    assert trace.status == 'success'
    assert json.loads(trace.result['stdout']) == {'a': 1, 'b': 'two'}
    # Manager method: the payload travels as a JSON string under `payload`.
    trace = ScriptEndpoint.please.run(INSTANCE_NAME, 'echo', payload={'x': 1})
    assert trace.status == 'success'
    assert json.loads(trace.result['stdout']) == {'payload': json.dumps({'x': 1})}
    traces = list(ScriptEndpointTrace.please.list(instance_name=INSTANCE_NAME,
                                                  script_endpoint_name='echo'))
    assert [t.status for t in traces][:2] == ['success', 'success']
    assert traces[0].id > traces[1].id
    # The public link runs it without credentials.
    public = requests.post(BASE_URL.rstrip('/') + se.links.public_link, json={'p': True})
    assert public.status_code == 200
    assert json.loads(public.json()['result']['stdout']) == {'p': True}
    # A custom response comes back as it is.
    script.source = ("set_response(HttpResponse(status_code=200, content='<b>hi</b>', "
                     "content_type='text/html'))")
    script.save()
    assert se.run() == '<b>hi</b>'


# --------------------------------------------------------------------------------------
# triggers and schedules, and their traces
# --------------------------------------------------------------------------------------

def wait_traces(manager_list, count, timeout=60):
    """The traces ``manager_list()`` gives once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        traces = list(manager_list())
        if len(traces) >= count or time.monotonic() > deadline:
            return traces
        time.sleep(0.2)


def test_trigger_crud_and_runs(inst):
    Class.please.create(instance_name=INSTANCE_NAME, name='watched',
                        schema=[{'name': 'name', 'type': 'string'}])
    script = Script.please.create(
        instance_name=INSTANCE_NAME, label='on-create', runtime_name='python3',
        source="print(META['signal'], ARGS['name'])")
    trigger = Trigger.please.create(instance_name=INSTANCE_NAME, label='new ones',
                                    script=script.id, class_name='watched',
                                    signal='post_create')
    assert trigger.id and trigger.signal == 'post_create'
    assert trigger.class_name == 'watched'
    assert trigger.id in [t.id for t in Trigger.please.list(instance_name=INSTANCE_NAME)]
    with pytest.raises(SyncanoRequestError) as err:
        Trigger.please.create(instance_name=INSTANCE_NAME, label='bad', script=script.id,
                              class_name='missing', signal='post_create')
    assert err.value.status_code == 400
    Object.please.create(instance_name=INSTANCE_NAME, class_name='watched', name='yennefer')
    traces = wait_traces(lambda: TriggerTrace.please.list(
        instance_name=INSTANCE_NAME, trigger_id=trigger.id), 1)
    assert [t.status for t in traces] == ['success']
    # The library's trigger and schedule traces keep `result` as text (a StringField).
    assert "'stdout': 'create yennefer'" in traces[0].result
    one = TriggerTrace.please.get(instance_name=INSTANCE_NAME, trigger_id=trigger.id,
                                  id=traces[0].id)
    assert one.duration is not None
    trigger.signal = 'post_delete'
    trigger.save()
    assert Trigger.please.get(instance_name=INSTANCE_NAME, id=trigger.id).signal == 'post_delete'
    trigger.delete()
    with pytest.raises(SyncanoDoesNotExist):
        Trigger.please.get(instance_name=INSTANCE_NAME, id=trigger.id)


def test_schedule_crud_and_runs(inst):
    script = Script.please.create(instance_name=INSTANCE_NAME, label='tick',
                                  runtime_name='python3', source="print(META['executed_by'])")
    cron = Schedule.please.create(instance_name=INSTANCE_NAME, label='nightly',
                                  script=script.id, crontab='0 3 * * *',
                                  timezone='Europe/Warsaw')
    assert cron.crontab == '0 3 * * *' and cron.scheduled_next is not None
    # 3:00 in Warsaw is 1:00 or 2:00 UTC, depending on the season.
    assert cron.scheduled_next.hour in (1, 2) and cron.scheduled_next.minute == 0
    with pytest.raises(SyncanoRequestError) as err:
        Schedule.please.create(instance_name=INSTANCE_NAME, label='bad', script=script.id,
                               crontab='0 3 * *')
    assert err.value.status_code == 400
    cron.label = 'renamed'
    cron.save()
    assert Schedule.please.get(instance_name=INSTANCE_NAME, id=cron.id).label == 'renamed'
    cron.delete()
    # conformance/run.sh lets schedules run every second (a test-only server setting).
    ticking = Schedule.please.create(instance_name=INSTANCE_NAME, label='ticking',
                                     script=script.id, interval_sec=1)
    traces = wait_traces(lambda: ScheduleTrace.please.list(
        instance_name=INSTANCE_NAME, schedule_id=ticking.id), 2)
    assert len(traces) >= 2
    assert all(t.status == 'success' for t in traces)
    assert "'stdout': 'schedule'" in traces[0].result
    assert traces[0].id > traces[1].id, 'newest first'
    ticking.delete()
    assert ticking.id not in [s.id for s in Schedule.please.list(instance_name=INSTANCE_NAME)]
def wait_job(get, timeout=60):
    """Polls a backup or restore until it leaves scheduled/running."""
    deadline = time.monotonic() + timeout
    while True:
        job = get()
        if job.status not in ('scheduled', 'running', 'uploading'):
            return job
        assert time.monotonic() < deadline, 'job still %s' % job.status
        time.sleep(0.05)


def test_backup_and_restore(inst, admin):
    """Backup (full) and Restore: back up an instance of its own, restore into an empty one."""
    source = Instance.please.create(name='bk-' + RUN)
    target = Instance.please.create(name='rs-' + RUN)
    try:
        Class.please.create(instance_name=source.name, name='notes',
                            schema=[{'name': 'text', 'type': 'string'}])
        note = Object.please.create(instance_name=source.name, class_name='notes', text='kept')
        backup = Backup.please.create(instance_name=source.name, label='conformance')
        assert backup.status == 'scheduled'
        assert backup.instance == source.name
        done = wait_job(lambda: Backup.please.get(instance_name=source.name, id=backup.id))
        assert done.status == 'success', done.status_info
        assert done.size > 0
        assert done.details['objects'] == 1
        assert done.author.email == EMAIL
        assert backup.id in [b.id for b in Backup.please.list(instance_name=source.name)]

        restore = Restore.please.create(instance_name=target.name, backup=backup.id)
        finished = wait_job(lambda: Restore.please.get(instance_name=target.name, id=restore.id))
        assert finished.status == 'success', finished.status_info
        copied = Object.please.get(instance_name=target.name, class_name='notes', id=note.id)
        assert copied.text == 'kept'
        assert copied.created_at == note.created_at
        # A second restore into the now non-empty instance is refused.
        with pytest.raises(SyncanoRequestError) as err:
            Restore.please.create(instance_name=target.name, backup=backup.id)
        assert err.value.status_code == 400

        done.delete()
        with pytest.raises(SyncanoDoesNotExist):
            Backup.please.get(instance_name=source.name, id=backup.id)
    finally:
        source.delete()
        target.delete()
        registry.set_used_instance(INSTANCE_NAME)
