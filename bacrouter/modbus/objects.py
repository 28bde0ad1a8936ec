"""BACnet objects for gateway points: small, computed on read, with their own COV.

A bacpypes3 object keeps every property as a typed instance attribute (about
5 kB for an analog value, 15 kB commandable). A gateway has thousands of
points, so these objects keep only what varies per point in slots and build
each property when it is read, with bacpypes3's own element types doing the
encoding (array indexes included). They speak the interface bacpypes3's
services use: ``read_property``, ``write_property``, ``get_property_type``,
``_elements`` and ``_required``.

COV is ours too: bacpypes3's detection misses reliability changes and fails
for multistate and commandable binary objects. Every object here notifies on
a change of present value (beyond COV_Increment for analog objects) and on a
change of its status flags (reliability, out of service).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, Protocol

from bacpypes3 import object as bp_object
from bacpypes3.apdu import ConfirmedCOVNotificationRequest, UnconfirmedCOVNotificationRequest
from bacpypes3.basetypes import EngineeringUnits, PropertyValue
from bacpypes3.constructeddata import Any as AnyValue
from bacpypes3.errors import ExecutionError
from bacpypes3.primitivedata import Null, ObjectIdentifier

from ..reliability import Reliability

__all__ = ["GatewayObject", "AnalogPoint", "BinaryPoint", "MultistatePoint", "make_object", "point_kwargs", "Reliability",
           "Subscription", "PointWriter", "units_code", "Publications"]

log = logging.getLogger("bacrouter.modbus.objects")


_BP_CLASSES = {
    "ai": bp_object.AnalogInputObject, "ao": bp_object.AnalogOutputObject, "av": bp_object.AnalogValueObject,
    "bi": bp_object.BinaryInputObject, "bo": bp_object.BinaryOutputObject, "bv": bp_object.BinaryValueObject,
    "mi": bp_object.MultiStateInputObject, "mo": bp_object.MultiStateOutputObject,
    "mv": bp_object.MultiStateValueObject,
}
_COMMON = ("objectIdentifier", "objectName", "objectType", "description", "presentValue", "statusFlags",
           "eventState", "reliability", "outOfService", "propertyList")
_BY_KIND = {
    "analog": ("units", "covIncrement"),
    "binary": ("polarity", "inactiveText", "activeText"),
    "multistate": ("numberOfStates", "stateText"),
}
_COMMANDABLE = ("priorityArray", "relinquishDefault", "currentCommandPriority")
#: properties a COV notification carries
_REPORTED = ("presentValue", "statusFlags")


class PointWriter(Protocol):
    """Where present-value writes go (the gateway's point); ``check`` raises ExecutionError to refuse one."""

    def check(self, value: Any) -> None: ...
    def write(self, value: Any) -> None: ...
    def relinquished(self) -> None: ...


def units_code(unit: Any) -> int:
    """BACnet engineering units from a device-config ``unit``: a number or a name such as
    ``degrees-celsius`` / ``degreesCelsius``. Raises ValueError for an unknown name."""
    if unit in (None, ""):
        return 95  # no-units
    if isinstance(unit, str) and unit.strip().isdigit():
        unit = int(unit)
    if isinstance(unit, bool) or not isinstance(unit, (int, str)):
        raise ValueError(f"{unit!r} is not an engineering unit")
    code = int(EngineeringUnits(unit))
    if not 0 <= code <= 65535:
        raise ValueError(f"{unit!r} is not an engineering unit")
    return code


class Subscription:
    """One COV subscriber; ``reported`` is the state it was last told (each has its own reference)."""

    __slots__ = ("address", "process", "confirmed", "expires", "reported")

    def __init__(self, address: Any, process: int, confirmed: bool, expires: float | None) -> None:
        self.address, self.process, self.confirmed, self.expires = address, process, confirmed, expires
        self.reported: tuple[Any, int, bool] | None = None


class GatewayObject:
    """Common to every point object. Subclasses say how the present value is typed."""

    __slots__ = ("objectIdentifier", "_name", "description", "_value", "_reliability", "_app", "_priority",
                 "_relinquish", "_writer", "_cov", "_cov_increment", "_out_of_service")
    kind = ""
    code = ""  # ai, ao, ...
    _elements: dict[str, Any] = {}
    _required: tuple[str, ...] = ()
    commandable = False

    def __init__(self, instance: int, name: str, description: str = "",
                 writer: PointWriter | None = None) -> None:
        self.objectIdentifier = ObjectIdentifier((self._bp.objectType, instance))
        self._name = name
        self.description = description
        self._value: Any = self._initial()
        self._reliability = Reliability.COMMUNICATION_FAILURE
        self._app = None
        self._priority: list[Any] | None = [None] * 16 if self.commandable else None
        self._relinquish: Any = self._initial()
        self._writer = writer  # present value writes go to the slave through this
        self._cov: list[Subscription] | None = None
        self._cov_increment: float | None = None
        self._out_of_service = False

    # ------------------------------------------------------------------ what the gateway sets

    @property
    def objectName(self) -> str:
        return self._name

    @property
    def value(self) -> Any:
        """The present value, as the object shows it."""
        if self._priority is not None:
            for commanded in self._priority:
                if commanded is not None:
                    return commanded
            return self._relinquish
        return self._value

    @property
    def reliability(self) -> int:
        return self._reliability

    def update(self, value: Any, reliability: int = Reliability.NO_FAULT) -> None:
        """A fresh value from the slave (for outputs: the relinquish default)."""
        if self._priority is not None:
            self._relinquish = value
        else:
            self._value = value
        self._reliability = reliability
        self._changed()

    def set_reliability(self, reliability: int) -> None:
        if reliability != self._reliability:
            self._reliability = reliability
            self._changed()

    def commanded_value(self) -> tuple[Any, int | None]:
        """(value, priority) of the highest command, or (relinquish default, None)."""
        if self._priority is not None:
            for index, commanded in enumerate(self._priority):
                if commanded is not None:
                    return commanded, index + 1
            return self._relinquish, None
        return self._value, None

    # ------------------------------------------------------------------ bacpypes3's object interface

    @classmethod
    def get_property_type(cls, attr: Any) -> Any:
        name = _attr_name(attr)
        return cls._elements.get(name)

    async def read_property(self, attr: Any, index: int | None = None) -> Any:
        name = _attr_name(attr)
        element = self._elements.get(name)
        if element is None:
            raise AttributeError(f"not a property: {name!r}")
        getter = getattr(self, "_get_" + name, None)
        if getter is None:
            raise AttributeError(f"not a property: {name!r}")

        def typed() -> Any:
            value = getter()
            return value if value is None or isinstance(value, element) else element(value)

        return await element.read_property(getter=typed, index=index)

    async def write_property(self, attr: Any, value: Any, index: int | None = None, priority: int | None = None) -> None:
        name = _attr_name(attr)
        if name != "presentValue" or self._writer is None:
            if name not in self._elements:
                raise ExecutionError(errorClass="property", errorCode="unknownProperty")
            raise ExecutionError(errorClass="property", errorCode="writeAccessDenied")
        if index is not None:
            raise ExecutionError(errorClass="property", errorCode="propertyIsNotAnArray")
        if self._priority is None:
            if isinstance(value, Null) or value is None:  # only commandable objects are relinquished
                raise ExecutionError(errorClass="property", errorCode="invalidDataType")
            accepted = self._accept(value)
            self._writer.check(accepted)
            self._value = accepted
            self._writer.write(accepted)
            self._changed()
            return
        level = 16 if priority is None else int(priority)
        if not 1 <= level <= 16:
            raise ExecutionError(errorClass="property", errorCode="valueOutOfRange")
        if level == 6:  # minimum on/off: reserved, never writable
            raise ExecutionError(errorClass="property", errorCode="writeAccessDenied")
        before = self.commanded_value()
        if isinstance(value, Null) or value is None:
            self._priority[level - 1] = None
        else:
            accepted = self._accept(value)
            self._writer.check(accepted)
            self._priority[level - 1] = accepted
        effective, commanded_at = self.commanded_value()
        if commanded_at is None:
            if before[1] is not None:
                self._writer.relinquished()
        elif commanded_at == level or (effective, commanded_at) != before:
            self._writer.write(effective)  # (a write below the commanding priority changes nothing)
        self._changed()

    # ------------------------------------------------------------------ property getters

    def _get_objectIdentifier(self) -> Any:
        return self.objectIdentifier

    def _get_objectName(self) -> str:
        return self._name

    def _get_objectType(self) -> Any:
        return self._bp.objectType

    def _get_description(self) -> str:
        return self.description

    def _get_presentValue(self) -> Any:
        return self._typed(self.value)

    def _get_statusFlags(self) -> list[int]:
        return [0, int(self._reliability != Reliability.NO_FAULT), int(self._overridden()), int(self._out_of_service)]

    def _get_eventState(self) -> str:
        return "normal"

    def _get_reliability(self) -> int:
        return self._reliability

    def _get_outOfService(self) -> bool:
        return self._out_of_service

    def _get_propertyList(self) -> list[str]:
        return [p for p in self._elements if p not in ("objectIdentifier", "objectName", "objectType", "propertyList")]

    def _get_priorityArray(self) -> list[Any]:
        assert self._priority is not None
        element = self._bp._elements["priorityArray"]._subtype
        return [element(null=()) if v is None else element(**{self._priority_choice: self._typed(v)})
                for v in self._priority]

    def _get_relinquishDefault(self) -> Any:
        return self._typed(self._relinquish)

    def _get_currentCommandPriority(self) -> Any:
        _, level = self.commanded_value()
        return {"null": ()} if level is None else {"unsigned": level}

    def _overridden(self) -> bool:
        return False

    # ------------------------------------------------------------------ COV

    def _changed(self) -> None:
        if not self._cov:
            return
        now = asyncio.get_running_loop().time()
        self._cov = [s for s in self._cov if s.expires is None or s.expires > now] or None
        state = (self.value, self._reliability, self._out_of_service)
        for subscription in self._cov or ():
            if subscription.reported is None or self._significant(subscription.reported, state):
                self._notify(subscription, now)

    def _significant(self, before: tuple[Any, int, bool], after: tuple[Any, int, bool]) -> bool:
        if before[1:] != after[1:]:
            return True  # status flags changed
        return before[0] != after[0]

    def subscribe_cov(self, address: Any, process: int, confirmed: bool | None, lifetime: int | None) -> None:
        """Add, renew or (confirmed and lifetime both None) cancel a subscription; notify a new one at once."""
        now = asyncio.get_running_loop().time()
        subscriptions = [s for s in (self._cov or []) if s.expires is None or s.expires > now]
        existing = next((s for s in subscriptions if s.address == address and s.process == process), None)
        if confirmed is None and lifetime is None:
            if existing is not None:
                subscriptions.remove(existing)
            self._cov = subscriptions or None
            return
        expires = now + lifetime if lifetime else None
        if existing is not None:
            existing.confirmed, existing.expires = bool(confirmed), expires
            subscription = existing
        else:
            subscription = Subscription(address, process, bool(confirmed), expires)
            subscriptions.append(subscription)
        self._cov = subscriptions
        self._notify(subscription, now)

    def _notify(self, subscription: Subscription, now: float) -> None:
        subscription.reported = (self.value, self._reliability, self._out_of_service)
        app = self._app
        if app is None or app.device_object is None:
            return
        values = [PropertyValue(propertyIdentifier="presentValue",
                                value=AnyValue(self._elements["presentValue"](self._get_presentValue()))),
                  PropertyValue(propertyIdentifier="statusFlags",
                                value=AnyValue(self._elements["statusFlags"](self._get_statusFlags())))]
        remaining = max(0, int(subscription.expires - now)) if subscription.expires else 0
        kind = ConfirmedCOVNotificationRequest if subscription.confirmed else UnconfirmedCOVNotificationRequest
        apdu = kind(subscriberProcessIdentifier=subscription.process,
                    initiatingDeviceIdentifier=app.device_object.objectIdentifier,
                    monitoredObjectIdentifier=self.objectIdentifier, timeRemaining=remaining,
                    listOfValues=values, destination=subscription.address)
        try:
            result = app.request(apdu)
        except BaseException as err:  # noqa: BLE001 - a notification must never break an update
            log.debug("COV notification to %s failed: %r", subscription.address, err)
            return
        if asyncio.isfuture(result):
            result.add_done_callback(_ignore_result)

    # ------------------------------------------------------------------ per kind

    _bp: Any = None
    _priority_choice = ""

    def _initial(self) -> Any:
        raise NotImplementedError

    def _typed(self, value: Any) -> Any:
        return value

    def _accept(self, value: Any) -> Any:
        return value


def _ignore_result(future: asyncio.Future) -> None:
    try:
        future.result()
    except BaseException as err:  # noqa: BLE001 - the subscriber may be gone; nothing to do
        log.debug("confirmed COV notification not acknowledged: %r", err)


def _attr_name(attr: Any) -> str:
    if isinstance(attr, str) and "-" not in attr:
        return attr
    return bp_object.PropertyIdentifier(attr).attr


class AnalogPoint(GatewayObject):
    __slots__ = ("units",)
    kind = "analog"
    _priority_choice = "real"

    def __init__(self, *args: Any, units: int = 95, cov_increment: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.units = units
        self._cov_increment = cov_increment

    def _initial(self) -> float:
        return 0.0

    def _typed(self, value: Any) -> float:
        return float(value)

    def _accept(self, value: Any) -> float:
        number = float(value)
        if math.isnan(number):
            raise ExecutionError(errorClass="property", errorCode="valueOutOfRange")
        return number

    def _get_units(self) -> int:
        return self.units

    def _get_covIncrement(self) -> float:
        return self._cov_increment or 0.0

    def _significant(self, before: tuple[Any, int, bool], after: tuple[Any, int, bool]) -> bool:
        if before[1:] != after[1:]:
            return True
        if self._cov_increment:
            old, new = before[0], after[0]
            if math.isnan(old) or math.isnan(new):
                return not (math.isnan(old) and math.isnan(new))
            return abs(new - old) >= self._cov_increment
        return before[0] != after[0]


class BinaryPoint(GatewayObject):
    __slots__ = ("texts", "reverse")
    kind = "binary"
    _priority_choice = "enumerated"

    def __init__(self, *args: Any, texts: list[str] | None = None, reverse: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.texts = texts or []
        self.reverse = reverse

    def _initial(self) -> int:
        return 0

    def _typed(self, value: Any) -> int:
        return 1 if value else 0

    def _accept(self, value: Any) -> int:
        number = int(value)
        if number not in (0, 1):
            raise ExecutionError(errorClass="property", errorCode="valueOutOfRange")
        return number

    def _get_polarity(self) -> int:
        return 1 if self.reverse else 0

    def _get_inactiveText(self) -> str | None:
        return self.texts[0] if self.texts else None

    def _get_activeText(self) -> str | None:
        return self.texts[1] if len(self.texts) > 1 else None


class MultistatePoint(GatewayObject):
    __slots__ = ("texts",)
    kind = "multistate"
    _priority_choice = "unsigned"

    def __init__(self, *args: Any, texts: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.texts = texts or ["1"]

    def _initial(self) -> int:
        return 1

    def _typed(self, value: Any) -> int:
        return int(value)

    def _accept(self, value: Any) -> int:
        number = int(value)
        if not 1 <= number <= len(self.texts):
            raise ExecutionError(errorClass="property", errorCode="valueOutOfRange")
        return number

    def _get_numberOfStates(self) -> int:
        return len(self.texts)

    def _get_stateText(self) -> list[str]:
        return list(self.texts)


_KIND_CLASS = {"analog": AnalogPoint, "binary": BinaryPoint, "multistate": MultistatePoint}
_CLASSES: dict[str, type[GatewayObject]] = {}


def _make_class(code: str) -> type[GatewayObject]:
    bp = _BP_CLASSES[code]
    base = _KIND_CLASS[{"a": "analog", "b": "binary", "m": "multistate"}[code[0]]]
    commandable = code.endswith("o")
    names = _COMMON + _BY_KIND[base.kind] + (_COMMANDABLE if commandable else ())
    elements = {name: bp._elements[name] for name in names if name in bp._elements}
    namespace: dict[str, Any] = {
        "__slots__": (), "code": code, "_bp": bp, "_elements": elements, "commandable": commandable,
        "_required": tuple(getattr(bp, "_required", ())), "objectType": bp.objectType,
    }
    # bacpypes3's ReadPropertyMultiple (all/required/optional) lists only properties it finds as attributes
    for name in elements:
        if not any(name in vars(cls) for cls in base.__mro__) and name not in namespace:
            namespace[name] = property(lambda self, name=name: getattr(self, "_get_" + name)())
    return type(f"Gateway{bp.__name__}", (base,), namespace)


def point_kwargs(point: Any) -> dict[str, Any]:
    """make_object's keyword arguments from a point definition (Modbus or Free Client): units and COV
    increment for analog points, state texts and polarity for the others; unknown units become no-units."""
    if point.kind == "analog":
        try:
            units = units_code(point.unit)
        except ValueError:
            units = 95
        return {"units": units, "cov_increment": point.cov_increment}
    kwargs: dict[str, Any] = {"texts": point.state_texts or None}
    if point.kind == "binary":
        kwargs["reverse"] = point.polarity
    return kwargs


def make_object(code: str, instance: int, name: str, **kwargs: Any) -> GatewayObject:
    """A point object of type ``code`` (ai, ao, av, bi, bo, bv, mi, mo, mv)."""
    cls = _CLASSES.get(code)
    if cls is None:
        cls = _CLASSES[code] = _make_class(code)
    return cls(instance, name, **kwargs)


class Publications:
    """The objects a gateway added to bacpypes3 applications, so that it takes out only its own."""

    def __init__(self) -> None:
        self._items: list[tuple[Any, Any]] = []  # (application, object) actually added

    def publish(self, app: Any, obj: Any) -> bool:
        """Add ``obj`` to ``app``; False (logged) when its name or identifier is taken by another object."""
        try:
            app.add_object(obj)
        except RuntimeError as err:
            log.error("object %s not published: %s", obj.objectName, err)
            return False
        self._items.append((app, obj))
        return True

    def withdraw(self) -> list[Any]:
        """Take every object out again and return them. bacpypes3 deletes by name and by identifier
        without looking, so an object that has been replaced since stays where it is."""
        objects = []
        for app, obj in self._items:
            if app.objectIdentifier.get(obj.objectIdentifier) is obj and app.objectName.get(obj.objectName) is obj:
                app.delete_object(obj)
            objects.append(obj)
        self._items.clear()
        return objects
