"""A server restarted with an import queued or running, and a job whose file vanished.

On SQLite (the laptop mode) the server runs imports itself: killed mid-import, it stored
nothing, and started again it runs the job to the end. On PostgreSQL the job waits in the
queue while the server is down and a worker runs it; the restarted server shows the result.
"""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from job_support import (
    SMALL_EXPORT,
    add_account,
    add_person,
    enqueue,
    job_of,
    open_pod,
    reading,
    saved_job,
    stored,
    upload,
    wait_for,
)

from healthpod.jobs import runner, state
from smart_support import PASSWORD, login_with_form


def _job_id(location: str) -> str:
    found = re.fullmatch(r"/import/jobs/([0-9a-f]{32})", location)
    assert found, location
    return found.group(1)


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_an_import_survives_a_server_restart(engine_name, request, big_export):
    processes = request.getfixturevalue(
        {"sqlite": "sqlite_processes"}.get(engine_name, "pg_processes")
    )
    pod = open_pod(processes)
    anna = add_account(processes, "anna")
    server, url = processes.serve()
    with httpx.Client(base_url=url, follow_redirects=False) as client:
        login_with_form(client, "anna", PASSWORD)
        job = state.load(pod.settings.home, _job_id(upload(client, big_export)))
    assert job is not None and job.person_id == anna
    if engine_name == "sqlite":
        wait_for(lambda: reading(pod, job), timeout=60, what="the server to start reading")
    processes.kill(server)  # mid-import on SQLite; with the job queued on PostgreSQL
    assert stored(processes, anna) == (0, 0)
    assert not job_of(pod, job).finished

    _server, url = processes.serve()
    if engine_name == "postgresql":
        processes.worker()
    wait_for(lambda: job_of(pod, job).finished, timeout=240, what="the job to finish")
    assert job_of(pod, job).files[0].status == "completed", job_of(pod, job).files[0].error
    imports, samples = stored(processes, anna)
    assert imports == 1 and samples > 150_000
    with httpx.Client(base_url=url, follow_redirects=False) as client:
        login_with_form(client, "anna", PASSWORD)
        page = client.get(f"/import/jobs/{job.id}", headers={"hx-request": "true"})
    assert 'data-finished="yes"' in page.text and 'data-status="completed"' in page.text
    pod.close()


def test_a_job_whose_file_vanished_fails_with_a_message_and_stores_nothing(pod, caplog):
    anna = pod.person_id("Anna")
    job = saved_job(pod, anna, SMALL_EXPORT)
    (pod.settings.home / "uploads" / job.id / job.files[0].path).unlink()
    with caplog.at_level(logging.WARNING, logger="healthpod.jobs.runner"):
        done = runner.run_job(pod, job.id)
    assert done.finished and done.files[0].status == "failed"
    assert done.files[0].error == runner.VANISHED.format(name=SMALL_EXPORT.name)
    assert done.files[0].hint == runner.VANISHED_HINT
    assert done.files[0].code == "gone"  # the page says it in the person's language
    assert "import job file vanished" in caplog.text
    assert stored(pod, anna) == (0, 0)


def test_a_worker_fails_a_job_whose_file_vanished(pg_processes):
    processes = pg_processes
    pod = open_pod(processes)
    anna = add_person(processes, "Anna")
    job = enqueue(pod, anna, SMALL_EXPORT)
    (pod.settings.home / "uploads" / job.id / job.files[0].path).unlink()
    processes.worker()
    wait_for(lambda: job_of(pod, job).finished, timeout=60, what="the job to finish")
    assert "is no longer on the server" in (job_of(pod, job).files[0].error or "")
    assert "import job file vanished" in processes.log()
    assert stored(processes, anna) == (0, 0)
    pod.close()


def test_another_persons_job_page_is_not_found(pod):
    anna, bo = pod.person_id("Anna"), pod.person_id("Bo")
    job = saved_job(pod, anna, SMALL_EXPORT)
    assert state.load_for(pod.settings.home, job.id, bo) is None
    assert state.load_for(pod.settings.home, "../" + job.id, anna) is None
    assert state.load_for(pod.settings.home, job.id, anna) is not None


def test_a_worker_on_sqlite_says_it_needs_postgresql(tmp_path, sqlite_url):
    from click.testing import CliRunner

    from healthpod.cli import cli

    result = CliRunner().invoke(
        cli, ["--home", str(tmp_path), "--database-url", sqlite_url, "worker"]
    )
    assert result.exit_code == 2
    assert "needs a PostgreSQL database" in result.output
    assert "Traceback" not in result.output


def test_workers_chosen_on_sqlite_is_refused_at_start(sqlite_processes):
    processes = sqlite_processes
    from healthpod.errors import ConfigError
    from healthpod.jobs.queue import open_queue

    pod = open_pod(processes)
    with pytest.raises(ConfigError, match="HEALTHPOD_JOBS=workers needs a PostgreSQL"):
        open_queue(pod, "workers")
    pod.close()
