"""OneTrip routing: a pure planning library (frozen dataclasses in, frozen dataclasses out)."""
