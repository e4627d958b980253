"""Stores: where they are, how far a shopper is from each, and which are near enough."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from celeste.kernel.addresses import Address, Phone
from celeste.kernel.errors import ValidationFailed

#: Mean Earth radius (IUGG), the sphere the great-circle distance is measured on.
EARTH_RADIUS_KM = 6371.0088
#: Radius of a near search when the caller gives none.
DEFAULT_RADIUS_KM = 50.0
#: Largest radius a near search accepts (half the Earth's circumference is about 20 015 km).
MAX_RADIUS_KM = 20_000.0
#: Distances are served rounded to this many decimals of a kilometre (a metre).
DISTANCE_DECIMALS = 3

StoreName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Latitude = Annotated[float, Field(ge=-90, le=90, strict=True, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, strict=True, allow_inf_nan=False)]


class GeoPoint(BaseModel):
    """A point on the Earth in decimal degrees (WGS 84): finite, ``lat`` in [-90, 90], ``lng`` in
    [-180, 180]. JSON integers are accepted; strings and booleans are not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: Latitude
    lng: Longitude


class StoreCreate(BaseModel):
    """Body of ``POST /stores``."""

    model_config = ConfigDict(extra="forbid")

    name: StoreName
    address: Address
    location: GeoPoint
    phone: Phone | None = None
    active: StrictBool = True
    #: Customers may collect their orders here (``fulfilment: pickup``).
    pickup: StrictBool = False


class StorePatch(BaseModel):
    """Body of ``PATCH /stores/{id}``: only fields sent change. ``address`` and ``location`` are
    replaced whole (a partial address is invalid); ``phone: null`` removes the phone."""

    model_config = ConfigDict(extra="forbid")

    name: StoreName | None = None
    address: Address | None = None
    location: GeoPoint | None = None
    phone: Phone | None = None
    active: StrictBool | None = None
    pickup: StrictBool | None = None

    def changes(self) -> dict[str, object]:
        """The fields the client sent, ``null`` only where ``null`` means something."""
        sent = self.model_dump(exclude_unset=True)
        for name in ("name", "address", "location", "active", "pickup"):
            if name in sent and sent[name] is None:
                raise ValidationFailed.on(name, "may not be null")
        return sent


class Store(BaseModel):
    """A stored store."""

    id: str
    name: str
    address: Address
    location: GeoPoint
    phone: str | None = None
    active: bool = True
    pickup: bool = False
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoreFacts:
    """What placing an order needs to know about its store."""

    active: bool
    #: Whether customers may collect orders there (``pickup: true`` on the store).
    pickup: bool
    #: ISO 3166-1 alpha-2 of the store's address: a pickup is taxed by it.
    country: str


class NearbyStore(Store):
    """A store found by a near search, with its great-circle distance from the search origin,
    rounded to the metre."""

    distance_km: float


def distance_km(a: GeoPoint, b: GeoPoint) -> float:
    """The great-circle distance between two points in kilometres (haversine, spherical Earth of
    radius ``EARTH_RADIUS_KM``; within about 0.5 % of the ellipsoidal distance)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    # Rounding can push h a hair outside [0, 1] for antipodal points; asin would then fail.
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def nearby(stores: Iterable[Store], origin: GeoPoint, radius_km: float) -> list[NearbyStore]:
    """The stores within ``radius_km`` of ``origin`` (inclusive), nearest first.

    The radius is compared with the exact distance; the order is by the served (rounded)
    distance, then by id, so ties are stable and a page cursor of (distance, id) is exact.
    """
    found = []
    for store in stores:
        exact = distance_km(origin, store.location)
        if exact <= radius_km:
            found.append(NearbyStore(**dict(store), distance_km=round(exact, DISTANCE_DECIMALS)))
    found.sort(key=lambda s: (s.distance_km, s.id))
    return found
