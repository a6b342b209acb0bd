"""Scheduled-job bookkeeping: the record of each run and `GET /v1/jobs`."""
