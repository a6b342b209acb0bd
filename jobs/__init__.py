"""Scheduled work: retention purge, key rotation, audit sealing, reports.

Jobs call `privacy` services, never its routers. `jobs.scheduler` triggers them (inside
`privacy serve` on the embedded default, or in `privacy worker`); the table of jobs is
`privacy.scheduling.registry`, and every run goes through `privacy.scheduling.service`.
"""
