"""The bacpypes3 device the link-layer peers (MS/TP, Ethernet) host: the same objects on every link."""

from __future__ import annotations

from bacpypes3.app import Application
from bacpypes3.local.analog import AnalogValueObject
from bacpypes3.local.device import DeviceObject


def demo_application(instance: int, name: str, big_description: str) -> Application:
    """analog-value,1 "temp" (21.5) and analog-value,2 "big", whose description makes a long answer."""
    return Application.from_object_list([
        DeviceObject(objectIdentifier=("device", instance), objectName=name, vendorIdentifier=999,
                     maxApduLengthAccepted=1476),
        AnalogValueObject(objectIdentifier=("analog-value", 1), objectName="temp", presentValue=21.5,
                          units="degreesCelsius"),
        AnalogValueObject(objectIdentifier=("analog-value", 2), objectName="big", presentValue=1.0,
                          description=big_description),
    ])
