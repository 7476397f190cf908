#!/usr/bin/env python3
"""stations_server.py - a third-party-shaped MCP server (official Python SDK) for the offline planner's evaluation.

Nothing in hub knows it: a catalog tool (`list_stations`: read-only, no arguments, a list of {name, description})
feeds the `station` parameter of `get_reading` (its description says "see list_stations"), the way the demo's
analytics server feeds `metric` from `list_metrics`. Readings are fixed, so answers can be checked.
"""
from typing import Annotated

from pydantic import BaseModel, Field

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore
from mcp.types import ToolAnnotations

srv = _Server("stations")

STATIONS = {
    "oslo_blindern": ("Oslo, Blindern: the university's weather station", 3.5, 4.0),
    "bergen_florida": ("Bergen, Florida district by the harbour", 7.25, 11.0),
    "tromso_langnes": ("Tromsø airport at Langnes, above the Arctic Circle", -6.0, 9.5),
}


class Station(BaseModel):
    name: str
    description: str


class Stations(BaseModel):
    stations: list[Station]


class Reading(BaseModel):
    station: str
    temperature_c: float
    wind_ms: float


@srv.tool(annotations=ToolAnnotations(readOnlyHint=True))
def list_stations() -> Stations:
    """List the weather stations with a description of where each is."""
    return Stations(stations=[Station(name=k, description=v[0]) for k, v in STATIONS.items()])


@srv.tool(annotations=ToolAnnotations(readOnlyHint=True))
def get_reading(station: Annotated[str, Field(description="Station name, see list_stations.")]) -> Reading:
    """The latest reading of one station: temperature and wind."""
    if station not in STATIONS:
        raise ValueError(f"unknown station '{station}'")
    _, t, w = STATIONS[station]
    return Reading(station=station, temperature_c=t, wind_ms=w)


if __name__ == "__main__":
    srv.run()
