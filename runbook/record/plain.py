"""Equality and repr for the record's plain classes (Session, StepRecord, the lock's Holder), as a dataclass would
give them: those classes are on `runbook status`'s path, and importing `dataclasses` (with `inspect`) cost status a
sixth of its time."""
from __future__ import annotations


class Plain:
    """Compares the `COMPARED` fields (every slot unless a class says fewer) of two objects of the same class;
    shows every slot. Mutable, so unhashable, as a dataclass with eq is."""

    __slots__: tuple[str, ...] = ()
    COMPARED: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.COMPARED or self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__) + ")"
