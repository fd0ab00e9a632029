"""Make the official ``syncano`` 5.4.6 client importable on Python >= 3.8.

Problem: ``syncano.models.archetypes.ModelMetaclass.__new__`` builds every
model class with ``type.__new__(cls, name, bases, {'__module__': module})``
and then copies the remaining attributes one by one with ``setattr``.  Any
class body that mentions ``super`` (e.g. ``super(Class, self).save(...)``)
gets an implicit ``__class__`` cell, and since Python 3.8 ``type.__new__``
raises ``RuntimeError: __class__ not set defining ...`` when the
``__classcell__`` entry of the namespace is not passed to it.

Fix (without touching the installed library): a ``sys.meta_path`` finder
intercepts the import of ``syncano.models.archetypes`` and, right after that
module has executed (and before ``syncano.models.__init__`` goes on to define
the concrete models), wraps ``ModelMetaclass.__new__`` so that it pops
``__classcell__`` from the namespace and fills the cell with the finished
class -- exactly what ``type.__new__`` would have done.

Usage: ``import syncano_compat`` before anything imports ``syncano.models``
(importing ``syncano`` itself is harmless; ``syncano.connect`` imports the
models lazily).
"""
import importlib.abc
import importlib.machinery
import sys

_TARGET = 'syncano.models.archetypes'


def patch_metaclass(module):
    meta = module.ModelMetaclass
    if getattr(meta, '_rivia_classcell_patched', False):
        return
    original_new = meta.__new__

    def __new__(mcs, name, bases, attrs, **kwargs):
        classcell = attrs.pop('__classcell__', None)
        new_class = original_new(mcs, name, bases, attrs, **kwargs)
        if classcell is not None:
            classcell.cell_contents = new_class
        return new_class

    meta.__new__ = staticmethod(__new__)
    meta._rivia_classcell_patched = True


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, wrapped):
        self._wrapped = wrapped

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        self._wrapped.exec_module(module)
        patch_metaclass(module)


class _ArchetypesFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader)
        return spec


def install():
    if _TARGET in sys.modules:
        # Already imported (e.g. on Python < 3.8, or imported earlier by us).
        patch_metaclass(sys.modules[_TARGET])
        return
    if 'syncano.models' in sys.modules:
        raise RuntimeError('syncano.models was imported before syncano_compat')
    if not any(isinstance(f, _ArchetypesFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ArchetypesFinder())


install()
