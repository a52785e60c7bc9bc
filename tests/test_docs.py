"""The documentation users see through `help()` and IDEs: every public class, method and
function has a docstring, every argument is named in it (Google style `Args:`), and the
examples in docstrings run."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

import episampler

MODULES = [
    "episampler",
    "episampler.integrations.accelerate",
    "episampler.integrations.lerobot",
    "episampler.lerobot",
    "episampler.integrations.torchdata",
    "episampler.inspect",
]


def public_objects():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        assert module.__doc__, module_name
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


def documented_parameters(function) -> list[str]:
    return [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if name != "self" and parameter.kind is not parameter.VAR_POSITIONAL
    ]


def named_in(docstring: str, name: str) -> bool:
    return f"{name}:" in docstring or f"**{name}:" in docstring


OBJECTS = dict(public_objects())


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_every_public_object_documents_every_argument(name):
    obj = OBJECTS[name]
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    if inspect.isclass(obj):
        if obj.__init__ is object.__init__ or issubclass(obj, dict):  # incl. TypedDicts
            return
        parameters = documented_parameters(obj.__init__)
        assert "Args:" in doc or not parameters, name
        missing = [p for p in parameters if not named_in(doc, p.lstrip("*"))]
        assert not missing, f"{name}: {missing} not described"
        for member_name, member in inspect.getmembers(obj):
            if member_name.startswith("_") or member_name in ("register_buffer",):
                continue
            defined_here = any(member_name in vars(k) for k in obj.__mro__[:-1]
                               if k.__module__.startswith("episampler"))  # fmt: skip
            if defined_here:
                assert inspect.getdoc(member), f"{name}.{member_name} has no docstring"
    else:
        parameters = [p for p in documented_parameters(obj) if p not in ("argv",)]
        missing = [p for p in parameters if p not in doc]
        assert not missing, f"{name}: {missing} not described"


def test_help_of_the_sampler_documents_every_argument():
    text = inspect.getdoc(episampler.EpisodeAwareSampler)
    for argument in documented_parameters(episampler.EpisodeAwareSampler.__init__):
        assert f"    {argument}:" in "\n" + text.replace("\n", "\n    "), argument


@pytest.mark.parametrize(
    "module_name", ["episampler._sampler", "episampler._state", "episampler._mixture"]
)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {name: getattr(episampler, name) for name in episampler.__all__}
    for test in finder.find(module, globs=globs):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0
