"""A stand-in for the hub as its companions see it (room.RoomsHere): rooms, and a record of the flushes
asked for. Deals are applied as the hub applies them (Room.update_deal), so what a test reads off the
room is what a socket would be sent."""

from __future__ import annotations

from livecart.clock import Clock
from livecart.room import Room


class RoomsHere:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.rooms: dict[str, Room] = {}
        self.flushes: list[tuple[str, bool]] = []  # (room, urgent)

    def open(self, name: str) -> Room:
        room = self.rooms[name] = Room(name)
        return room

    def schedule_flush(self, room: Room, urgent: bool = True) -> None:
        self.flushes.append((room.name, urgent))

    def apply_deal(self, room: Room, fields: dict[str, str]) -> None:
        room.update_deal(fields, self.clock.now_ms())
