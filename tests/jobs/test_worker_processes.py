"""`healthpod worker` processes on PostgreSQL: killed mid-import, restarted servers, fairness.

Each test runs real subprocesses over its own PostgreSQL clone and a 200,000-record export from
the bench generator (several seconds to import), and reads the database and the job records
as the person's import page does.
"""

from __future__ import annotations

from job_support import (
    SMALL_EXPORT,
    add_person,
    enqueue,
    job_of,
    open_pod,
    reading,
    stored,
    wait_for,
)
from sqlalchemy import text


def _queue_rows(pod):
    with pod.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT j.status, j.attempts,"
                " (SELECT count(*) FROM procrastinate_events e"
                "  WHERE e.job_id = j.id AND e.type = 'started')"
                " FROM procrastinate_jobs j ORDER BY j.id"
            )
        ).all()


def test_a_worker_killed_mid_import_stores_nothing_and_the_job_runs_once_more(
    pg_processes, big_export
):
    processes = pg_processes
    pod = open_pod(processes)
    anna = add_person(processes, "Anna")
    job = enqueue(pod, anna, big_export)
    first = processes.worker()
    wait_for(lambda: reading(pod, job), timeout=60, what="the worker to start reading")
    processes.kill(first)

    assert stored(processes, anna) == (0, 0), "a killed import left rows behind"
    assert [row[0] for row in _queue_rows(pod)] == ["doing"]  # its worker is gone

    processes.worker()
    wait_for(lambda: job_of(pod, job).finished, timeout=180, what="the job to finish")
    done = job_of(pod, job)
    assert done.files[0].status == "completed", done.files[0].error
    assert done.attempts == 2
    imports, samples = stored(processes, anna)
    assert imports == 1  # one completed import, no failed one
    # Everything it holds was added by this one import: nothing was there before it.
    assert done.files[0].already_present == 0
    assert samples > 150_000
    wait_for(lambda: _queue_rows(pod)[0][0] == "succeeded", timeout=10, what="the queue row")
    # Two attempts (the killed one and the one that finished), each started once.
    assert _queue_rows(pod) == [("succeeded", 2, 2)]
    assert "stalled import job back on the queue" in processes.log()
    assert not (pod.settings.home / "uploads" / job.id / "000").exists()  # the upload is gone
    pod.close()


def test_one_persons_big_import_does_not_hold_up_anothers_small_ones(pg_processes, big_export):
    processes = pg_processes
    pod = open_pod(processes)
    anna, bo = add_person(processes, "Anna"), add_person(processes, "Bo")
    big = [enqueue(pod, anna, big_export), enqueue(pod, anna, big_export)]
    small = [enqueue(pod, bo, SMALL_EXPORT) for _ in range(3)]
    processes.worker("--concurrency", "2")

    wait_for(lambda: all(job_of(pod, j).finished for j in small), timeout=120, what="Bo's imports")
    # Anna's first import is still running, her second waits for it (one at a time per
    # person), and none of Bo's waited for either.
    assert not job_of(pod, big[0]).finished
    assert job_of(pod, big[1]).files[0].status == "waiting"
    assert all(job_of(pod, j).files[0].status == "completed" for j in small)
    wait_for(lambda: all(job_of(pod, j).finished for j in big), timeout=300, what="Anna's imports")
    assert [job_of(pod, j).files[0].status for j in big] == ["completed", "completed"]
    pod.close()


def test_a_job_that_stopped_its_worker_three_times_is_given_up_with_a_message(pg_processes):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from healthpod.jobs.worker import MAX_ATTEMPTS, make_app, recover_stalled

    processes = pg_processes
    pod = open_pod(processes)
    job = enqueue(pod, add_person(processes, "Anna"), SMALL_EXPORT)
    # As the queue holds it after two workers died running it and a third is gone too.
    with pod.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL,"
                " attempts = :attempts"
            ),
            {"attempts": MAX_ATTEMPTS - 1},
        )
    app = make_app(pod)

    async def check() -> int:
        async with app.open_async():
            return await recover_stalled(app, pod, stalled_after=1)

    with ThreadPoolExecutor(1) as thread:  # an event loop of its own
        assert thread.submit(asyncio.run, check()).result() == 1
    assert _queue_rows(pod)[0][0] == "failed"
    given_up = job_of(pod, job)
    assert given_up.finished and given_up.files[0].status == "failed"
    assert f"stopped {MAX_ATTEMPTS} times" in (given_up.files[0].error or "")
    pod.close()
