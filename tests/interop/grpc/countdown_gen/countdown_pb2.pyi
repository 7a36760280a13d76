from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GreetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GreetResponse(_message.Message):
    __slots__ = ("greeting",)
    GREETING_FIELD_NUMBER: _ClassVar[int]
    greeting: str
    def __init__(self, greeting: _Optional[str] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("count", "interval_ms")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    count: int
    interval_ms: int
    def __init__(self, count: _Optional[int] = ..., interval_ms: _Optional[int] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("number", "draining")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    number: int
    draining: bool
    def __init__(self, number: _Optional[int] = ..., draining: _Optional[bool] = ...) -> None: ...
