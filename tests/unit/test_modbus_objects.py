"""Gateway point objects: every property encodes, commanding follows the priority array, COV decides right."""

from __future__ import annotations

import asyncio

import pytest
from bacpypes3.constructeddata import Any
from bacpypes3.errors import ExecutionError
from bacpypes3.primitivedata import Null, Real

from bacrouter.modbus.objects import Reliability, make_object, units_code


class RecordingWriter:
    """Stands in for the gateway's point: refuses 13, records the rest."""

    def __init__(self) -> None:
        self.written: list = []
        self.relinquishes = 0

    def check(self, value) -> None:
        if value == 13:
            raise ExecutionError(errorClass="property", errorCode="valueOutOfRange")

    def write(self, value) -> None:
        self.written.append(value)

    def relinquished(self) -> None:
        self.relinquishes += 1


def kwargs_for(code: str) -> dict:
    if code[0] == "m":
        return {"texts": ["a", "b", "c"]}
    if code[0] == "b":
        return {"texts": ["off", "on"]}
    return {"units": 62, "cov_increment": 0.5}


@pytest.mark.parametrize("code", ["ai", "ao", "av", "bi", "bo", "bv", "mi", "mo", "mv"])
def test_every_property_encodes(code):
    async def main():
        obj = make_object(code, 3, f"m|s|{code}", **kwargs_for(code))
        obj.update(1)
        for name in obj._elements:
            value = await obj.read_property(name)
            Any(value)  # what ReadProperty(Multiple) does with it
        listed = [str(p) for p in await obj.read_property("propertyList")]
        assert "present-value" in listed and "object-name" not in listed
        if obj.commandable:
            assert len(await obj.read_property("priorityArray")) == 16
            assert await obj.read_property("priorityArray", 0) == 16

    asyncio.run(main())


def test_commanding_an_output():
    async def main():
        writer = RecordingWriter()
        obj = make_object("ao", 1, "o", writer=writer)
        obj.update(20.0)
        assert obj.value == 20.0 and await obj.read_property("relinquishDefault") == 20.0
        await obj.write_property("presentValue", 30.0, priority=10)
        await obj.write_property("presentValue", 25.0, priority=12)  # lower priority: no write
        assert obj.value == 30.0 and writer.written == [30.0]  # the lower priority changes nothing on the wire
        assert (await obj.read_property("currentCommandPriority")).unsigned == 10
        await obj.write_property("presentValue", Null(()), priority=10)
        assert obj.value == 25.0 and writer.written[-1] == 25.0
        await obj.write_property("presentValue", Null(()), priority=12)
        assert obj.value == 20.0 and writer.relinquishes == 1
        obj.update(21.0)
        assert obj.value == 21.0  # the polled value is the relinquish default
        for priority in (6, 0, 17):
            with pytest.raises(ExecutionError):
                await obj.write_property("presentValue", 1.0, priority=priority)
        with pytest.raises(ExecutionError):
            await obj.write_property("presentValue", 13, priority=8)  # the writer refused it
        assert obj.value == 21.0
        with pytest.raises(ExecutionError):
            await obj.write_property("units", 3)

    asyncio.run(main())


def test_values_without_a_writer_are_read_only_and_states_are_checked():
    async def main():
        mv = make_object("mv", 1, "m", texts=["a", "b"], writer=RecordingWriter())
        with pytest.raises(ExecutionError):
            await mv.write_property("presentValue", 3)
        with pytest.raises(ExecutionError) as err:
            await mv.write_property("presentValue", Null(()), priority=8)  # not commandable: nothing to relinquish
        assert err.value.errorCode == "invalidDataType"
        await mv.write_property("presentValue", 2)
        assert mv.value == 2
        ai = make_object("ai", 1, "a")
        with pytest.raises(ExecutionError) as err:
            await ai.write_property("presentValue", 1.0)
        assert err.value.errorCode == "writeAccessDenied"

    asyncio.run(main())


def test_cov_increment_and_status_flags():
    async def main():
        obj = make_object("ai", 1, "a", cov_increment=1.0)

        class App:
            device_object = make_object("ai", 99, "dev")  # anything with an objectIdentifier
            sent: list = []

            def request(self, apdu):
                self.sent.append(apdu)

        obj._app = App()
        obj.update(10.0)
        obj.subscribe_cov("x", 1, False, 300)
        assert len(App.sent) == 1
        obj.update(10.5)
        assert len(App.sent) == 1
        obj.update(11.2)
        assert len(App.sent) == 2
        obj.set_reliability(Reliability.COMMUNICATION_FAILURE)
        assert len(App.sent) == 3
        flags = App.sent[-1].listOfValues[1].value
        assert flags is not None
        obj.update(float("nan"), Reliability.UNRELIABLE_OTHER)
        assert len(App.sent) == 4

    asyncio.run(main())


def test_units():
    assert units_code("degrees-celsius") == 62 == units_code("degreesCelsius") == units_code(62) == units_code("62")
    assert units_code(None) == 95
    with pytest.raises(ValueError):
        units_code("furlongs")


def test_read_property_multiple_all_lists_every_property():
    import inspect

    for code in ("ai", "ao", "bv", "mi"):
        obj = make_object(code, 1, "x", **kwargs_for(code))
        assert all(inspect.getattr_static(obj, name, None) is not None for name in obj._elements)


def test_each_cov_subscriber_has_its_own_reference_value():
    async def main():
        obj = make_object("ai", 1, "a", cov_increment=1.0)

        class App:
            device_object = make_object("ai", 99, "dev")
            sent: list = []

            def request(self, apdu):
                self.sent.append(apdu)

        obj._app = App()
        obj.update(10.0)
        obj.subscribe_cov("A", 1, False, 300)
        obj.update(10.9)
        obj.subscribe_cov("B", 2, False, 300)  # B is told 10.9
        obj.update(11.5)  # 1.5 from what A was told, 0.6 from B's
        told = [(a.subscriberProcessIdentifier, a.listOfValues[0].value.cast_out(Real)) for a in App.sent]
        assert told == [(1, 10.0), (2, pytest.approx(10.9)), (1, 11.5)]

    asyncio.run(main())
