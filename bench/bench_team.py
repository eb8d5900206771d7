"""The cost of the team backend: Pulumi's S3 backend (moto's S3 server on loopback) against the
in-repo file backend, in one run.

- Merge to deployed on S3 vs file: the merge-to-deployed repo of bench_engine (E independent envs
  of A `local` apps), cloned afresh and deployed once to a new bucket; then each round merges a PR
  touching all E stacks into each world and times `deployctl up --base --head` there. Each run must
  print `ok` with one update for every stack. ratio = S3 / file.
- A lock taken and released: Pulumi's protocol for a self-managed backend (pkg/backend/diy/lock.go:
  list the stack's lock folder, write the lock file, list again; delete it), through the same store
  deployctl reads locks with, on the S3 server and on a file backend. Loopback: real S3 adds about
  four network round trips to it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench import Figure, Options, log
from bench.bench_engine import (
    FULL,
    QUICK,
    MergeWorld,
    Sizes,
    interleave,
    merge_repo,
    merge_to_deployed,
    merge_vs_bare,
    only_touched,
    warm_cache,
)
from bench.generate import AppRepos, app_repos, bench_dir, git
from deployctl.adapters.pulumi.backend import FileStore, S3Store, Store
from deployctl.adapters.pulumi.locks import read_locks
from deployctl.adapters.pulumi.s3objects import BotoObjects

LOCK_ROUNDS = 50


def take_and_release(store: Store, env: str) -> float:
    """One lock as Pulumi takes it (list, write, list) and releases it (delete); seconds."""
    key = f".pulumi/locks/organization/deploys/{env}/{uuid.uuid4().hex}.json"
    body = json.dumps({"pid": 1, "username": "bench", "hostname": "bench", "timestamp": "2026-11-27T00:00:00Z"})
    start = time.perf_counter()
    read_locks(store, "deploys", env)
    store.write(key, body.encode())
    held = read_locks(store, "deploys", env)
    store.delete(key)
    elapsed = time.perf_counter() - start
    if [lock.key for lock in held] != [key]:
        raise RuntimeError(f"expected exactly our lock, found {held}")
    return elapsed


def lock_figure(server_endpoint: str, bucket: str, client: object, tmp: Path) -> Figure:
    s3 = S3Store(BotoObjects(client), bucket, "state")
    files = FileStore(tmp / "file-backend")
    times: dict[str, list[float]] = {"s3": [], "file": []}
    for i in range(LOCK_ROUNDS):
        for name, store in ((("s3", s3), ("file", files)) if i % 2 else (("file", files), ("s3", s3))):
            times[name].append(take_and_release(store, "env-00"))
    s3_t, file_t = statistics.median(times["s3"]), statistics.median(times["file"])
    return Figure("lock take + release (list, put, list; delete): S3 / file", s3_t, file_t, "file backend",
                  note=f"median of {LOCK_ROUNDS}; S3 = moto on loopback ({server_endpoint})")


@contextlib.contextmanager
def s3_worlds(s: Sizes, repos: AppRepos) -> Iterator[tuple[MergeWorld, MergeWorld, str, Figure]]:
    """moto's S3 server on loopback, and the merge-to-deployed repo twice: on the file backend, and
    cloned afresh and deployed once to a new bucket there; (file world, S3 world, region, lock figure)."""
    from tests.awsserver import CREDENTIALS, REGION, AwsServer, start_server

    tmp = bench_dir() / "team"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    proc, server = start_server(tmp / "moto.log")
    try:
        assert isinstance(server, AwsServer)
        bucket = server.new_bucket("bench-state")
        s3_env = {**CREDENTIALS, "AWS_ENDPOINT_URL": server.endpoint, "PULUMI_BACKEND_URL": server.backend_url(bucket)}
        lock = lock_figure(server.endpoint, bucket, server.client("s3"), tmp)
        log(f"  lock: {lock.ours * 1000:.1f} ms on S3, {lock.floor * 1000:.1f} ms on file")  # type: ignore[operator]  # both set on S3

        source = merge_repo(s.merge_envs, s.merge_apps, repos)
        file_world = MergeWorld(source, repos, s.merge_envs, s.merge_apps)
        clone = bench_dir() / "team-deploy-s3"  # beside the app repos, which the catalog names relatively
        shutil.rmtree(clone, ignore_errors=True)
        git("clone", "--quiet", str(file_world.root), str(clone), cwd=tmp)
        s3_source = type(source).from_json({**source.to_json(), "path": str(clone)})
        start = time.perf_counter()
        s3_world = MergeWorld(s3_source, repos, s.merge_envs, s.merge_apps, env=s3_env)
        log(f"  S3 world: {s.merge_envs} stacks deployed to a new bucket in {time.perf_counter() - start:.1f} s")
        yield file_world, s3_world, REGION, lock
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(opts: Options) -> list[Figure]:
    s = QUICK if opts.quick else FULL
    repos = app_repos(s.app_commits, s.app_repos, log)
    warm_cache(repos)
    with s3_worlds(s, repos) as (file_world, s3_world, region, lock):
        figures = [merge_to_deployed(merge_vs_bare(s3_world, opts.close_runs), s, "S3", opts.close_runs), lock]
        every = list(file_world.envs)
        t = interleave({
            "file": (lambda: file_world.merge(every), file_world.up(None), only_touched),
            "s3": (lambda: s3_world.merge(every), s3_world.up(None), only_touched),
        }, min(opts.runs, s.merge_runs))
        e = s.merge_envs
        figures.insert(0, Figure(f"deployctl up, {e}-stack merge: S3 backend / file backend", t["s3"], t["file"],
                                 "file backend", note=f"{s.merge_apps} local apps per stack, region {region}, "
                                 "all stacks ran, one update each (checked)"))
        return figures

if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(modules=("bench.bench_team",)))
