"""Modbus application PDUs and their framings (RTU, ASCII, TCP/MBAP), sans-IO.

Our own codec rather than pymodbus's client: one master must interleave
slaves with different baud rates, parities and RTU/ASCII framing on one
RS485 line with t3.5 of silence between frames, and a malformed answer must
only ever raise :class:`DecodeError`. pymodbus stays the reference: its
servers are the peers of the tests and its framers cross-check our frames.

Addresses are 0-based protocol addresses. Function codes: 1 read coils,
2 read discrete inputs, 3 read holding registers, 4 read input registers,
5 write single coil, 6 write single register, 15 write multiple coils,
16 write multiple registers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "Function",
    "DecodeError",
    "ModbusException",
    "Request",
    "Response",
    "encode_request",
    "decode_response",
    "crc16",
    "lrc",
    "rtu_frame",
    "RtuReceiver",
    "ascii_frame",
    "AsciiReceiver",
    "tcp_frame",
    "TcpReceiver",
    "LIMITS",
]


class Function(IntEnum):
    READ_COILS = 1
    READ_DISCRETE_INPUTS = 2
    READ_HOLDING_REGISTERS = 3
    READ_INPUT_REGISTERS = 4
    WRITE_SINGLE_COIL = 5
    WRITE_SINGLE_REGISTER = 6
    WRITE_MULTIPLE_COILS = 15
    WRITE_MULTIPLE_REGISTERS = 16


READS = (Function.READ_COILS, Function.READ_DISCRETE_INPUTS, Function.READ_HOLDING_REGISTERS,
         Function.READ_INPUT_REGISTERS)
BIT_FUNCTIONS = (Function.READ_COILS, Function.READ_DISCRETE_INPUTS, Function.WRITE_SINGLE_COIL,
                 Function.WRITE_MULTIPLE_COILS)
#: the protocol's largest quantity per function
LIMITS = {1: 2000, 2: 2000, 3: 125, 4: 125, 15: 1968, 16: 123}

EXCEPTIONS = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "server device failure",
    5: "acknowledge", 6: "server device busy", 8: "memory parity error", 10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class DecodeError(ValueError):
    """Octets that are not the answer to the request (garbled, truncated, for someone else)."""


class ModbusException(Exception):
    """The slave answered with an exception response."""

    def __init__(self, function: int, code: int) -> None:
        self.function, self.code = function, code
        super().__init__(f"exception {code} ({EXCEPTIONS.get(code, 'unknown')}) to function {function}")


@dataclass(frozen=True)
class Request:
    function: int
    address: int
    count: int = 1
    values: tuple[int, ...] = field(default=())  # registers (0..65535) or bits (0/1) to write

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"address {self.address} outside 0..65535")
        limit = LIMITS.get(self.function)
        if limit is not None and not 1 <= self.count <= limit:
            raise ValueError(f"function {self.function} reads or writes 1..{limit} items, not {self.count}")
        if self.address + self.count > 0x10000:
            raise ValueError(f"{self.count} items from {self.address} run past address 65535")


@dataclass(frozen=True)
class Response:
    function: int
    values: tuple[int, ...] = ()  # bits or registers read; empty for writes


def encode_request(request: Request) -> bytes:
    fc, address, count = request.function, request.address, request.count
    if fc in READS:
        return bytes((fc,)) + address.to_bytes(2, "big") + count.to_bytes(2, "big")
    if fc == Function.WRITE_SINGLE_COIL:
        return bytes((fc,)) + address.to_bytes(2, "big") + (b"\xff\x00" if request.values[0] else b"\x00\x00")
    if fc == Function.WRITE_SINGLE_REGISTER:
        return bytes((fc,)) + address.to_bytes(2, "big") + (request.values[0] & 0xFFFF).to_bytes(2, "big")
    if fc == Function.WRITE_MULTIPLE_COILS:
        packed = pack_bits(request.values)
        return bytes((fc,)) + address.to_bytes(2, "big") + len(request.values).to_bytes(2, "big") + \
            bytes((len(packed),)) + packed
    if fc == Function.WRITE_MULTIPLE_REGISTERS:
        body = b"".join((v & 0xFFFF).to_bytes(2, "big") for v in request.values)
        return bytes((fc,)) + address.to_bytes(2, "big") + len(request.values).to_bytes(2, "big") + \
            bytes((len(body),)) + body
    raise ValueError(f"unsupported function {fc}")


def pack_bits(bits: tuple[int, ...] | list[int]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for index, bit in enumerate(bits):
        if bit:
            out[index // 8] |= 1 << (index % 8)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> tuple[int, ...]:
    return tuple((data[i // 8] >> (i % 8)) & 1 for i in range(count))


def response_length(request: Request, pdu_start: bytes) -> int | None:
    """Length of the whole response PDU, once its first octets are known (None: need more)."""
    if not pdu_start:
        return None
    if pdu_start[0] & 0x80:
        return 2
    if request.function in READS:
        return None if len(pdu_start) < 2 else 2 + pdu_start[1]
    return 5  # writes echo function, address and value or quantity


def decode_response(request: Request, pdu: bytes) -> Response:
    """The answer to ``request``; raises ModbusException for an exception response, DecodeError for garbage."""
    if not pdu:
        raise DecodeError("empty response")
    fc = pdu[0]
    if fc == request.function | 0x80:
        if len(pdu) != 2:
            raise DecodeError("exception response of the wrong length")
        raise ModbusException(request.function, pdu[1])
    if fc != request.function:
        raise DecodeError(f"response to function {fc}, not {request.function}")
    if request.function in READS:
        if len(pdu) < 2 or len(pdu) != 2 + pdu[1]:
            raise DecodeError("read response with a wrong byte count")
        data = pdu[2:]
        if request.function in BIT_FUNCTIONS:
            if len(data) != (request.count + 7) // 8:
                raise DecodeError(f"{len(data)} octets of bits for {request.count} bits")
            return Response(fc, unpack_bits(data, request.count))
        if len(data) != 2 * request.count:
            raise DecodeError(f"{len(data)} octets for {request.count} registers")
        return Response(fc, tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)))
    if len(pdu) != 5:
        raise DecodeError("write response of the wrong length")
    echoed = int.from_bytes(pdu[1:3], "big")
    if echoed != request.address:
        raise DecodeError(f"write response for address {echoed}, not {request.address}")
    return Response(fc)


# --------------------------------------------------------------------------- RTU


def _crc_table() -> list[int]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC = _crc_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """Modbus CRC-16 (sent least significant octet first)."""
    crc = 0xFFFF
    table = _CRC
    for octet in data:
        crc = (crc >> 8) ^ table[(crc ^ octet) & 0xFF]
    return crc


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    body = bytes((unit,)) + pdu
    return body + crc16(body).to_bytes(2, "little")


class RtuReceiver:
    """Collects the RTU answer to one request; ``feed`` returns the PDU once complete.

    Octets before the answer's unit address are skipped (line noise), an
    answer from another unit or with a bad CRC raises DecodeError.
    """

    def __init__(self, unit: int, request: Request) -> None:
        self.unit, self.request = unit, request
        self.buffer = bytearray()

    def feed(self, data: bytes) -> bytes | None:
        self.buffer += data
        if not self.buffer:
            return None
        if self.buffer[0] != self.unit:
            if self.unit not in self.buffer:
                raise DecodeError(f"answer from unit {self.buffer[0]}, not {self.unit}")
            del self.buffer[: self.buffer.index(self.unit)]
        length = response_length(self.request, bytes(self.buffer[1:3]))
        if length is None or len(self.buffer) < 1 + length + 2:
            return None
        frame = bytes(self.buffer[: 1 + length + 2])
        if crc16(frame) != 0:
            raise DecodeError("RTU CRC error")
        return frame[1:-2]


# --------------------------------------------------------------------------- ASCII


def lrc(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def ascii_frame(unit: int, pdu: bytes) -> bytes:
    body = bytes((unit,)) + pdu
    return b":" + (body + bytes((lrc(body),))).hex().upper().encode() + b"\r\n"


class AsciiReceiver:
    """Collects an ASCII answer (``:`` hex ``LRC`` CR LF)."""

    def __init__(self, unit: int, request: Request) -> None:
        self.unit, self.request = unit, request
        self.buffer = bytearray()

    def feed(self, data: bytes) -> bytes | None:
        self.buffer += data
        start = self.buffer.find(b":")
        if start < 0:
            self.buffer.clear()
            return None
        end = self.buffer.find(b"\r\n", start)
        if end < 0:
            return None
        text = bytes(self.buffer[start + 1 : end])
        try:
            body = bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise DecodeError("ASCII frame is not hexadecimal") from None
        if len(body) < 3 or lrc(body[:-1]) != body[-1]:
            raise DecodeError("ASCII LRC error")
        if body[0] != self.unit:
            raise DecodeError(f"answer from unit {body[0]}, not {self.unit}")
        return body[1:-1]


# --------------------------------------------------------------------------- TCP (MBAP)


def tcp_frame(transaction: int, unit: int, pdu: bytes) -> bytes:
    return transaction.to_bytes(2, "big") + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + bytes((unit,)) + pdu


class TcpReceiver:
    """Collects MBAP answers; ``feed`` returns (transaction, unit, pdu) for each complete one."""

    MAX_LENGTH = 254

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self.buffer += data
        out = []
        while len(self.buffer) >= 7:
            protocol = int.from_bytes(self.buffer[2:4], "big")
            length = int.from_bytes(self.buffer[4:6], "big")
            if protocol != 0 or not 2 <= length <= self.MAX_LENGTH:
                self.buffer.clear()
                raise DecodeError(f"not a Modbus TCP header (protocol {protocol}, length {length})")
            if len(self.buffer) < 6 + length:
                break
            frame = bytes(self.buffer[: 6 + length])
            del self.buffer[: 6 + length]
            out.append((int.from_bytes(frame[0:2], "big"), frame[6], frame[7:]))
        return out
