"""Parallel writers keep a valid chain, without any lock on the request path.

On PostgreSQL, ids are handed out at insert but transactions commit in any order; the
chainer runs at the same time as the writers and links only what is committed.
"""

from __future__ import annotations

import random
import threading
import uuid

from privacy.audit import service as audit
from privacy.context import Principal, RequestContext
from privacy.db import new_session
from support.api import FULL_APP_SCOPES, app_headers, setup_customers

APP = RequestContext(Principal(kind="app", id="app_writer", roles=frozenset({"app"})))


def _writer(rt, n: int, errors: list[BaseException]) -> None:
    rnd = random.Random()  # noqa: S311
    try:
        for _ in range(n):
            with new_session(rt.engine) as session:
                audit.append(session, APP, action="record.read", subject_id=uuid.uuid4())
                session.flush()  # the id is taken now...
                threading.Event().wait(rnd.random() * 0.01)  # ...the commit comes later
                session.commit()
    except BaseException as exc:
        errors.append(exc)


def _chainer(worker, stop: threading.Event, errors: list[BaseException]) -> None:
    try:
        while not stop.is_set():
            worker.chain()
            stop.wait(0.005)
    except BaseException as exc:
        errors.append(exc)


class TestParallelWriters:
    def test_writers_committing_out_of_order_keep_a_valid_chain(self, runtime, worker, verify, db):
        threads, per = (8, 40) if runtime.engine.dialect.name == "postgresql" else (4, 10)
        errors: list[BaseException] = []
        stop = threading.Event()
        chainer = threading.Thread(target=_chainer, args=(worker, stop, errors))
        chainer.start()
        writers = [
            threading.Thread(target=_writer, args=(runtime, per, errors)) for _ in range(threads)
        ]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        chainer.join()
        assert not errors, errors
        result = verify()
        assert result.ok, result.first_bad
        assert result.checked == threads * per
        seqs = [r[0] for r in db.rows("SELECT seq FROM audit_log ORDER BY seq")]
        assert seqs == list(range(1, threads * per + 1))
        if runtime.engine.dialect.name == "postgresql":
            # the case that breaks chaining by id: a lower id linked after a higher one
            pairs = db.scalar(
                "SELECT COUNT(*) FROM audit_log a JOIN audit_log b ON a.id < b.id AND a.seq > b.seq"
            )
            assert pairs > 0

    def test_parallel_api_requests_keep_a_valid_chain(self, client, admin, runtime, verify, db):
        setup_customers(client, admin)
        app = app_headers(client, admin, FULL_APP_SCOPES)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(10):
                    r = client.post(
                        "/v1/subjects", headers=app, json={"external_id": uuid.uuid4().hex}
                    )
                    assert r.status_code == 201, r.text
                    client.app.state.audit_worker.chain()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        result = verify()
        assert result.ok, result.first_bad
        assert db.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'subject.create'") == 60
        assert result.checked == db.scalar("SELECT COUNT(*) FROM audit_log WHERE seq IS NOT NULL")
