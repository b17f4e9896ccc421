"""The operations app: booking, planning and courier services."""
