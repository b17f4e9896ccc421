"""Bookings and clerks' shifts -> routing problems -> checked, explained, versioned plans."""
