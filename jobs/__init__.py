"""Scheduled work (retention purge, key rotation, audit sealing, reports).

Jobs call `privacy` services, never its routers. KEK rotation is available today as
`privacy keys rotate` (privacy.keys.rotation); the scheduler comes with the retention issue.
"""
