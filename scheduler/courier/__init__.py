"""Courier delivery of finished certificates (证照快递送达) and their verification QR codes.

Intake (`intake`), cut-off batching (`cutoff`, routing in `runs`), manifests (`manifest`),
dispatch/tracking/delivery/returns (`delivery`), the resident look-up (`lookup`) and
signed verification tokens (`tokens`). Services take a Session and `now`; they never
commit. See docs/courier.md.
"""
