"""BACnet Reliability codes (clause 21, BACnetReliability) that gateway points report.

One place for both gateways, and light: the Free Client's bus thread uses
them without loading bacpypes3.
"""

from __future__ import annotations

__all__ = ["Reliability"]


class Reliability:
    NO_FAULT = 0
    UNRELIABLE_OTHER = 7
    COMMUNICATION_FAILURE = 12
