"""Write wasmano specific managers in Python.

The Python twin of the Rust ``sm-sdk``: a service-specific manager
subclasses :class:`wasmano_sm.ssm.ServiceManager`, a function-specific one
:class:`wasmano_sm.fsm.FunctionManager`; each event is a method taking a
typed request (parsed from the 5GTANGO content, the parsed document kept as
``raw``) and returning a typed reply, or raising :class:`Failed` (the
manager's error answer) or :class:`NotHandled`. Events a manager does not
list in ``HANDLES`` answer not handled without calling it.

``app.py`` names the exported class as componentize-py expects it::

    from wasmano_sm import ssm

    class Manager(ssm.ServiceManager):
        HANDLES = [ssm.Event.PLACEMENT]

        def placement(self, request):
            ...

    ServiceManager = ssm.export(Manager)

and ``componentize-py -d wit -w service-manager-module componentize app -o
manager.wasm`` builds the component the host runs (``wasmano sm new --lang
python`` writes a project that does). Natively the manager is a plain
object, so ``python -m unittest`` tests it without WebAssembly.

This SDK builds against contract 2.0 (:data:`CONTRACT_VERSION`).
"""

import json
import sys

CONTRACT_VERSION = "2.0.0"

__all__ = [
    "CONTRACT_VERSION",
    "Failed",
    "NotHandled",
    "RequestError",
    "UnitEnvs",
    "log",
    "options",
    "option",
    "set_test_options",
]


class Failed(Exception):
    """The manager handled the event and answers an error: ``message`` is
    5GTANGO's ``error``; ``content`` (any JSON value) travels with it, where
    the event's 5GTANGO reply has one (an SSM state error's ``content``)."""

    def __init__(self, message, content=None):
        super().__init__(message)
        self.message = str(message)
        self.content = content


class NotHandled(Exception):
    """The manager does not handle this event."""


class RequestError(Failed):
    """A request's content does not have the shape the event needs; the
    manager answers it as an error naming what is wrong."""

    def __init__(self, what, message):
        super().__init__(f"malformed {what} request: {message}")


class UnitEnvs:
    """Envs for the container units of a VNF (5GTANGO's ``envs: [{cdu_id,
    envs}]``): ``unit`` names one unit by its id in the VNFD or by its
    ``cdu_id`` (``<unit id>-<VNF instance id>``); ``None`` means every
    container unit. ``envs`` maps names to values (turned into strings)."""

    def __init__(self, envs, unit=None):
        self.unit = unit
        self.envs = {str(key): str(value) for key, value in dict(envs).items()}

    @classmethod
    def every_unit(cls, envs):
        """Envs for every container unit of the VNF."""
        return cls(envs)

    def __eq__(self, other):
        return isinstance(other, UnitEnvs) and (self.unit, self.envs) == (other.unit, other.envs)

    def __repr__(self):
        return f"UnitEnvs(unit={self.unit!r}, envs={self.envs!r})"


def _host():
    """The host's imports inside a component, else ``None`` (natively)."""
    try:
        from wit_world.imports import host  # noqa: PLC0415 (only inside a component)
    except ImportError:
        return None
    return host


_test_options = []


def set_test_options(pairs):
    """Sets what :func:`options` returns natively: ``(key, value)`` pairs or
    a mapping."""
    global _test_options
    items = pairs.items() if hasattr(pairs, "items") else pairs
    _test_options = [(str(key), str(value)) for key, value in items]


def options():
    """The ``options`` this manager was declared with in its descriptor, as
    ``(key, value)`` pairs in order."""
    host = _host()
    if host is None:
        return list(_test_options)
    return [(pair.key, pair.value) for pair in host.options()]


def option(key, default=None):
    """The value of the first option with this key."""
    return next((value for name, value in options() if name == key), default)


class _Log:
    """Log lines, tagged by the host with the manager's id (natively, on
    stderr)."""

    _LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")

    def _write(self, level, message):
        host = _host()
        if host is None:
            print(f"{level.lower()}: {message}", file=sys.stderr)
        else:
            host.log(host.Level[level], str(message))

    def trace(self, message):
        self._write("TRACE", message)

    def debug(self, message):
        self._write("DEBUG", message)

    def info(self, message):
        self._write("INFO", message)

    def warn(self, message):
        self._write("WARN", message)

    def error(self, message):
        self._write("ERROR", message)


log = _Log()


def _parse(what, text):
    """The JSON document ``text`` as a mapping, or a RequestError."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise RequestError(what, error) from None
    if not isinstance(value, dict):
        raise RequestError(what, "the content must be a mapping")
    return value


def _serve(manager_class, wit_types, event, method, request, reply):
    """Serves one event of an exported manager: not handled unless
    ``manager_class.HANDLES`` lists it, else ``method`` of a fresh instance
    on ``request()``, its result converted by ``reply``."""

    def call():
        if event not in manager_class.HANDLES:
            raise NotHandled()
        return reply(getattr(manager_class(), method)(request()))

    return _answer(call, wit_types)


def _answer(call, wit_types):
    """Runs ``call``, turning the SDK's outcomes into the contract's error
    variant (componentize-py raises ``Err`` for a ``result``'s error)."""
    from componentize_py_types import Err  # noqa: PLC0415 (only inside a component)

    try:
        return call()
    except NotHandled:
        raise Err(wit_types.ManagerError_NotHandled()) from None
    except Failed as failed:
        content = None if failed.content is None else json.dumps(failed.content)
        raise Err(wit_types.ManagerError_Failed(wit_types.Failure(failed.message, content))) from None


def _wit_unit_envs(entries, wit_types):
    """SDK unit envs as the contract's."""
    return [
        wit_types.UnitEnvs(
            entry.unit,
            [wit_types.KeyValue(key, value) for key, value in entry.envs.items()],
        )
        for entry in entries
    ]
